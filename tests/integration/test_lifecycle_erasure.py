"""POLICY.md `Erasure Requested`: every chat of the user, every version, removed through the work queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from consentry.local import LocalRuntime
from consentry.service.aws import chat_store
from consentry.service.policy import Reason
from support import exists, ledger, record, set_consent, t, versions

GRANT = t("2025-09-01")


def erasures(rt: LocalRuntime, user: str) -> list:  # type: ignore[type-arg]
    return ledger(rt).erasures(user)


def erase(rt: LocalRuntime, user: str, at: datetime) -> None:
    rt.chat_event("Erasure Requested", {"user_id": user}, at)
    rt.settle()


def chats(rt: LocalRuntime, keys: list[str], at: str = "2025-10-01", writes: int = 1) -> None:
    for key in keys:
        for n in range(writes):
            rt.put_chat(key, body=b'{"n": %d}' % n, at=t(at))
    rt.settle()


def test_erasure_removes_every_version_of_every_chat_of_the_user_and_nothing_else(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    set_consent(runtime, "u10", "granted", GRANT)
    mine = ["chats/u1/c1.json", "chats/u1/c2.json", "code-sessions/u1/s1.jsonl"]
    kept = ["chats/u10/c1.json", "chats/u1/attachments/a.json", "chats/u1.json", "exports/u1/c1.json"]
    chats(runtime, mine + kept, writes=2)
    runtime.s3.delete_object(Bucket=runtime.bucket, Key="chats/u1/c2.json")  # a delete marker too
    erase(runtime, "u1", t("2025-11-01"))

    assert not any(exists(runtime, k) for k in mine)
    assert all(exists(runtime, k) for k in kept)
    for key in mine:
        stored = record(runtime, "u1", key)
        assert stored is not None
        assert (stored.state, stored.eligible, stored.reason) == ("removed", False, Reason.DELETED)
        assert stored.deleted_at == t("2025-11-01")
    assert record(runtime, "u10", "chats/u10/c1.json").eligible  # type: ignore[union-attr]


def test_erasure_completion_record_has_request_time_completion_time_and_counts(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    chats(runtime, [f"chats/u1/c{n}.json" for n in range(4)])
    erase(runtime, "u1", t("2025-11-01"))
    [done] = erasures(runtime, "u1")
    assert done.request_id
    assert done.requested_at == t("2025-11-01")
    assert (done.removed, done.held) == (4, 0)
    assert done.completed_at is not None and done.completed_at >= done.requested_at


def test_erasure_requested_twice_is_recorded_and_done_once(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    chats(runtime, ["chats/u1/c1.json"])
    erase(runtime, "u1", t("2025-11-01"))
    first = erasures(runtime, "u1")
    erase(runtime, "u1", t("2025-11-01"))
    assert erasures(runtime, "u1") == first


def test_erasure_spares_chats_active_after_the_request_and_later_writes_follow_normal_rules(
    runtime: LocalRuntime,
) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    chats(runtime, ["chats/u1/old.json"], at="2025-10-01")
    chats(runtime, ["chats/u1/new.json"], at="2025-11-02")  # written after the request, delivered before it
    erase(runtime, "u1", t("2025-11-01"))
    assert not exists(runtime, "chats/u1/old.json")
    assert exists(runtime, "chats/u1/new.json")
    assert record(runtime, "u1", "chats/u1/new.json").eligible  # type: ignore[union-attr]
    chats(runtime, ["chats/u1/later.json"], at="2025-11-05")
    assert record(runtime, "u1", "chats/u1/later.json").eligible  # type: ignore[union-attr]
    [done] = erasures(runtime, "u1")
    assert (done.removed, done.held) == (1, 0)


def test_erasure_covers_chats_that_no_write_event_announced(runtime: LocalRuntime) -> None:
    # Unannounced objects count from their LastModified, which is S3's clock: request after it.
    requested = datetime.now(UTC) + timedelta(hours=1)
    runtime.put_chat("chats/u1/c1.json")
    runtime.put_chat("chats/u1/c2.json")
    runtime.chat_event("Erasure Requested", {"user_id": "u1"}, requested)
    runtime.settle()  # the writes' notifications arrive after the erasure: they change nothing
    assert not exists(runtime, "chats/u1/c1.json")
    assert not exists(runtime, "chats/u1/c2.json")
    [done] = erasures(runtime, "u1")
    assert done.removed == 2


def test_erasure_waits_for_held_chats_and_removes_them_on_release(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    chats(runtime, ["chats/u1/c1.json", "chats/u1/c2.json"], writes=2)
    runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": "chats/u1/c2.json"}, t("2025-10-15"))
    erase(runtime, "u1", t("2025-11-01"))
    assert not exists(runtime, "chats/u1/c1.json")
    assert len(versions(runtime, "chats/u1/c2.json")) == 2
    held = record(runtime, "u1", "chats/u1/c2.json")
    assert held is not None and (held.state, held.held, held.eligible) == ("deleted", True, False)
    [done] = erasures(runtime, "u1")
    assert (done.removed, done.held) == (1, 1)

    runtime.chat_event("Legal Hold Released", {"user_id": "u1", "key": "chats/u1/c2.json"}, t("2026-02-01"))
    runtime.settle()
    assert not exists(runtime, "chats/u1/c2.json")
    assert record(runtime, "u1", "chats/u1/c2.json").state == "removed"  # type: ignore[union-attr]
    [after] = erasures(runtime, "u1")
    assert (after.removed, after.held, after.completed_at) == (2, 0, done.completed_at)
    # A redelivered release counts nothing twice.
    runtime.chat_event("Legal Hold Released", {"user_id": "u1", "key": "chats/u1/c2.json"}, t("2026-02-01"))
    runtime.settle()
    assert erasures(runtime, "u1") == [after]


def test_erasure_spanning_many_listing_pages_removes_all_and_counts_each_chat_once(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_store, "LIST_PAGE", 3)  # S3 pages at 1000; a small page makes many of them
    set_consent(runtime, "u1", "granted", GRANT)
    keys = [f"chats/u1/c{n:02d}.json" for n in range(7)] + [f"code-sessions/u1/s{n}.jsonl" for n in range(4)]
    chats(runtime, keys, writes=2)
    erase(runtime, "u1", t("2025-11-01"))
    assert not any(exists(runtime, k) for k in keys)
    [done] = erasures(runtime, "u1")
    assert (done.removed, done.held) == (len(keys), 0)
    assert done.completed_at is not None


def test_erasure_of_a_user_with_no_chats_completes_at_once(runtime: LocalRuntime) -> None:
    erase(runtime, "ghost", t("2025-11-01"))
    [done] = erasures(runtime, "ghost")
    assert (done.removed, done.held) == (0, 0)
    assert done.completed_at is not None


def test_erasure_page_delivered_twice_counts_once(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    chats(runtime, ["chats/u1/c1.json", "chats/u1/c2.json"])
    runtime.chat_event("Erasure Requested", {"user_id": "u1"}, t("2025-11-01"))
    # SQS delivers at least once: the first page arrives twice.
    first_page = {"type": "erase", "user_id": "u1", "at": "2025-11-01T00:00:00.000000Z", "prefix": 0}
    runtime.sqs.send_message(QueueUrl=runtime.env["WORK_QUEUE_URL"], MessageBody=json.dumps(first_page))
    runtime.settle()
    [done] = erasures(runtime, "u1")
    assert (done.removed, done.held) == (2, 0)
    assert not exists(runtime, "chats/u1/c1.json")


def test_erasure_pages_step_over_chats_it_keeps_and_count_every_chat_once(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_store, "LIST_PAGE", 3)
    set_consent(runtime, "u1", "granted", GRANT)
    keys = [f"chats/u1/c{n:02d}.json" for n in range(9)]
    chats(runtime, keys, writes=2)
    chats(runtime, ["chats/u1/c04b.json", "chats/u1/c09.json"], at="2025-11-20")  # active after the request
    runtime.s3.put_object(Bucket=runtime.bucket, Key="chats/u1/c05/attachment.json", Body=b"{}")  # not ours
    for key in ("chats/u1/c02.json", "chats/u1/c07.json"):
        runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": key}, t("2025-10-15"))
    erase(runtime, "u1", t("2025-11-01"))

    held = {"chats/u1/c02.json", "chats/u1/c07.json"}
    assert {k for k in keys if exists(runtime, k)} == held
    assert exists(runtime, "chats/u1/c04b.json") and exists(runtime, "chats/u1/c09.json")
    assert exists(runtime, "chats/u1/c05/attachment.json")
    [done] = erasures(runtime, "u1")
    assert (done.removed, done.held) == (7, 2)

    runtime.chat_event("Legal Hold Released", {"user_id": "u1"}, t("2026-01-01"))  # all of the user's chats
    runtime.settle()
    assert not any(exists(runtime, k) for k in keys)
    assert exists(runtime, "chats/u1/c04b.json") and exists(runtime, "chats/u1/c09.json")
    [after] = erasures(runtime, "u1")
    assert (after.removed, after.held) == (9, 0)
