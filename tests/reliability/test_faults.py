"""Faults: throttling, 5xx, timeouts and lost answers on S3, DynamoDB and SQS; handlers that die.

Faults are injected into the handlers' own clients through botocore's
`before-send` hook (see harness.Faults), so botocore's retry and backoff run
as they would against AWS; `time.sleep` is virtual and adds up the backoff.
Whatever fails: the record comes back (batchItemFailures, stream retry,
asynchronous retry) and succeeds later, or ends in a dead-letter queue after
the configured tries with a log line and a metric. Nothing is lost.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import pytest

from .figures import FIGURES
from .harness import Deployment, Fault, Faults, LogCapture, VirtualTime, WriteCounter, emf_metrics, handler_clients
from .oracle import verdict

U = "u1"
GRANT = {"user_id": U, "tier": "pro", "training_consent": "granted", "consent_changed_at": "2025-09-01T00:00:00Z"}
KEYS = [f"chats/u1/c{i}.json" for i in range(1, 4)]
WRITTEN = datetime(2025, 10, 1, tzinfo=UTC)
TAG_ON_WRITE_TIMEOUT = 60  # seconds: infra/functions.py TAG_ON_WRITE, the shortest SQS consumer


def attempts() -> int:
    """Tries of one call by the handlers' clients (botocore counts the first): the SDK then gives up."""
    return int(handler_clients()[0].meta.config.retries["total_max_attempts"])


def tags(d: Deployment, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in d.s3.get_object_tagging(Bucket=d.bucket, Key=key)["TagSet"]}


def assert_policy_holds(d: Deployment, keys: list[str], consent: dict[str, Any] | None) -> None:
    """Every chat carries the oracle's tags and the ledger agrees (all written at WRITTEN)."""
    expected = verdict(consent, WRITTEN, incognito=False)
    for key in keys:
        assert tags(d, key) == expected.tags(), key
        record = d.ledger.get(U, key)
        assert record is not None and record.eligible == expected.eligible and record.reason.value == expected.reason


def write_chats(d: Deployment, version: int = 1) -> dict[str, Any]:
    consent = {**GRANT, "version": version}
    d.put_consent(consent)
    for key in KEYS:
        d.put_chat(key, WRITTEN)
    return consent


TRANSIENT = [
    Fault("s3", "GetObject", "5xx", times=2),
    Fault("s3", "GetObjectTagging", "timeout", times=2),
    Fault("s3", "PutObjectTagging", "5xx", times=3),
    Fault("s3", "PutObjectTagging", "connect", times=2),
    Fault("s3", "PutObjectTagging", "lost-response", times=2),
    Fault("dynamodb", "BatchGetItem", "timeout", times=3),
    Fault("dynamodb", "BatchGetItem", "5xx", times=4),
    Fault("dynamodb", "PutItem", "5xx", times=2),
    Fault("dynamodb", "PutItem", "lost-response", times=2),
    Fault("dynamodb", "Query", "timeout", times=2),
    Fault("sqs", "SendMessageBatch", "5xx", times=2),
    Fault("sqs", "SendMessageBatch", "lost-response", times=1),
]


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: f"{f.service}-{f.operation}-{f.kind}")
def test_transient_faults_are_absorbed_by_backoff_and_the_policy_holds(
    deployment: Deployment, faults: Faults, virtual_time: VirtualTime, fault: Fault
) -> None:
    d = deployment
    consent = write_chats(d)
    faults.add(fault)
    d.settle()
    opt_out = {**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2}
    d.put_consent(opt_out)
    d.settle()
    assert sum(faults.injected.values()) >= 1, "the fault never fired: the test would prove nothing"
    assert virtual_time.slept, "no backoff before retrying"
    assert_policy_holds(d, KEYS, opt_out)
    assert consent["version"] == 1
    assert not d.stream_dead_letters and not d.event_dead_letters
    assert not d.dead_letters(d.write_url) and not d.dead_letters(d.work_url)


def test_throttling_on_every_service_is_retried_with_backoff(
    deployment: Deployment, faults: Faults, virtual_time: VirtualTime
) -> None:
    """S3 SlowDown, DynamoDB ProvisionedThroughputExceeded, SQS throttling: retried, never a failure.

    One each: after a throttle, the adaptive retry mode's client-side rate
    limiter really waits (not virtual time), which is costly in a test.
    """
    d = deployment
    write_chats(d)
    faults.add(
        Fault("s3", "PutObjectTagging", "throttle", times=1),
        Fault("dynamodb", "PutItem", "throttle", times=1),
        Fault("sqs", "SendMessageBatch", "throttle", times=1),
    )
    d.settle()
    opt_out = {**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2}
    d.put_consent(opt_out)
    d.settle()
    assert sum(faults.injected.values()) == 3
    assert d.log.failures == 0, "botocore's retries absorbed the throttling: no record failed"
    assert len(virtual_time.slept) >= 3 and all(0 < s <= 20 for s in virtual_time.slept)
    assert_policy_holds(d, KEYS, opt_out)


def test_a_record_that_fails_is_reported_alone_and_succeeds_when_redelivered(
    deployment: Deployment, faults: Faults, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    consent = write_chats(d)
    # Every SDK attempt of this chat's tagging fails, once: the SDK gives up, the record fails.
    faults.add(Fault("s3", "PutObjectTagging", "5xx", times=attempts(), match=KEYS[0]))
    d.deliver_stream()
    d.deliver_sqs(d.write_url)
    assert d.log.failures == 1, "only the failed chat's message is in batchItemFailures"
    assert tags(d, KEYS[1])["training-eligible"] == "true"
    assert tags(d, KEYS[2])["training-eligible"] == "true"
    assert "training-eligible" not in tags(d, KEYS[0]), "no tag means not eligible"
    failed = logs.with_field("key_hash", d.ledger.names.key(KEYS[0]), logging.ERROR)
    assert failed, "a log line names the chat that failed"
    assert emf_metrics(capsys.readouterr().out)["EnforcementFailures"] >= 1
    d.settle()
    assert_policy_holds(d, KEYS, consent)


def test_a_write_that_keeps_failing_ends_in_the_dlq_and_is_replayed_from_there(
    deployment: Deployment, faults: Faults, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    consent = write_chats(d)
    faults.add(Fault("s3", "PutObjectTagging", "5xx", times=10_000, match=KEYS[0]))
    d.settle()
    dead = d.dead_letters(d.write_url)
    assert len(dead) == 1 and unquote_plus(json.loads(dead[0])["Records"][0]["s3"]["object"]["key"]) == KEYS[0]
    assert emf_metrics(capsys.readouterr().out)["EnforcementFailures"] == 5, "one per try: maxReceiveCount"
    assert len(logs.with_field("key_hash", d.ledger.names.key(KEYS[0]), logging.ERROR)) >= 5
    assert tags(d, KEYS[1])["training-eligible"] == "true", "the rest of the batch went on"
    # The outage ends; the operator redrives the DLQ: nothing was lost.
    faults.clear()
    for body in dead:
        d.sqs.send_message(QueueUrl=d.write_url, MessageBody=body)
    d.settle()
    assert_policy_holds(d, KEYS, consent)


def test_a_work_message_that_keeps_failing_ends_in_the_dlq_with_a_metric_and_a_log_line(
    deployment: Deployment, faults: Faults, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    write_chats(d)
    d.settle()
    opt_out = {**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2}
    d.put_consent(opt_out)
    faults.add(Fault("dynamodb", "Query", "5xx", times=10_000, match=d.ledger.user_pk(U)))  # the retag cannot list
    d.settle()
    dead = [json.loads(b) for b in d.dead_letters(d.work_url)]
    assert [(m["type"], m["user_id"]) for m in dead] == [("retag", U)], "the retag could not list the chats"
    out = capsys.readouterr().out
    assert sum(emf_metrics(out).values()) >= 5, "each failed try is counted"
    assert len(logs.lines(logging.WARNING)) >= 5, "each failed try is logged"
    faults.clear()
    for message in dead:
        d.sqs.send_message(QueueUrl=d.work_url, MessageBody=json.dumps(message))
    d.settle()
    assert_policy_holds(d, KEYS, opt_out)


def test_a_stream_record_that_keeps_failing_is_set_aside_and_replayable(
    deployment: Deployment, faults: Faults, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    write_chats(d)
    d.settle()
    opt_out = {**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2}
    d.put_consent(opt_out)
    faults.add(Fault("sqs", "SendMessageBatch", "5xx", times=10_000))  # the retag cannot be queued
    d.settle()
    assert len(d.stream_dead_letters) == 1  # the on-failure destination after the configured tries
    assert sum(emf_metrics(capsys.readouterr().out).values()) >= 3
    assert len(logs.lines(logging.WARNING)) >= 3
    faults.clear()
    d.pending_stream += d.stream_dead_letters  # replayed from the destination
    d.stream_dead_letters.clear()
    d.settle()
    assert_policy_holds(d, KEYS, opt_out)


def test_a_chat_event_that_keeps_failing_is_retried_then_dead_lettered(
    deployment: Deployment, faults: Faults, logs: LogCapture
) -> None:
    d = deployment
    consent = write_chats(d)
    d.settle()
    faults.add(Fault("s3", "DeleteObjects", "5xx", times=10_000))
    d.chat_event("Chat Deleted", {"user_id": U, "key": KEYS[0]}, datetime(2025, 10, 3, tzinfo=UTC))
    d.settle()
    assert len(d.event_dead_letters) == 1  # EventBridge's DLQ after 1 + 2 asynchronous tries
    # Fail closed meanwhile: the chat is ineligible at once, before its removal succeeds.
    assert tags(d, KEYS[0])["training-eligible"] == "false"
    assert tags(d, KEYS[0])["training-reason"] == "deleted"
    faults.clear()
    d.pending_events += d.event_dead_letters
    d.event_dead_letters.clear()
    d.settle()
    assert not d.observe().objects.get(KEYS[0])
    assert_policy_holds(d, KEYS[1:], consent)


def test_a_handler_dying_half_way_through_a_batch_loses_nothing_and_redoes_nothing(
    deployment: Deployment, faults: Faults, writes: WriteCounter
) -> None:
    d = deployment
    consent = write_chats(d)
    d.deliver_stream()
    assert d.log.failures == 0
    faults.add(Fault("s3", "PutObjectTagging", "die", times=1, skip=2))  # dies on the third chat
    with writes.measure() as first:
        batch = d.deliver_sqs(d.write_url)  # the three notifications (and S3's test event)
    assert first["PutObjectTagging"] == 2, "two went through, the third call died in flight"
    assert batch >= 3 and d.log.failures == batch, "the whole batch comes back: Lambda never answered"
    with writes.measure() as again:
        d.settle()
    assert_policy_holds(d, KEYS, consent)
    # The two chats already done are not written again; the third is finished.
    assert again["PutObjectTagging"] == 1, again


def test_a_worker_dying_half_way_through_a_retag_finishes_it_on_redelivery(
    deployment: Deployment, faults: Faults, writes: WriteCounter
) -> None:
    d = deployment
    write_chats(d)
    d.settle()
    opt_out = {**GRANT, "training_consent": "denied", "consent_changed_at": "2025-10-02T00:00:00Z", "version": 2}
    d.put_consent(opt_out)
    d.deliver_stream()
    faults.add(Fault("s3", "PutObjectTagging", "die", times=1, skip=1))  # dies on the second chat
    d.deliver_sqs(d.work_url)
    assert d.log.failures == 1, "the retag comes back: Lambda never answered"
    d.settle()
    assert_policy_holds(d, KEYS, opt_out)


def test_one_call_retrying_on_timeouts_stays_within_the_function_timeout(
    deployment: Deployment, faults: Faults, virtual_time: VirtualTime
) -> None:
    """A call whose every attempt times out: the waits and the backoff fit in the shortest timeout."""
    d = deployment
    write_chats(d)
    d.deliver_stream()
    faults.add(Fault("s3", "PutObjectTagging", "timeout", times=attempts(), match=KEYS[0]))
    d.deliver_sqs(d.write_url)
    assert faults.injected["s3.PutObjectTagging.timeout"] == attempts()
    assert d.log.failures == 1
    spent = faults.waited + virtual_time.total
    assert spent < TAG_ON_WRITE_TIMEOUT, f"{spent:.0f}s of waiting for one call: the function times out first"


def test_an_invocation_under_a_brownout_stops_before_its_timeout(
    deployment: Deployment, faults: Faults, virtual_time: VirtualTime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every tag write times out: the handler stops starting calls in time, the rest goes back to the queue."""
    d = deployment
    write_chats(d)
    d.deliver_stream()
    d.timeouts["writes"] = TAG_ON_WRITE_TIMEOUT
    d.invocation_clock = lambda: faults.waited + virtual_time.total  # time passes only as the faults make it
    faults.add(Fault("s3", "PutObjectTagging", "timeout", times=10_000))
    d.deliver_sqs(d.write_url)
    assert faults.waited + virtual_time.total < TAG_ON_WRITE_TIMEOUT
    assert d.log.failures >= 1, "what was not done is reported, to come back"
    assert emf_metrics(capsys.readouterr().out)["DeadlineStops"] >= 1
    faults.clear()
    d.invocation_clock = time.monotonic
    d.settle()
    assert_policy_holds(d, KEYS, {**GRANT, "version": 1})


def test_figures(faults: Faults) -> None:
    """Keeps the count of injected faults visible even when run alone."""
    assert FIGURES.faults >= 0
