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
import botocore.endpoint_provider
import fastmoto
import pytest
from moto import mock_aws
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


# -- the botocore half: clients made with less work, the same requests --------------------------

# Headers that differ between any two requests, shim or none: the signature, its time, the call's id.
PER_REQUEST = frozenset({"authorization", "x-amz-date", "amz-sdk-invocation-id", "amz-sdk-request"})


def _calls(client: Any) -> list[Any]:
    """What `client` sends for the calls below: method, URL, headers, body (each as botocore signed it)."""
    sent: list[Any] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in PER_REQUEST}
        # The user agent's feature ids (`m/E,U,b`) are a set, listed in any order.
        headers["user-agent"] = b" ".join(
            b"m/" + b",".join(sorted(part[2:].split(b","))) if part.startswith(b"m/") else part
            for part in headers["user-agent"].split()
        )
        body = request.body if isinstance(request.body, bytes | str | None) else type(request.body).__name__
        sent.append((request.method, request.url, sorted(headers.items()), body))

    client.meta.events.register_first("before-send", record)
    return sent


def _a_few_calls(session: boto3.session.Session, name: str) -> tuple[list[Any], list[str], Any]:
    """A client of each kind the code uses, their calls sent, their operations and emitted event names."""
    clients: dict[str, Any] = {
        service: session.client(service) for service in ("s3", "sqs", "dynamodb", "secretsmanager", "iam")
    }
    sent = {service: _calls(client) for service, client in clients.items()}
    s3, sqs, dynamodb = clients["s3"], clients["sqs"], clients["dynamodb"]
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket=name, Key="chats/u1/c1.json", Body=b"{}", Tagging="a=b")
    s3.head_object(Bucket=name, Key="chats/u1/c1.json")
    s3.list_object_versions(Bucket=name, Prefix="chats/")
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "chats/u1/c1.json"}]})
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}])
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )  # fmt: skip
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    dynamodb.get_item(TableName=name, Key={"pk": {"S": "a"}})
    clients["secretsmanager"].list_secrets()
    clients["iam"].list_users()
    operations = sorted(f"{service}.{op}" for service, c in clients.items() for op in c.meta.method_to_api_mapping)
    events = [c.meta.events._alias_event_name(f"before-call.{c.meta.service_model.service_id.hyphenize()}.X")
              for c in clients.values()]  # fmt: skip
    return [call for calls in sent.values() for call in calls], operations, events


def test_the_clients_of_the_botocore_shims_send_the_same_requests() -> None:
    """With the shims (installed by the conftest) and without them, the same calls send the same bytes,
    each way on a moto of its own."""
    assert botocore.endpoint_provider.EndpointProvider.__init__ is fastmoto._provider
    session = boto3.session.Session()
    with mock_aws():
        fast = _a_few_calls(session, "shimmed")
    # In effect: every rule set and every set of methods was made once, and is held for the next client.
    assert len(fastmoto.RULE_SETS) >= 5 and len(fastmoto.METHODS) >= 5
    first: Any = session.client("s3")
    again: Any = session.client("s3")
    assert again._ruleset_resolver._provider.ruleset is first._ruleset_resolver._provider.ruleset
    assert again._ruleset_resolver._provider is not first._ruleset_resolver._provider  # its own endpoint cache
    assert again.put_object.__func__ is first.put_object.__func__ and type(again) is not type(first)
    emitter: Any = session._session.get_component("event_emitter")
    assert again.meta.events._alias_name_cache is emitter._alias_name_cache is fastmoto.ALIASED
    fastmoto.uninstall()
    try:
        with mock_aws():
            slow = _a_few_calls(boto3.session.Session(), "shimmed")
    finally:
        fastmoto.install()
    (fast_sent, fast_operations, fast_events), (slow_sent, slow_operations, slow_events) = fast, slow
    assert len(fast_sent) == 12
    assert fast_sent == slow_sent
    assert fast_operations == slow_operations
    assert fast_events == slow_events
