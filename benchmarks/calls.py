"""Counting API calls through botocore's event hooks, and the capacity units they consume.

`CallCounter.attach(client)` registers `before-call` and `after-call` hooks on
a boto3 client: every API call the client makes is recorded as a `Call`
(service, operation, table). DynamoDB calls also carry the request and write
units they would consume on an on-demand table, computed from item sizes by
DynamoDB's rules (reads: 4 KB units, strongly consistent 1 RRU, eventually
consistent 0.5; writes: 1 KB units), including the writes to the `due` global
secondary index, which DynamoDB bills as extra write units.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from consentry.service.aws.ledger_schema import DUE_SHARD, EXPIRES_AT, PK, SK

S3_WRITES = frozenset(
    {"PutObjectTagging", "PutObject", "CopyObject", "DeleteObjects", "DeleteObject", "PutObjectLegalHold"}
)
# Request classes of S3 pricing: PUT, COPY, POST, LIST are one class; GET, HEAD and the rest the other.
# DELETE is free, but DeleteObjects is a POST: counted in the PUT class here (conservative).
S3_PUT_CLASS = frozenset(
    {
        "PutObjectTagging",
        "PutObject",
        "CopyObject",
        "DeleteObjects",
        "PutObjectLegalHold",
        "ListObjectsV2",
        "ListObjects",
        "ListObjectVersions",
    }
)
S3_FREE = frozenset({"DeleteObject"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
DYNAMODB_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@dataclass
class Call:
    service: str  # botocore's service id, lower case: s3, dynamodb, sqs
    op: str
    table: str | None = None  # DynamoDB: the table (BatchGetItem: the first table of the request)
    keys: int = 0  # DynamoDB: keys asked for (BatchGetItem) or items returned (Query)
    items: int = 0  # DynamoDB reads: items returned (GetItem, BatchGetItem, Query, Scan)
    rru: float = 0.0
    wru: float = 0.0  # base table
    gsi_wru: float = 0.0

    @property
    def s3_write(self) -> bool:
        return self.service == "s3" and self.op in S3_WRITES


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one DynamoDB attribute value (typed JSON), by DynamoDB's item-size rules."""
    ((kind, v),) = value.items()
    if kind in ("S", "B"):
        return len(v.encode()) if isinstance(v, str) else len(v)
    if kind == "N":
        digits = len(str(v).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(e) for k, e in v.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: e}) for e in v)
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _gsi_key(item: Mapping[str, Any]) -> tuple[str, str] | None:
    if DUE_SHARD in item and EXPIRES_AT in item:
        return (item[DUE_SHARD]["S"], item[EXPIRES_AT]["S"])
    return None


INDEX_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each index entry (and to each table item) for storage and units


def index_entry_size(item: Mapping[str, Any]) -> int:
    """Bytes of the item's `due` index entry: projection KEYS_ONLY (consentry.service.aws.ledger_schema.DUE_PROJECTION).

    The table's keys and the index's keys, plus DynamoDB's 100 bytes of overhead per index entry.
    """
    keys = {name: item[name] for name in (PK, SK, DUE_SHARD, EXPIRES_AT) if name in item}
    return item_size(keys) + INDEX_ITEM_OVERHEAD


@dataclass
class Tally:
    """The calls of one measured stretch, with the sums the budgets and the cost model use."""

    calls: list[Call] = field(default_factory=list)

    def ops(self) -> Counter[str]:
        return Counter(f"{c.service}:{c.op}" for c in self.calls)

    def count(self, service: str | None = None, op: str | None = None, table: str | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (service is None or c.service == service)
            and (op is None or c.op == op)
            and (table is None or c.table == table)
        )

    @property
    def s3(self) -> int:
        return self.count("s3")

    @property
    def s3_writes(self) -> int:
        return sum(1 for c in self.calls if c.s3_write)

    @property
    def s3_put_class(self) -> int:
        return sum(1 for c in self.calls if c.service == "s3" and c.op in S3_PUT_CLASS)

    @property
    def s3_get_class(self) -> int:
        return sum(1 for c in self.calls if c.service == "s3" and c.op not in S3_PUT_CLASS and c.op not in S3_FREE)

    def dynamodb_writes(self, table: str | None = None) -> int:
        return sum(
            1 for c in self.calls if c.service == "dynamodb" and c.op in DYNAMODB_WRITES and table in (None, c.table)
        )

    def dynamodb_reads(self, table: str | None = None) -> int:
        return sum(
            1 for c in self.calls if c.service == "dynamodb" and c.op in DYNAMODB_READS and table in (None, c.table)
        )

    @property
    def items_read(self) -> int:
        """DynamoDB items returned by reads (a GetItem that finds nothing reads no item, though it costs a unit)."""
        return sum(c.items for c in self.calls if c.service == "dynamodb")

    @property
    def dynamodb(self) -> int:
        return self.count("dynamodb")

    @property
    def sqs(self) -> int:
        return self.count("sqs")

    @property
    def rru(self) -> float:
        return sum(c.rru for c in self.calls)

    @property
    def wru(self) -> float:
        """Write units, base table and `due` index."""
        return sum(c.wru + c.gsi_wru for c in self.calls)

    @property
    def gsi_wru(self) -> float:
        return sum(c.gsi_wru for c in self.calls)

    @property
    def total(self) -> int:
        return len(self.calls)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.calls + other.calls)


class CallCounter:
    """Records every call of the clients it is attached to.

    It remembers the `due` index key of each ledger item it has seen read or
    written (bounded by `remember`), to price the index writes of a PutItem as
    DynamoDB does for a keys-only index: an insert when the item enters the
    index, a delete when it leaves, both when its index key changes, and
    nothing when only attributes outside the projection change. Each index
    write is sized by the index entry (keys and overhead), not the item.
    """

    def __init__(self, remember: int = 200_000) -> None:
        self.calls: list[Call] = []
        self._seen: dict[tuple[str, str, str], tuple[tuple[str, str] | None, int]] = {}
        self._remember = remember

    def attach(self, *clients: Any) -> CallCounter:
        for client in clients:
            # Fired once per API call with the caller's parameters (before-call sees the wire format).
            client.meta.events.register("before-parameter-build.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)
        return self

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> Tally:
        return Tally(self.calls[mark:])

    @contextmanager
    def measure(self) -> Iterator[Tally]:
        """`with counter.measure() as tally:` the tally holds the calls made inside."""
        tally = Tally()
        start = self.mark()
        try:
            yield tally
        finally:
            tally.calls.extend(self.calls[start:])

    def forget(self) -> None:
        self.calls.clear()

    # -- hooks ----------------------------------------------------------------

    def _before(
        self, event_name: str, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        service = event_name.split(".")[1]
        call = Call(service=service, op=model.name)
        if service == "dynamodb":
            self._dynamodb_request(call, params)
        context["bench_call"] = call
        context["bench_params"] = params
        self.calls.append(call)

    def _after(self, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("bench_call")
        if call is None or call.service != "dynamodb":
            return
        params = context.get("bench_params", {})
        if call.op == "UpdateItem" and parsed.get("Attributes"):
            # Billed on the item's size (the larger of before and after: the claim changes two small fields).
            call.wru = _write_units(item_size(parsed["Attributes"]))
        if call.op == "GetItem":
            item = parsed.get("Item")
            call.rru = _read_units(item_size(item) if item else 0, bool(params.get("ConsistentRead")))
            call.items = 1 if item else 0
            if item:
                self._remember_item(call.table, item)
        elif call.op == "BatchGetItem":
            for table, spec in params.get("RequestItems", {}).items():
                found = parsed.get("Responses", {}).get(table, [])
                consistent = bool(spec.get("ConsistentRead"))
                missing = len(spec.get("Keys", [])) - len(found)
                call.rru += sum(_read_units(item_size(i), consistent) for i in found)
                call.rru += missing * _read_units(0, consistent)
                call.items += len(found)
                for item in found:
                    self._remember_item(table, item)
        elif call.op in ("Query", "Scan"):
            items = parsed.get("Items", [])
            call.keys = call.items = len(items)
            size = sum(item_size(i) for i in items)
            call.rru = _read_units(size, bool(params.get("ConsistentRead")))
            if not params.get("IndexName"):
                for item in items:
                    self._remember_item(call.table, item)

    def _dynamodb_request(self, call: Call, params: Mapping[str, Any]) -> None:
        call.table = params.get("TableName")
        if call.op == "BatchGetItem":
            request = params.get("RequestItems", {})
            call.table = next(iter(request), None)
            call.keys = sum(len(spec.get("Keys", [])) for spec in request.values())
        elif call.op == "PutItem":
            item = params["Item"]
            size = item_size(item)
            call.wru = _write_units(size)
            call.gsi_wru = self._gsi_write_units(call.table, item, size)
            self._remember_item(call.table, item)
        elif call.op == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                call.table = table
                for request in requests:
                    item = request.get("PutRequest", {}).get("Item")
                    if item is not None:
                        size = item_size(item)
                        call.wru += _write_units(size)
                        call.gsi_wru += self._gsi_write_units(table, item, size)
                    else:
                        call.wru += 1
        elif call.op in ("UpdateItem", "DeleteItem"):
            call.wru = 1  # small items (erasure bookkeeping); a returned item resizes it after the call

    def _gsi_write_units(self, table: str | None, item: Mapping[str, Any], size: int) -> float:
        if PK not in item or SK not in item:
            return 0.0
        old = self._seen.get((table or "", item[PK]["S"], item[SK]["S"]))
        new_key = _gsi_key(item)
        old_key, old_size = old if old else (None, 0)
        if old_key == new_key:
            return 0.0  # nothing projected changed (keys only): no index write
        units = 0
        if old_key is not None:
            units += _write_units(old_size)  # delete from the index
        if new_key is not None:
            units += _write_units(index_entry_size(item))  # insert into the index
        return float(units)

    def _remember_item(self, table: str | None, item: Mapping[str, Any]) -> None:
        if PK not in item or SK not in item:
            return
        if len(self._seen) >= self._remember:
            self._seen.clear()
        self._seen[(table or "", item[PK]["S"], item[SK]["S"])] = (_gsi_key(item), index_entry_size(item))


def total_units(tallies: Iterable[Tally]) -> tuple[float, float]:
    rru = sum(t.rru for t in tallies)
    wru = sum(t.wru for t in tallies)
    return rru, wru


__all__ = ["Call", "CallCounter", "Tally", "attribute_size", "item_size"]
