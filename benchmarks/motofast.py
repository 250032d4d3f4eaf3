"""Two speed-ups of moto's DynamoDB for large tables (speed only: same calls, same answers).

* moto 5.2 serializes every response through botocore's output shapes, which
  takes seconds for a 500-item Query page of ledger records. Item-carrying
  DynamoDB responses are plain JSON of DynamoDB's typed attribute values, so
  they are written with `json.dumps` instead.
* A Query sorts every item of the table, then of the partition (or index
  shard), comparing moto's typed values; the same order is had by sorting on
  the plain values (strings in code-point order, which is UTF-8 byte order;
  numbers as decimals).

The benchmarks count calls, not moto's speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

FAST_OPERATIONS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem", "PutItem"})


def _plain(value: Any) -> Any:
    return Decimal(value.value) if value.type == "N" else value.value


def _execute_result(original: Any) -> Any:
    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in FAST_OPERATIONS:
            return original(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)

    return execute_result


def _sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]) -> Any:
    attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    items.sort(key=lambda item: tuple(_plain(item.attrs[name]) for name in attrs))
    return items


def _all_items(self: Any) -> list[Any]:
    items: list[Any] = []
    for hash_set in self.items.values():
        if self.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)
    return sorted(items, key=lambda x: (_plain(x.hash_key), _plain(x.range_key)) if x.range_key else _plain(x.hash_key))


@contextmanager
def faster_moto() -> Iterator[None]:
    """moto's DynamoDB patched for the duration (other tests in the same process see moto as it is)."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    saved = (DynamoResult.execute_result, Table.sorted_items, Table.all_items)
    DynamoResult.execute_result = _execute_result(saved[0])  # type: ignore[method-assign]
    Table.sorted_items = _sorted_items  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoResult.execute_result, Table.sorted_items, Table.all_items = saved  # type: ignore[method-assign]
