"""The write path's S3 calls: two for a new chat its writer did not tag, three when it did.

The calls are counted with botocore hooks on tag_on_write's own S3 clients, on moto, under the
stack's IAM policies: the ranged GetObject gives the facts and the tag count, the tag set is read
only when the count says there is one (foreign tags are kept), and a redelivery writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import botocore.config
import pytest

from consentry.local import LocalRuntime, sqs_record
from consentry.service import settings
from support import eligible, record, s3_error, set_consent, t, tags

KEY = "chats/u1/c1.json"
OURS = {"training-eligible", "training-reason", "retention-days", "expires-on", "policy-version"}


class S3Calls:
    """The S3 operations tag_on_write's clients make, with their Range, in order."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.made: list[tuple[str, str | None]] = []
        clients = runtime.clients_of("tag_on_write")
        for client in {id(c): c for c in (clients.s3, clients.s3_once)}.values():
            client.meta.events.register("before-parameter-build.s3.*", self._record)

    def _record(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        self.made.append((model.name, params.get("Range")))

    @property
    def ops(self) -> list[str]:
        return [op for op, _ in self.made]


@pytest.fixture
def s3_calls(runtime: LocalRuntime) -> S3Calls:
    return S3Calls(runtime)


def notifications(runtime: LocalRuntime) -> dict[str, Any]:
    """The write queue's pending notifications as one SQS event (taken off the queue)."""
    url = runtime.env["WRITE_QUEUE_URL"]
    arn = runtime.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = runtime.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    for m in messages:
        runtime.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return {"Records": [sqs_record({**m, "Body": runtime.stamp(m["Body"])}, arn) for m in messages]}


def test_a_new_chat_its_writer_did_not_tag_costs_two_s3_calls(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"))
    runtime.settle()
    assert s3_calls.made == [("GetObject", "bytes=0-0"), ("PutObjectTagging", None)]
    assert eligible(runtime, KEY)


def test_a_new_chat_with_its_writers_tags_has_them_read_and_kept(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"), tags={"team": "support", "project": "x"})
    runtime.settle()
    assert s3_calls.ops == ["GetObject", "GetObjectTagging", "PutObjectTagging"]
    found = tags(runtime, KEY)
    assert found["team"] == "support" and found["project"] == "x"
    assert set(found) == OURS | {"team", "project"} and eligible(runtime, KEY)


def test_a_writer_tag_that_claims_eligibility_is_overwritten(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    set_consent(runtime, "u1", "denied", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"), tags={"training-eligible": "true"})
    runtime.settle()
    assert "GetObjectTagging" in s3_calls.ops
    assert not eligible(runtime, KEY)


def test_an_empty_chat_is_asked_again_without_a_range(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    """An empty object has no first byte: S3 answers 416 InvalidRange (moto too)."""
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, body=b"", at=t("2025-09-10"))
    runtime.settle()
    assert s3_calls.made == [("GetObject", "bytes=0-0"), ("GetObject", None), ("PutObjectTagging", None)]
    assert eligible(runtime, KEY)
    assert runtime.delivered.failures == 0


def test_a_chat_deleted_before_its_notification_is_not_tagged(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"))
    runtime.s3.delete_object(Bucket=runtime.bucket, Key=KEY)  # a delete marker on top (an operator's)
    runtime.settle()
    assert "PutObjectTagging" not in s3_calls.ops
    assert record(runtime, "u1", KEY) is None and runtime.delivered.failures == 0


def test_a_redelivered_notification_writes_nothing(runtime: LocalRuntime, s3_calls: S3Calls) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"))
    event = notifications(runtime)
    runtime.invoke("tag_on_write", event)
    first = record(runtime, "u1", KEY)
    s3_calls.made.clear()
    runtime.invoke("tag_on_write", event)
    assert s3_calls.ops == ["GetObject", "GetObjectTagging"], "our tags are there now: read, compared, kept"
    after = record(runtime, "u1", KEY)
    assert first is not None and after is not None and after.revision == first.revision
    assert eligible(runtime, KEY)


@pytest.fixture
def get_object_fails(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """S3 answers the ranged GetObject with a 500, every attempt."""
    monkeypatch.setattr(settings, "BOTO_CONFIG", botocore.config.Config(retries={"max_attempts": 1}))
    settings.current.cache_clear()

    def fail(request: Any, **_: Any) -> Any:
        return s3_error(request.url, 500, "InternalError", "We encountered an internal error.")

    client = runtime.clients_of("tag_on_write").s3
    client.meta.events.register("before-send.s3.GetObject", fail)
    yield
    client.meta.events.unregister("before-send.s3.GetObject", fail)
    settings.current.cache_clear()


def test_a_failed_read_of_the_facts_fails_closed(runtime: LocalRuntime, get_object_fails: None) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(KEY, at=t("2025-09-10"))
    result = runtime.invoke("tag_on_write", notifications(runtime))
    assert len(result["batchItemFailures"]) == 1, "retried by SQS, never guessed"
    assert not eligible(runtime, KEY)
    assert record(runtime, "u1", KEY) is None
