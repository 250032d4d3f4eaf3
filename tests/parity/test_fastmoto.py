"""The tests' speed shim (tests/fastmoto.py) changes no byte moto answers with.

Every DynamoDB and DynamoDB Streams response of a whole life (writes with tags, consent changes, a
reopen, holds, a deletion, an erasure, sweeps; then every kind of attribute value, binary included,
through every item-returning operation) is serialized twice, by moto's own walk and with the shim,
and the two bodies must be the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import fastmoto
import pytest
from moto.core.responses import ActionResult

from consentry.local import LocalRuntime

SERVICES = ("dynamodb", "dynamodbstreams")
T0 = datetime(2025, 10, 1, tzinfo=UTC)


class Compared:
    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.shortened: Counter[str] = Counter()  # responses where the shim skipped moto's walk
        self.different: list[str] = []


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Compared]:
    found = Compared()
    execute = ActionResult.execute_result

    def both_ways(self: ActionResult, context: Any) -> Any:
        if context.service_model.service_name not in SERVICES:
            return execute(self, context)
        fastmoto.uninstall()
        slow = execute(self, context)
        fastmoto.install()
        skipped = Counter[str]()
        walk = fastmoto._serialize_type_structure

        def counting(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
            if fastmoto.as_is(value, shape, key):
                skipped["values"] += 1
            walk(serializer, serialized, value, shape, key)

        monkeypatch.setattr(fastmoto.BaseJSONSerializer, "_serialize_type_structure", counting)
        fast = execute(self, context)
        fastmoto.install()
        operation = context.operation_model.name
        found.operations[operation] += 1
        found.shortened[operation] += skipped["values"] > 0
        if fast != slow:
            found.different.append(f"{operation}: {slow} != {fast}")
        return fast

    monkeypatch.setattr(ActionResult, "execute_result", both_ways)
    yield found
    fastmoto.install()


def test_the_shim_answers_every_dynamodb_call_of_a_whole_life_as_moto_does(
    runtime: LocalRuntime, compared: Compared
) -> None:
    user, keys = "ava", [f"chats/ava/c{i}.json" for i in range(3)]
    runtime.set_consent(user, T0, answer="granted", tier="pro")
    for i, key in enumerate(keys):
        runtime.put_chat(key, at=T0 + timedelta(hours=i), tags={"team": "x"} if i else None)
    runtime.settle()
    runtime.chat_event("Legal Hold Placed", {"user_id": user, "key": keys[0]}, T0 + timedelta(days=1))
    runtime.set_consent(user, T0 + timedelta(days=2), answer="denied")
    runtime.chat_event("Chat Reopened", {"user_id": user, "key": keys[1]}, T0 + timedelta(days=3))
    runtime.chat_event("Chat Deleted", {"user_id": user, "key": keys[2]}, T0 + timedelta(days=4))
    runtime.settle()
    runtime.sweep(T0 + timedelta(days=5))
    runtime.chat_event("Legal Hold Released", {"user_id": user, "key": keys[0]}, T0 + timedelta(days=6))
    runtime.chat_event("Erasure Requested", {"user_id": user}, T0 + timedelta(days=7))
    runtime.settle()
    runtime.sweep(T0 + timedelta(days=400))
    runtime.settle()
    every_kind_of_value(runtime.env["LEDGER_TABLE"])

    assert compared.different == []
    # The life went through the item-returning operations, and the shim took the short way in them.
    assert {"GetItem", "Query", "UpdateItem", "BatchGetItem", "GetRecords"} <= set(compared.operations)
    assert {op for op, n in compared.shortened.items() if n} >= {"GetItem", "Query", "GetRecords", "Scan"}


def every_kind_of_value(table: str) -> None:
    """Every type of attribute value, the binary ones (base64 on the wire) too, nested, through every read."""
    items = boto3.resource("dynamodb").Table(table)
    value = {
        "s": "x",
        "n": Decimal("1.5"),
        "b": b"\x00\xff",
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal(2)},
        "bs": {b"a", b"b"},
        "m": {"inner": {"deep": [1, "two", None, True, b"z"]}},
        "l": [None, False, {"k": "v"}],
        "null": None,
        "bool": True,
    }
    items.put_item(Item={"pk": "probe#1", "sk": "a", **value})
    items.put_item(Item={"pk": "probe#1", "sk": "b", "s": "y"})
    items.get_item(Key={"pk": "probe#1", "sk": "a"})
    items.update_item(
        Key={"pk": "probe#1", "sk": "a"}, UpdateExpression="SET s = :s", ExpressionAttributeValues={":s": "z"},
        ReturnValues="ALL_NEW",
    )  # fmt: skip
    items.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "probe#1"})
    items.scan(Limit=50)
    boto3.resource("dynamodb").batch_get_item(RequestItems={table: {"Keys": [{"pk": "probe#1", "sk": "a"}]}})
    items.delete_item(Key={"pk": "probe#1", "sk": "a"}, ReturnValues="ALL_OLD")
