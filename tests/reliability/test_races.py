"""Races: one flow's AWS call is the moment another flow runs to completion.

A botocore hook on the handlers' clients (`before-call` / `after-call` of one
operation) runs the other flow in the middle, once; the final state must be
the one for the latest consent version and the latest activity.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .harness import Deployment, handler_clients
from .oracle import verdict

U = "u1"
KEY = "chats/u1/c1.json"
KEYS = [KEY, "chats/u1/c2.json", "code-sessions/u1/s1.jsonl"]
WRITTEN = datetime(2025, 10, 1, tzinfo=UTC)


def consent(value: str, changed: str, version: int) -> dict[str, Any]:
    return {"user_id": U, "tier": "pro", "training_consent": value, "consent_changed_at": changed, "version": version}


GRANTED = consent("granted", "2025-09-01T00:00:00Z", 1)
DENIED = consent("denied", "2025-10-01T06:00:00Z", 2)
GRANTED_AGAIN = consent("granted", "2025-09-15T00:00:00Z", 3)


def tags(d: Deployment, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in d.s3.get_object_tagging(Bucket=d.bucket, Key=key)["TagSet"]}


@contextmanager
def in_the_middle(
    service: str, operation: str, run: Callable[[], None], *, after: bool = False, nth: int = 1
) -> Iterator[list[int]]:
    """Run `run` once, at the `nth` call of `operation` by the handlers' clients (before it, or after it)."""
    client = {"s3": 0, "dynamodb": 1, "sqs": 2}[service]
    events = handler_clients()[client].meta.events
    name = f"{'after' if after else 'before'}-call.{service}.{operation}"
    fired: list[int] = []
    seen = [0]

    def hook(**_: Any) -> None:
        seen[0] += 1
        if seen[0] == nth and not fired:
            events.unregister(name, hook)
            fired.append(1)
            run()

    events.register(name, hook)
    try:
        yield fired
    finally:
        events.unregister(name, hook)


def assert_final(d: Deployment, keys: list[str], latest: dict[str, Any], activity: datetime = WRITTEN) -> None:
    expected = verdict(latest, activity, incognito=False)
    for key in keys:
        assert tags(d, key) == expected.tags(), (key, expected)
        record = d.ledger.get(U, key)
        assert record is not None
        assert (record.eligible, record.reason.value, record.consent_version) == (
            expected.eligible,
            expected.reason,
            latest["version"],
        ), key


WRITE_PATH = [
    ("dynamodb", "BatchGetItem", False),  # reading the ledger / the consent record
    ("s3", "GetObject", False),  # the facts and the tag count: an untagged chat's tags are not read
    ("dynamodb", "PutItem", False),  # the ledger write
    ("dynamodb", "PutItem", True),
    ("s3", "PutObjectTagging", False),
    ("s3", "PutObjectTagging", True),
]


@pytest.mark.parametrize("flip", [(GRANTED, DENIED), (DENIED, GRANTED_AGAIN)], ids=["opt-out", "opt-in"])
@pytest.mark.parametrize("point", WRITE_PATH, ids=lambda p: f"{'after' if p[2] else 'before'}-{p[1]}")
def test_a_write_processed_while_consent_flips_ends_on_the_latest_version(
    deployment: Deployment, point: tuple[str, str, bool], flip: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    d = deployment
    before, after = flip
    d.put_consent({**before, "version": 1})
    d.settle()
    d.put_chat(KEY, WRITTEN)
    latest = {**after, "version": 2}

    def consent_flips_and_its_retag_runs() -> None:
        d.put_consent(latest)
        d.deliver_stream()
        d.deliver_sqs(d.work_url)

    service, operation, after_call = point
    with in_the_middle(service, operation, consent_flips_and_its_retag_runs, after=after_call) as fired:
        d.deliver_sqs(d.write_url)
    assert fired, "the race never happened"
    d.settle()
    assert_final(d, [KEY], latest)


@pytest.mark.parametrize("point", WRITE_PATH, ids=lambda p: f"{'after' if p[2] else 'before'}-{p[1]}")
def test_a_write_processed_while_consent_flips_and_the_retag_is_late(
    deployment: Deployment, point: tuple[str, str, bool]
) -> None:
    """The stream record arrives after the write is done: the write itself must not keep a stale `true`."""
    d = deployment
    d.put_consent(GRANTED)
    d.settle()
    d.put_chat(KEY, WRITTEN)
    service, operation, after_call = point
    with in_the_middle(service, operation, lambda: d.put_consent(DENIED), after=after_call) as fired:
        d.deliver_sqs(d.write_url)
    assert fired
    d.settle()
    assert_final(d, [KEY], DENIED)


RETAG_PATH = [
    ("dynamodb", "Query", True),  # the user's chats were listed
    ("dynamodb", "BatchGetItem", True),  # the consent record was read
    ("dynamodb", "PutItem", False),
    ("s3", "GetObjectTagging", False),
    ("s3", "PutObjectTagging", False),
    ("s3", "PutObjectTagging", True),
]


@pytest.mark.parametrize("point", RETAG_PATH, ids=lambda p: f"{'after' if p[2] else 'before'}-{p[1]}")
def test_two_workers_retagging_the_same_user_end_on_the_latest_version(
    deployment: Deployment, point: tuple[str, str, bool]
) -> None:
    """Worker A retags for v2; in the middle, v3 arrives and worker B retags the same user to the end."""
    d = deployment
    d.put_consent(GRANTED)
    for key in KEYS:
        d.put_chat(key, WRITTEN)
    d.settle()
    d.put_consent(DENIED)
    d.deliver_stream()  # worker A's retag is in the queue
    latest = {**GRANTED_AGAIN, "consent_changed_at": "2025-09-20T00:00:00Z", "version": 3}

    def worker_b() -> None:
        d.put_consent(latest)
        d.deliver_stream()
        d.deliver_sqs(d.work_url)

    service, operation, after_call = point
    with in_the_middle(service, operation, worker_b, after=after_call) as fired:
        d.deliver_sqs(d.work_url, limit=1, choose=d.page_of(KEY))
    assert fired
    d.settle()
    assert_final(d, KEYS, latest)


@pytest.mark.parametrize("point", RETAG_PATH, ids=lambda p: f"{'after' if p[2] else 'before'}-{p[1]}")
def test_two_deliveries_of_one_retag_racing_each_other_agree(
    deployment: Deployment, point: tuple[str, str, bool]
) -> None:
    """SQS delivers the same retag twice to two workers at once (at-least-once)."""
    d = deployment
    d.put_consent(GRANTED)
    for key in KEYS:
        d.put_chat(key, WRITTEN)
    d.settle()
    d.put_consent(DENIED)
    d.deliver_stream()
    pages = d.receive(d.work_url, 100)
    [message] = [m for m in pages if d.page_of(KEY)(json.loads(m.body))]
    for m in pages:
        d.sqs.change_message_visibility(QueueUrl=d.work_url, ReceiptHandle=m.receipt, VisibilityTimeout=0)
    service, operation, after_call = point
    with in_the_middle(
        service, operation, lambda: d.deliver_sqs(d.work_url, lose_delete=0.0), after=after_call
    ) as fired:
        from consentry.local import LambdaContext, sqs_record
        from consentry.service import handlers

        handlers.worker_handler({"Records": [sqs_record(message.raw, d.arns[d.work_url])]}, LambdaContext("work"))
    assert fired
    d.settle()
    assert_final(d, KEYS, DENIED)


def test_a_reopen_processed_before_the_sweep_reads_the_record_saves_the_chat(deployment: Deployment) -> None:
    d = deployment
    d.put_consent(DENIED)
    d.put_chat(KEY, WRITTEN)
    d.settle()
    now = WRITTEN + timedelta(days=40)  # due: 30 days after the last activity
    reopened = now - timedelta(hours=1)

    def reopen() -> None:
        d.chat_event("Chat Reopened", {"user_id": U, "key": KEY}, reopened)
        d.deliver_events()

    d.schedule_sweep(now)
    d.deliver_events()
    with in_the_middle("dynamodb", "GetItem", reopen) as fired:
        d.settle()
    assert fired
    assert d.observe().objects.get(KEY) is not None, "a chat reopened before the sweep's time is not due"
    assert_final(d, [KEY], DENIED, activity=reopened)


def test_a_reopen_recorded_while_the_sweep_deletes_saves_the_chat(deployment: Deployment) -> None:
    d = deployment
    d.put_consent(DENIED)
    d.put_chat(KEY, WRITTEN)
    d.settle()
    now = WRITTEN + timedelta(days=40)
    reopened = now - timedelta(hours=1)

    def reopen() -> None:
        d.chat_event("Chat Reopened", {"user_id": U, "key": KEY}, reopened)
        d.deliver_events()

    d.schedule_sweep(now)
    d.deliver_events()
    with in_the_middle("s3", "ListObjectVersions", reopen) as fired:
        d.settle()
    assert fired
    assert d.observe().objects.get(KEY) is not None


def test_a_sweep_running_while_a_chat_is_reopened_after_its_time_removes_it_for_good(deployment: Deployment) -> None:
    """A reopen later than the sweep's `now` cannot save a chat that was due at `now`; the ledger stays coherent."""
    d = deployment
    d.put_consent(DENIED)
    d.put_chat(KEY, WRITTEN)
    d.settle()
    now = WRITTEN + timedelta(days=40)

    def reopen() -> None:
        d.chat_event("Chat Reopened", {"user_id": U, "key": KEY}, now + timedelta(hours=1))
        d.deliver_events()

    d.schedule_sweep(now)
    d.deliver_events()
    with in_the_middle("s3", "DeleteObjects", reopen, after=True) as fired:
        d.settle()
    assert fired
    assert d.observe().objects.get(KEY) is None
    record = d.ledger.get(U, KEY)
    assert record is not None and record.state == "removed" and not record.eligible
