"""Idempotency: every handler, every event, delivered twice: the same state, and no second write.

The second delivery is the very same Lambda event (same message, same stream
record, same EventBridge event id), as at-least-once delivery makes it. State
is everything S3 and both tables hold (tags, versions, legal holds, every
ledger item with its revision); writes are the successful state-changing calls
(harness.WRITE_OPERATIONS) the handlers make, counted through botocore hooks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest

from consentry.local import LambdaContext, sqs_record
from consentry.service import handlers
from consentry.service.aws.dynamo import from_item

from .figures import FIGURES
from .harness import WRITE_OPERATIONS, Deployment, SqsMessage, WriteCounter, eventbridge_event

U = "u1"
KEY = "chats/u1/c1.json"
OTHER = "code-sessions/u1/s1.jsonl"
GRANT = {
    "user_id": U,
    "tier": "pro",
    "training_consent": "granted",
    "consent_changed_at": "2025-09-01T00:00:00Z",
    "version": 1,
}
WRITTEN = datetime(2025, 10, 1, tzinfo=UTC)
STATE_WRITES = WRITE_OPERATIONS - {"SendMessage", "SendMessageBatch"}  # what S3 and the tables hold


def state(d: Deployment) -> dict[str, Any]:
    """Everything the deployment holds that a handler may change."""
    objects: dict[str, Any] = {}
    for page in d.s3.get_paginator("list_object_versions").paginate(Bucket=d.bucket):
        for v in page.get("Versions", []):
            hold = d.s3.get_object_legal_hold(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
            tagging = d.s3.get_object_tagging(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
            objects[f"{v['Key']}@{v['VersionId']}"] = (
                hold.get("LegalHold", {}).get("Status", "OFF"),
                sorted((t["Key"], t["Value"]) for t in tagging["TagSet"]),
            )
        for v in page.get("DeleteMarkers", []):
            objects[f"{v['Key']}@{v['VersionId']}"] = "delete-marker"
    tables = {}
    for table in (d.env["LEDGER_TABLE"], d.env["CONSENT_TABLE"]):
        items = d.ddb.scan(TableName=table, ConsistentRead=True).get("Items", [])
        tables[table] = sorted(json.dumps(from_item(i), sort_keys=True, default=str) for i in items)
    return {"objects": objects, "tables": tables}


@pytest.fixture
def world(deployment: Deployment) -> Deployment:
    """A granted user with a chat and a coding session, settled; an expired chat of a pending user."""
    d = deployment
    d.put_consent(GRANT)
    d.put_chat(KEY, WRITTEN)
    d.put_chat(OTHER, WRITTEN + timedelta(hours=1))
    d.put_chat("chats/u9/old.json", WRITTEN - timedelta(days=10))
    d.settle()
    return d


def twice(
    d: Deployment, writes: WriteCounter, deliver: Callable[[], Any], settle: bool = True
) -> tuple[dict[str, Any], Any]:
    FIGURES.redeliveries += 1
    deliver()
    if settle:
        d.settle()
    first = state(d)
    with writes.measure() as second:
        deliver()
        if settle:
            d.settle()
    assert state(d) == first, "the second delivery changed the state"
    written = {op: n for op, n in second.items() if op in STATE_WRITES}
    assert not written, f"the second delivery wrote {written}"
    return first, second


def capture_sqs(d: Deployment, url: str) -> list[SqsMessage]:
    messages = d.receive(url, 10)
    for m in messages:
        d.sqs.delete_message(QueueUrl=url, ReceiptHandle=m.receipt)
    return messages


def invoke_sqs(d: Deployment, url: str, messages: list[SqsMessage], receive_count: str) -> None:
    handler = handlers.tag_on_write_handler if url == d.write_url else handlers.worker_handler
    records = []
    for m in messages:
        body = d._stamp(m.body) if url == d.write_url else m.body
        raw = {
            **m.raw,
            "Body": body,
            "Attributes": {**m.raw.get("Attributes", {}), "ApproximateReceiveCount": receive_count},
        }
        records.append(sqs_record(raw, d.arns[url]))
    result = handler({"Records": records}, LambdaContext("twice"))
    assert not result["batchItemFailures"]


def test_a_write_notification_twice(world: Deployment, writes: WriteCounter) -> None:
    d = world
    d.put_chat(KEY, WRITTEN + timedelta(days=2))
    [message] = [m for m in capture_sqs(d, d.write_url) if "Records" in m.body]
    counts = iter(["1", "2"])
    twice(d, writes, lambda: invoke_sqs(d, d.write_url, [message], next(counts)))


def test_a_consent_stream_record_twice(world: Deployment, writes: WriteCounter) -> None:
    d = world
    d.put_consent({**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-05T00:00:00Z", "version": 2})
    d._read_stream()
    records = list(d.pending_stream)
    d.pending_stream.clear()
    twice(d, writes, lambda: handlers.consent_changed_handler({"Records": records}, LambdaContext("twice")))


@pytest.mark.parametrize("receive_count", ["1", "2"])
def test_a_retag_message_twice(world: Deployment, writes: WriteCounter, receive_count: str) -> None:
    d = world
    d.put_consent({**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-05T00:00:00Z", "version": 2})
    d.deliver_stream()
    messages = capture_sqs(d, d.work_url)
    twice(d, writes, lambda: invoke_sqs(d, d.work_url, messages, receive_count))


CHAT_EVENTS: list[tuple[str, dict[str, Any], Callable[[Deployment], None] | None]] = [
    ("Chat Reopened", {"user_id": U, "key": KEY}, None),
    ("Chat Archived", {"user_id": U, "key": KEY}, None),
    ("Chat Deleted", {"user_id": U, "key": KEY}, None),
    ("Erasure Requested", {"user_id": U}, None),
    ("Legal Hold Placed", {"user_id": U, "key": KEY}, None),
    ("Legal Hold Placed", {"user_id": U}, None),
    ("Legal Hold Released", {"user_id": U, "key": KEY}, lambda d: hold(d, KEY)),
    ("Legal Hold Released", {"user_id": U}, lambda d: hold(d, None)),
    ("Chat Deleted", {"user_id": U, "key": KEY}, lambda d: hold(d, KEY)),  # deleted under a hold
    ("Chat Reopened", {"user_id": U, "key": quote_plus("chats/u1/c1.json", safe="/")}, None),
]


def hold(d: Deployment, key: str | None) -> None:
    detail = {"user_id": U, **({"key": key} if key else {})}
    d.chat_event("Legal Hold Placed", detail, WRITTEN + timedelta(days=1))
    d.settle()


@pytest.mark.parametrize(
    "detail_type,detail,before",
    CHAT_EVENTS,
    ids=[f"{t}-{'key' if 'key' in d else 'user'}-{i}" for i, (t, d, _) in enumerate(CHAT_EVENTS)],
)
def test_a_chat_event_twice(
    world: Deployment,
    writes: WriteCounter,
    detail_type: str,
    detail: dict[str, Any],
    before: Callable[[Deployment], None] | None,
) -> None:
    d = world
    if before is not None:
        before(d)
    event = eventbridge_event(detail_type, detail, WRITTEN + timedelta(days=3))
    twice(d, writes, lambda: handlers.chat_events_handler(dict(event), LambdaContext("twice")))


def test_a_scheduled_sweep_twice(world: Deployment, writes: WriteCounter) -> None:
    d = world
    event = eventbridge_event("Scheduled Event", {}, WRITTEN + timedelta(days=25), source="aws.events")
    twice(d, writes, lambda: handlers.retention_sweep_handler(dict(event), LambdaContext("twice")))
    assert "chats/u9/old.json" not in {k.split("@")[0] for k in state(d)["objects"]}, "the due chat was swept"


@pytest.mark.parametrize("kind", ["sweep", "erase", "hold"])
def test_a_fan_out_page_twice(world: Deployment, writes: WriteCounter, kind: str) -> None:
    d = world
    if kind == "sweep":
        handlers.retention_sweep_handler(
            eventbridge_event("Scheduled Event", {}, WRITTEN + timedelta(days=25), source="aws.events"),
            LambdaContext("s"),
        )
    elif kind == "erase":
        d.chat_event("Erasure Requested", {"user_id": U}, WRITTEN + timedelta(days=3))
        d.deliver_events()
    else:
        d.chat_event("Legal Hold Placed", {"user_id": U}, WRITTEN + timedelta(days=3))
        d.deliver_events()
    messages = capture_sqs(d, d.work_url)
    assert messages and all(json.loads(m.body)["type"] == kind for m in messages)
    counts = iter(["1", "2"])
    twice(d, writes, lambda: invoke_sqs(d, d.work_url, messages, next(counts)))


def test_a_backfill_task_twice(world: Deployment, writes: WriteCounter) -> None:
    d = world
    d.s3.delete_object_tagging(Bucket=d.bucket, Key=KEY)
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {}},
        "tasks": [{"taskId": "t1", "s3Key": quote_plus(KEY), "s3VersionId": None, "s3Bucket": d.bucket}],
    }
    first, _ = twice(d, writes, lambda: handlers.backfill_handler(json.loads(json.dumps(event)), LambdaContext("b")))
    assert any("training-eligible" in str(v) for k, v in first["objects"].items() if k.startswith(KEY))


def test_a_fanned_out_page_delivered_twice_sends_its_next_page_once_and_writes_nothing_again(
    deployment: Deployment, writes: WriteCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page does its own work, then sends what follows, then records itself done: a redelivery is a no-op."""
    from consentry.service.flows import fanout

    monkeypatch.setattr(fanout, "RETAG_PAGE", 2)  # a big user: the root fans out to the hash ranges, which page on
    d = deployment
    d.put_consent(GRANT)
    keys = [f"chats/{U}/c{n}.json" for n in range(12)]
    for key in keys:
        d.put_chat(key, WRITTEN)
    d.settle()
    d.put_consent({**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2})
    d.deliver_stream()
    pages = 0
    while True:
        got = d.receive(d.work_url, 1)
        if not got:
            break
        [message] = got
        record = sqs_record(message.raw, d.arns[d.work_url])
        handlers.worker_handler({"Records": [record]}, LambdaContext("work"))
        with writes.measure() as again:
            handlers.worker_handler({"Records": [record]}, LambdaContext("work"))  # the same message, again
        assert not again, f"a redelivered page wrote {dict(again)}"
        d.sqs.delete_message(QueueUrl=d.work_url, ReceiptHandle=message.receipt)
        pages += 1
    assert pages > 2, "the retag fanned out"
    for key in keys:
        tags = {t["Key"]: t["Value"] for t in d.s3.get_object_tagging(Bucket=d.bucket, Key=key)["TagSet"]}
        assert tags["training-eligible"] == "false", key
