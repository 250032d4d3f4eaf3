"""Bad input: every malformed or unexpected event gets a clear log line and a fail-closed outcome,
and one bad record never fails the rest of its batch.

Each case is delivered beside a good record in the same Lambda batch; the good
one must be tagged as POLICY.md says, the bad one must change nothing (or fail
closed), be logged, and be reported in `batchItemFailures` only when a retry
or the DLQ is the right place for it (a body that does not parse).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

import pytest

from consentry.local import LambdaContext
from consentry.service import handlers

from .figures import FIGURES
from .harness import Deployment, LogCapture, eventbridge_event, lambda_stream_record

U = "u1"
GOOD = "chats/u1/good.json"
GRANT = {
    "user_id": U,
    "tier": "pro",
    "training_consent": "granted",
    "consent_changed_at": "2025-09-01T00:00:00Z",
    "version": 1,
}
WRITTEN = datetime(2025, 10, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _count_bad_input() -> None:
    FIGURES.bad_inputs += 1


def tags(d: Deployment, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in d.s3.get_object_tagging(Bucket=d.bucket, Key=key)["TagSet"]}


def notification(
    bucket: str, key: str, at: str = "2025-10-01T00:00:00.000Z", name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": at,
                "eventName": name,
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": 2}},
            }
        ]
    }


def sqs_event(*bodies: str) -> tuple[dict[str, Any], list[str]]:
    ids = [str(uuid.uuid4()) for _ in bodies]
    records = [
        {
            "messageId": mid,
            "receiptHandle": "r",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rel-writes",
            "awsRegion": "us-east-1",
        }
        for mid, body in zip(ids, bodies, strict=True)
    ]
    return {"Records": records}, ids


@pytest.fixture
def ready(deployment: Deployment) -> Deployment:
    deployment.put_consent(GRANT)
    deployment.put_chat(GOOD, WRITTEN)
    deployment.settle()
    deployment.s3.delete_object_tagging(Bucket=deployment.bucket, Key=GOOD)  # the good record tags it again
    return deployment


def run_writes(d: Deployment, bad_body: str) -> tuple[set[str], list[str]]:
    good = json.dumps(notification(d.bucket, GOOD))
    event, ids = sqs_event(bad_body, good)
    result = handlers.tag_on_write_handler(event, LambdaContext("writes"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert ids[1] not in failed, "the good record of the batch failed with the bad one"
    assert tags(d, GOOD)["training-eligible"] == "true", "the good record was not processed"
    return failed, ids


UNPARSEABLE = {
    "not-json": "{not json",
    "empty": "",
    "json-list": "[]",
    "json-number": "42",
    "json-null": "null",
    "no-records": json.dumps({"Service": "Amazon S3"}),
    "records-not-a-list": json.dumps({"Records": {"a": 1}}),
    "record-without-s3": json.dumps(
        {"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2025-10-01T00:00:00Z"}]}
    ),
    "bad-event-time": None,  # filled in below (needs the bucket)
    "event-time-wrong-type": None,
    "event-time-without-zone": None,
    "key-wrong-type": None,
    "huge-body": None,
}


def unparseable_body(name: str, bucket: str) -> str:
    if UNPARSEABLE[name] is not None:
        return str(UNPARSEABLE[name])
    body = notification(bucket, "chats/u1/c9.json")
    record = body["Records"][0]
    if name == "bad-event-time":
        record["eventTime"] = "yesterday"
    elif name == "event-time-wrong-type":
        record["eventTime"] = 1759276800
    elif name == "event-time-without-zone":
        record["eventTime"] = "2025-10-01T00:00:00"
    elif name == "key-wrong-type":
        record["s3"]["object"]["key"] = 9
    elif name == "huge-body":
        record["eventTime"] = "9" * 200_000
    return json.dumps(body)


@pytest.mark.parametrize("name", sorted(UNPARSEABLE))
def test_a_notification_that_does_not_parse_is_reported_and_logged_alone(
    ready: Deployment, logs: LogCapture, name: str
) -> None:
    d = ready
    failed, ids = run_writes(d, unparseable_body(name, d.bucket))
    assert failed == {ids[0]}, "an unparseable body goes back to the queue, then to its DLQ"
    assert logs.with_field("message_id", ids[0], logging.ERROR), "the log line names the message"
    assert d.ledger.get(U, "chats/u1/c9.json") is None


def test_the_s3_test_event_succeeds_and_does_nothing(ready: Deployment, writes: Any) -> None:
    d = ready
    body = json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-10-01T00:00:00Z", "Bucket": d.bucket}
    )
    with writes.measure() as done:
        failed, _ = run_writes(d, body)
    assert not failed
    assert set(done) == {"PutObjectTagging"}, "only the good record wrote (its tags, removed by the fixture)"


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "LifecycleExpiration:Delete", "Bogus"]
)
def test_events_that_are_not_writes_are_skipped(ready: Deployment, event_name: str) -> None:
    d = ready
    d.put_chat("chats/u1/c8.json", WRITTEN)
    failed, _ = run_writes(d, json.dumps(notification(d.bucket, "chats/u1/c8.json", name=event_name)))
    assert not failed
    assert d.ledger.get(U, "chats/u1/c8.json") is None


@pytest.mark.parametrize(
    "key",
    [
        "other/u1/c1.json",
        "chats/u1/sub/c1.json",
        "chats/u1/c1.txt",
        "chats/u1.json",
        "chats//c1.json",
        "chats/u1/.json",
        "code-sessions/u1/s1.json",
        "CHATS/u1/c1.json",
        "chats/u1/c1.json/extra.json",
    ],
)
def test_keys_outside_the_chat_patterns_are_never_read_tagged_or_recorded(
    ready: Deployment, logs: LogCapture, writes: Any, key: str
) -> None:
    d = ready
    d.put_chat(key, WRITTEN, tags={"training-eligible": "true"})
    with writes.measure() as done:
        failed, _ = run_writes(d, json.dumps(notification(d.bucket, key)))
    assert not failed
    assert set(done) == {"PutObjectTagging"}, "nothing written for the foreign key"
    assert tags(d, key) == {"training-eligible": "true"}, "not ours: untouched (the bucket policy is not our tag)"
    assert any("not a chat key" in r.getMessage() for r in logs.records)


@pytest.mark.parametrize(
    "user,chat", [("u 1", "c 1"), ("u+1", "c+1"), ("ü-ñ", "c✓"), ("u%2F1", "c%41"), ("u1", "a b+c%20d")]
)
def test_keys_with_spaces_plus_unicode_and_percent_are_decoded_and_tagged(
    deployment: Deployment, user: str, chat: str
) -> None:
    """S3 notifications carry keys URL-encoded (decoded here); chat-app events carry them as stored."""
    d = deployment
    key = f"chats/{user}/{chat}.json"
    d.put_consent({**GRANT, "user_id": user})
    d.put_chat(key, WRITTEN)
    d.settle()
    assert tags(d, key)["training-eligible"] == "true"
    record = d.ledger.get(user, key)
    assert record is not None and record.user_id == user
    d.chat_event("Chat Deleted", {"user_id": user, "key": key}, datetime(2025, 10, 2, tzinfo=UTC))
    d.settle()
    assert key not in d.observe().objects


def test_an_object_deleted_before_its_notification_is_processed(ready: Deployment, logs: LogCapture) -> None:
    d = ready
    d.put_chat("chats/u1/gone.json", WRITTEN)
    for v in d.s3.list_object_versions(Bucket=d.bucket, Prefix="chats/u1/gone.json")["Versions"]:
        d.s3.delete_object(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
    failed, _ = run_writes(d, json.dumps(notification(d.bucket, "chats/u1/gone.json")))
    assert not failed, "nothing to retry: the object is gone"
    assert d.ledger.get(U, "chats/u1/gone.json") is None
    assert "chats/u1/gone.json" not in d.observe().objects


@pytest.mark.parametrize("foreign", [6, 9, 10])
def test_the_ten_tag_limit_fails_closed_and_is_logged(deployment: Deployment, logs: LogCapture, foreign: int) -> None:
    d = deployment
    d.put_consent(GRANT)
    writer = {f"t{i}": "x" for i in range(foreign)}
    if foreign < 10:
        writer["training-eligible"] = "true"  # the writer's own claim, never trusted
    d.put_chat("chats/u1/full.json", WRITTEN, tags=writer)
    d.settle()
    got = tags(d, "chats/u1/full.json")
    assert got.get("training-eligible") != "true"
    if foreign < 10:
        assert got["training-eligible"] == "false", "false alone where a slot allows, replacing the writer's true"
    record = d.ledger.get(U, "chats/u1/full.json")
    assert record is not None and not record.eligible and record.tag_error == "tag-limit"
    assert any("tag limit" in line for line in logs.lines(logging.ERROR))


BAD_CONSENT = {
    "unknown-tier": {"tier": "platinum"},
    "tier-missing": {"tier": None},
    "tier-wrong-type": {"tier": 3},
    "tier-huge": {"tier": "p" * 300_000},
    "consent-unknown": {"training_consent": "yes"},
    "consent-wrong-type": {"training_consent": True},
    "changed-at-bad": {"consent_changed_at": "yesterday"},
    "changed-at-no-zone": {"consent_changed_at": "2025-09-01T00:00:00"},
    "changed-at-number": {"consent_changed_at": 1756684800},
    "changed-at-missing": {"consent_changed_at": None},
    "changed-at-huge": {"consent_changed_at": "2" * 300_000},
    "tier-changed-bad": {"tier_changed_at": "2025-02-30T00:00:00Z"},
    "retention-zero": {"retention_days": 0, "tier": "team"},
    "retention-huge": {"retention_days": Decimal("1e30"), "tier": "team"},
    "retention-fraction": {"retention_days": Decimal("1.5"), "tier": "team"},
    "retention-string": {"retention_days": "30", "tier": "team"},
    "retention-negative": {"retention_days": -1, "tier": "team"},
}


@pytest.mark.parametrize("name", sorted(BAD_CONSENT))
def test_a_consent_record_that_is_invalid_fails_closed_for_every_chat(
    deployment: Deployment, logs: LogCapture, name: str
) -> None:
    d = deployment
    d.put_consent(GRANT)
    for key in ("chats/u1/c1.json", "code-sessions/u1/s1.jsonl"):
        d.put_chat(key, WRITTEN)
    d.settle()
    item: dict[str, Any] = {**GRANT, "version": 2, **BAD_CONSENT[name]}
    d.put_consent({k: v for k, v in item.items() if v is not None})
    d.settle()
    for key in ("chats/u1/c1.json", "code-sessions/u1/s1.jsonl"):
        got = tags(d, key)
        assert got["training-eligible"] == "false"
        assert got["training-reason"] == "invalid-consent-record"
        assert got["retention-days"] == "30"
    assert logs.lines(logging.WARNING), "an invalid consent record is logged"
    assert not d.stream_dead_letters


STREAM_GARBAGE = {
    "no-dynamodb": {"eventName": "MODIFY"},
    "no-keys": {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1"}},
    "key-not-a-string": {"eventName": "INSERT", "dynamodb": {"Keys": {"user_id": {"N": "1"}}, "SequenceNumber": "2"}},
    "images-wrong-type": {
        "eventName": "MODIFY",
        "dynamodb": {"Keys": {"user_id": {"S": "u2"}}, "NewImage": [], "SequenceNumber": "3"},
    },
}


@pytest.mark.parametrize("name", sorted(STREAM_GARBAGE))
def test_a_stream_record_that_does_not_parse_fails_alone(deployment: Deployment, logs: LogCapture, name: str) -> None:
    d = deployment
    d.put_consent(GRANT)
    d.settle()
    d.put_consent({**GRANT, "training_consent": "denied", "version": 2})
    d._read_stream()
    good = d.pending_stream.pop()
    bad = lambda_stream_record({"eventID": "x", "awsRegion": "us-east-1", **STREAM_GARBAGE[name]}, d.stream_arn)
    bad["dynamodb"] = {**bad.get("dynamodb", {}), "SequenceNumber": "bad-1"}
    if name == "no-dynamodb":
        bad["dynamodb"] = {"SequenceNumber": "bad-1"}
    result = handlers.consent_changed_handler({"Records": [bad, good]}, LambdaContext("consent_changed"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert good["dynamodb"]["SequenceNumber"] not in failed
    assert failed <= {"bad-1"}
    if failed:
        assert logs.lines(logging.WARNING), "a failing stream record is logged"


CHAT_GARBAGE: dict[str, tuple[str, Any, str]] = {
    "unknown-type": ("Chat Exploded", {"user_id": U, "key": GOOD}, "2025-10-02T00:00:00Z"),
    "no-user": ("Chat Deleted", {"key": GOOD}, "2025-10-02T00:00:00Z"),
    "user-wrong-type": ("Chat Deleted", {"user_id": 7, "key": GOOD}, "2025-10-02T00:00:00Z"),
    "other-users-key": ("Chat Deleted", {"user_id": "u2", "key": GOOD}, "2025-10-02T00:00:00Z"),
    "key-outside": ("Chat Deleted", {"user_id": U, "key": "other/u1/good.json"}, "2025-10-02T00:00:00Z"),
    "key-wrong-type": ("Chat Deleted", {"user_id": U, "key": 42}, "2025-10-02T00:00:00Z"),
    "key-missing": ("Chat Reopened", {"user_id": U}, "2025-10-02T00:00:00Z"),
    "detail-not-object": ("Chat Deleted", "chats/u1/good.json", "2025-10-02T00:00:00Z"),
    "bad-time": ("Chat Deleted", {"user_id": U, "key": GOOD}, "tomorrow"),
    "time-without-zone": ("Chat Reopened", {"user_id": U, "key": GOOD}, "2025-10-02T00:00:00"),
    "huge-key": ("Chat Deleted", {"user_id": U, "key": "chats/u1/" + "k" * 100_000 + ".json"}, "2025-10-02T00:00:00Z"),
    "key-of-nothing": ("Chat Deleted", {"user_id": U, "key": "chats/u1/never.json"}, "2025-10-02T00:00:00Z"),
}


@pytest.mark.parametrize("name", sorted(CHAT_GARBAGE))
def test_a_bad_chat_event_changes_nothing_and_is_logged(
    ready: Deployment, logs: LogCapture, writes: Any, name: str
) -> None:
    d = ready
    d.settle()
    d.deliver_sqs(d.write_url)
    before = d.observe()
    detail_type, detail, time = CHAT_GARBAGE[name]
    event = eventbridge_event(detail_type, {}, WRITTEN)
    event["detail"], event["time"] = detail, time
    with writes.measure() as done:
        handlers.chat_events_handler(event, LambdaContext("chat_events"))  # never raises: retrying cannot help
    assert not done, f"a bad event wrote {dict(done)}"
    after = d.observe()
    assert after.objects.keys() == before.objects.keys()
    assert {k: r.revision for k, r in after.records.items()} == {k: r.revision for k, r in before.records.items()}
    assert any(
        r.levelno >= logging.INFO and any(m in r.getMessage() for m in ("rejected", "not a chat key", "handled"))
        for r in logs.records
    )


@pytest.mark.parametrize("time", ["yesterday", "", None, 12])
def test_a_scheduled_sweep_with_a_bad_time_deletes_nothing_and_is_logged(
    ready: Deployment, logs: LogCapture, time: Any
) -> None:
    d = ready
    event = eventbridge_event("Scheduled Event", {}, WRITTEN, source="aws.events")
    event["time"] = time
    with pytest.raises(ValueError):  # Lambda retries it, then its DLQ: a schedule must not pass silently
        handlers.retention_sweep_handler(event, LambdaContext("retention_sweep"))
    assert logs.lines(logging.ERROR), "the bad schedule is logged"
    d.settle()
    assert GOOD in d.observe().objects


WORK_GARBAGE = {
    "not-json": "{{",
    "unknown-type": json.dumps({"type": "explode", "user_id": U}),
    "no-type": json.dumps({"user_id": U}),
    "retag-without-user": json.dumps({"type": "retag"}),
    "sweep-bad-time": json.dumps({"type": "sweep", "shard": "00", "now": "later"}),
    "erase-bad-time": json.dumps({"type": "erase", "user_id": U, "at": 5}),
    "json-list": json.dumps(["retag", U]),
}


@pytest.mark.parametrize("name", sorted(WORK_GARBAGE))
def test_a_bad_work_message_fails_alone_and_is_logged(ready: Deployment, logs: LogCapture, name: str) -> None:
    d = ready
    d.put_consent({**GRANT, "training_consent": "denied", "version": 2})  # the good retag has work to do
    event, ids = sqs_event(WORK_GARBAGE[name], json.dumps({"type": "retag", "user_id": U}))
    result = handlers.worker_handler(event, LambdaContext("work"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {ids[0]}, "the bad message fails (then its DLQ); the retag beside it succeeds"
    assert any("work message malformed" in line for line in logs.lines(logging.ERROR)), "said why, not a KeyError"
    d.settle()  # the retag's pages, one per hash range
    assert tags(d, GOOD)["training-eligible"] == "false"
    assert logs.lines(logging.WARNING)
    assert GOOD in d.observe().objects
