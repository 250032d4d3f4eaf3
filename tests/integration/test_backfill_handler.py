"""`functions/backfill`: S3 Batch Operations (schema 2.0) invocations on moto, shaped like AWS's own sample.

The sample is tests/events/s3BatchOperationEventSchemaV2.json (Powertools' test event); each test
swaps in its tasks. Keys arrive URL-encoded, as in the CSV manifest that `consentry.service.aws.batch_ops` writes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import botocore.config
import pytest

from consentry.local import LambdaContext, LocalRuntime
from consentry.service import settings
from consentry.service.aws.batch_ops import encode_key
from consentry.service.policy import Reason
from support import record, s3_error, set_consent, t, tags

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "s3BatchOperationEventSchemaV2.json").read_text())
# The deployed entry point itself: functions/backfill/app.py (functions/ is not a package).
_spec = importlib.util.spec_from_file_location("backfill_app", ROOT / "functions" / "backfill" / "app.py")
assert _spec is not None and _spec.loader is not None
backfill_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backfill_app)
handler = backfill_app.handler
GRANT = t("2025-09-01")


def invocation(rt: LocalRuntime, *keys: str, bucket: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLE)
    event["tasks"] = [
        {"taskId": f"task-{n}", "s3Key": encode_key(key), "s3VersionId": None, "s3Bucket": bucket or rt.bucket}
        for n, key in enumerate(keys)
    ]
    return event


def invoke(rt: LocalRuntime, *keys: str, bucket: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = handler(invocation(rt, *keys, bucket=bucket), LambdaContext("backfill"))
    return result


def unannounced(rt: LocalRuntime, *keys: str, metadata: dict[str, str] | None = None) -> None:
    """Objects written before deployment: in the bucket, no notification ever delivered."""
    for key in keys:
        rt.s3.put_object(Bucket=rt.bucket, Key=key, Body=b"{}", Metadata=metadata or {})
    lose_notifications(rt)


def lose_notifications(rt: LocalRuntime) -> None:
    url = rt.env["WRITE_QUEUE_URL"]
    while messages := rt.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            rt.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_backfill_tags_each_task_and_reports_succeeded_with_the_reason(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    unannounced(runtime, "chats/u1/c1.json", "code-sessions/u1/s1.jsonl")
    unannounced(runtime, "chats/u1/c2.json", metadata={"incognito": "TRUE"})
    result = invoke(runtime, "chats/u1/c1.json", "code-sessions/u1/s1.jsonl", "chats/u1/c2.json")

    assert result["invocationSchemaVersion"] == "2.0"
    assert result["invocationId"] == SAMPLE["invocationId"]
    assert result["treatMissingKeysAs"] == "PermanentFailure"
    assert result["results"] == [
        {"taskId": "task-0", "resultCode": "Succeeded", "resultString": "consent-granted"},
        {"taskId": "task-1", "resultCode": "Succeeded", "resultString": "consent-granted"},
        {"taskId": "task-2", "resultCode": "Succeeded", "resultString": "incognito"},
    ]
    assert tags(runtime, "chats/u1/c1.json")["training-eligible"] == "true"
    assert tags(runtime, "chats/u1/c2.json")["training-eligible"] == "false"
    head = runtime.s3.head_object(Bucket=runtime.bucket, Key="chats/u1/c1.json")
    stored = record(runtime, "u1", "chats/u1/c1.json")
    assert stored is not None
    assert stored.last_activity == head["LastModified"]  # backfill: last activity is LastModified
    assert stored.version_id == head["VersionId"]


def test_backfill_decodes_url_encoded_keys(runtime: LocalRuntime) -> None:
    key = "chats/ü ser+1/c,1 é.json"
    set_consent(runtime, "ü ser+1", "granted", GRANT)
    unannounced(runtime, key)
    result = invoke(runtime, key)
    assert result["results"][0]["resultCode"] == "Succeeded"
    assert tags(runtime, key)["training-eligible"] == "true"


def test_backfill_overwrites_our_tags_set_by_the_writer_and_keeps_foreign_ones(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    runtime.s3.put_object(
        Bucket=runtime.bucket, Key="chats/u1/c1.json", Body=b"{}", Tagging="training-eligible=true&team=search"
    )
    lose_notifications(runtime)
    invoke(runtime, "chats/u1/c1.json")
    assert tags(runtime, "chats/u1/c1.json")["training-eligible"] == "false"
    assert tags(runtime, "chats/u1/c1.json")["team"] == "search"


def test_backfill_twice_writes_nothing_the_second_time(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    unannounced(runtime, "chats/u1/c1.json")
    invoke(runtime, "chats/u1/c1.json")
    first = record(runtime, "u1", "chats/u1/c1.json")
    result = invoke(runtime, "chats/u1/c1.json")
    assert result["results"][0]["resultCode"] == "Succeeded"
    assert record(runtime, "u1", "chats/u1/c1.json") == first
    assert first is not None and first.revision == record(runtime, "u1", "chats/u1/c1.json").revision  # type: ignore[union-attr]


def test_backfill_leaves_keys_that_are_not_ours_untouched(runtime: LocalRuntime) -> None:
    runtime.s3.put_object(Bucket=runtime.bucket, Key="chats/u1/attachments/a.json", Body=b"{}")
    result = invoke(runtime, "chats/u1/attachments/a.json")
    assert result["results"][0]["resultCode"] == "Succeeded"
    assert tags(runtime, "chats/u1/attachments/a.json") == {}
    assert record(runtime, "u1", "chats/u1/attachments/a.json") is None


def test_backfill_task_for_another_bucket_is_a_permanent_failure_with_the_reason(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    unannounced(runtime, "chats/u1/c1.json")
    result = invoke(runtime, "chats/u1/c1.json", bucket="someone-elses-bucket")
    [task] = result["results"]
    assert task["resultCode"] == "PermanentFailure"
    assert "someone-elses-bucket" in task["resultString"]
    assert record(runtime, "u1", "chats/u1/c1.json") is None


def test_backfill_of_an_object_deleted_since_the_manifest_succeeds_without_a_record(runtime: LocalRuntime) -> None:
    result = invoke(runtime, "chats/u1/gone.json")
    assert result["results"][0]["resultCode"] == "Succeeded"
    assert record(runtime, "u1", "chats/u1/gone.json") is None


def test_backfill_keeps_a_later_activity_the_ledger_knows(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    unannounced(runtime, "chats/u1/c1.json")
    invoke(runtime, "chats/u1/c1.json")
    head = runtime.s3.head_object(Bucket=runtime.bucket, Key="chats/u1/c1.json")
    reopened = head["LastModified"].replace(year=head["LastModified"].year + 1)
    runtime.chat_event("Chat Reopened", {"user_id": "u1", "key": "chats/u1/c1.json"}, reopened)
    runtime.settle()
    invoke(runtime, "chats/u1/c1.json")
    stored = record(runtime, "u1", "chats/u1/c1.json")
    assert stored is not None and stored.last_activity == reopened.replace(microsecond=0)
    assert stored.reason is Reason.CONSENT_GRANTED


@pytest.fixture
def slow_down(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 answers GetObject (the object's facts) with 503 SlowDown, as under throttling (HTTP-level fault injection)."""
    monkeypatch.setattr(settings, "BOTO_CONFIG", botocore.config.Config(retries={"max_attempts": 1}))
    settings.current.cache_clear()
    clients = runtime.clients_of("backfill")

    def throttle(request: Any, **_: Any) -> Any:
        return s3_error(request.url, 503, "SlowDown", "Please reduce your request rate.")

    clients.s3.meta.events.register("before-send.s3.GetObject", throttle)


def test_backfill_under_s3_throttling_is_a_temporary_failure(runtime: LocalRuntime, slow_down: None) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    unannounced(runtime, "chats/u1/c1.json")
    [task] = invoke(runtime, "chats/u1/c1.json")["results"]
    assert task["resultCode"] == "TemporaryFailure"
    assert "SlowDown" in task["resultString"]
    assert runtime.s3.get_object_tagging(Bucket=runtime.bucket, Key="chats/u1/c1.json")["TagSet"] == []
