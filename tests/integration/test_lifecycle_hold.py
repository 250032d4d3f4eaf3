"""POLICY.md `Legal Hold Placed` / `Released`: S3 Object Lock on every version; sweep and deletions wait."""

from __future__ import annotations

import pytest

from consentry.local import LocalRuntime
from consentry.service.aws import chat_store
from support import exists, record, set_consent, t, tags, versions

GRANT = t("2025-09-01")
CHAT = "chats/u1/c1.json"


def lock(rt: LocalRuntime, key: str) -> list[str]:
    """The Object Lock legal-hold status of every version (not delete markers) of a key; never held is OFF."""
    return [
        rt.s3.get_object_legal_hold(Bucket=rt.bucket, Key=key, VersionId=v["VersionId"])["LegalHold"].get(
            "Status", "OFF"
        )
        for v in versions(rt, key)
        if "ETag" in v  # delete markers have no ETag and cannot be held
    ]


def event(rt: LocalRuntime, detail_type: str, at: str, key: str | None = CHAT, user: str = "u1") -> None:
    detail = {"user_id": user, **({"key": key} if key else {})}
    rt.chat_event(detail_type, detail, t(at))
    rt.settle()


def denied_chat(rt: LocalRuntime, key: str = CHAT, writes: int = 1) -> None:
    """A chat of a user who denied consent: 30-day retention, due at the sweep two months later."""
    set_consent(rt, "u1", "denied", t("2025-09-01"))
    for n in range(writes):
        rt.put_chat(key, body=b'{"n": %d}' % n, at=t("2025-10-01"))
    rt.settle()


def test_legal_hold_sets_object_lock_on_every_version_and_keeps_eligibility(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    for n in range(3):
        runtime.put_chat(CHAT, body=b'{"n": %d}' % n, at=t("2025-10-01"))
    runtime.settle()
    before = tags(runtime, CHAT)
    event(runtime, "Legal Hold Placed", "2025-10-10")
    assert lock(runtime, CHAT) == ["ON", "ON", "ON"]
    assert tags(runtime, CHAT) == before
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.held, stored.eligible) == (True, True)

    event(runtime, "Legal Hold Released", "2025-10-20")
    assert lock(runtime, CHAT) == ["OFF", "OFF", "OFF"]
    assert tags(runtime, CHAT) == before
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.held, stored.eligible) == (False, True)


def test_sweep_skips_a_held_due_chat_and_removes_it_after_release(runtime: LocalRuntime) -> None:
    denied_chat(runtime, writes=2)
    event(runtime, "Legal Hold Placed", "2025-10-10")
    runtime.sweep(t("2025-12-01"))
    runtime.settle()
    assert len(versions(runtime, CHAT)) == 2
    assert record(runtime, "u1", CHAT).state == "active"  # type: ignore[union-attr]

    event(runtime, "Legal Hold Released", "2025-12-15")
    assert exists(runtime, CHAT)  # released, not deleted: it waits for the next sweep
    runtime.sweep(t("2025-12-16"))
    runtime.settle()
    assert versions(runtime, CHAT) == []
    assert record(runtime, "u1", CHAT).state == "removed"  # type: ignore[union-attr]


def test_legal_hold_placed_twice_writes_nothing_the_second_time(runtime: LocalRuntime) -> None:
    denied_chat(runtime)
    event(runtime, "Legal Hold Placed", "2025-10-10")
    first = record(runtime, "u1", CHAT)
    event(runtime, "Legal Hold Placed", "2025-10-10")  # the same event, delivered again
    assert record(runtime, "u1", CHAT) == first
    assert lock(runtime, CHAT) == ["ON"]


def test_hold_events_apply_in_event_time_order_not_arrival_order(runtime: LocalRuntime) -> None:
    """POLICY.md: a hold event older than the latest applied to the key changes nothing (EventBridge retries 24 h)."""
    denied_chat(runtime)
    event(runtime, "Legal Hold Placed", "2025-10-10")
    event(runtime, "Legal Hold Released", "2025-10-12")
    event(runtime, "Legal Hold Placed", "2025-10-11")  # delivered late: older than the release
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and not stored.held
    assert lock(runtime, CHAT) == ["OFF"]
    event(runtime, "Legal Hold Placed", "2025-10-13")
    event(runtime, "Legal Hold Released", "2025-10-12")  # a duplicate of an older one, late: ignored
    assert record(runtime, "u1", CHAT).held and lock(runtime, CHAT) == ["ON"]  # type: ignore[union-attr]


def test_a_user_wide_hold_older_than_a_key_release_leaves_that_key_released(runtime: LocalRuntime) -> None:
    denied_chat(runtime)
    event(runtime, "Legal Hold Released", "2025-10-12")
    event(runtime, "Legal Hold Placed", "2025-10-11", key=None)  # on all of u1's chats, older than the release
    assert lock(runtime, CHAT) == ["OFF"] and not record(runtime, "u1", CHAT).held  # type: ignore[union-attr]


def test_legal_hold_on_all_of_a_users_chats_goes_through_the_work_queue(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", t("2025-09-01"))
    set_consent(runtime, "u10", "denied", t("2025-09-01"))
    mine = [f"chats/u1/c{n}.json" for n in range(5)] + ["code-sessions/u1/s1.jsonl"]
    others = ["chats/u10/c1.json", "chats/u1/attachments/a.json"]
    for key in mine + others:
        runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()
    event(runtime, "Legal Hold Placed", "2025-10-10", key=None)
    assert all(lock(runtime, k) == ["ON"] for k in mine)
    assert all(lock(runtime, k) == ["OFF"] for k in others)
    assert all(record(runtime, "u1", k).held for k in mine)  # type: ignore[union-attr]

    runtime.sweep(t("2025-12-01"))
    runtime.settle()
    assert all(exists(runtime, k) for k in mine)
    assert not exists(runtime, "chats/u10/c1.json")  # not held: swept
    assert exists(runtime, "chats/u1/attachments/a.json")  # not ours: never touched

    event(runtime, "Legal Hold Released", "2025-12-15", key=None)
    assert all(lock(runtime, k) == ["OFF"] for k in mine)
    runtime.sweep(t("2025-12-16"))
    runtime.settle()
    assert not any(exists(runtime, k) for k in mine)


def test_object_lock_refuses_deletion_of_a_chat_whose_hold_the_ledger_missed(runtime: LocalRuntime) -> None:
    denied_chat(runtime, writes=2)
    for v in versions(runtime, CHAT):
        runtime.s3.put_object_legal_hold(
            Bucket=runtime.bucket, Key=CHAT, VersionId=v["VersionId"], LegalHold={"Status": "ON"}
        )
    event(runtime, "Chat Deleted", "2025-11-01")
    assert len(versions(runtime, CHAT)) == 2
    assert tags(runtime, CHAT)["training-reason"] == "deleted"
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.held) == ("deleted", True)

    event(runtime, "Legal Hold Released", "2025-11-10")
    assert versions(runtime, CHAT) == []
    assert record(runtime, "u1", CHAT).state == "removed"  # type: ignore[union-attr]


def test_hold_event_for_another_users_key_is_rejected(runtime: LocalRuntime) -> None:
    denied_chat(runtime)
    before = record(runtime, "u1", CHAT)
    event(runtime, "Legal Hold Placed", "2025-10-10", user="u2")
    assert lock(runtime, CHAT) == ["OFF"]
    assert record(runtime, "u1", CHAT) == before


def test_chat_written_while_held_is_held_too_and_survives_deletion(runtime: LocalRuntime) -> None:
    denied_chat(runtime)
    event(runtime, "Legal Hold Placed", "2025-10-10")
    runtime.put_chat(CHAT, body=b'{"n": 2}', at=t("2025-10-15"))
    runtime.settle()
    event(runtime, "Chat Deleted", "2025-11-01")
    assert len(versions(runtime, CHAT)) == 2
    event(runtime, "Legal Hold Released", "2025-11-10")
    assert versions(runtime, CHAT) == []


def test_legal_hold_on_a_user_spanning_many_listing_pages_holds_every_chat(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_store, "LIST_PAGE", 3)  # S3 pages at 1000; a small page makes many of them
    set_consent(runtime, "u1", "denied", t("2025-09-01"))
    keys = [f"chats/u1/c{n:02d}.json" for n in range(7)]
    for key in keys:
        for n in range(2):
            runtime.put_chat(key, body=b'{"n": %d}' % n, at=t("2025-10-01"))
    runtime.settle()
    event(runtime, "Legal Hold Placed", "2025-10-10", key=None)
    assert all(lock(runtime, k) == ["ON", "ON"] for k in keys)
    event(runtime, "Legal Hold Released", "2025-10-20", key=None)
    assert all(lock(runtime, k) == ["OFF", "OFF"] for k in keys)
    assert not any(record(runtime, "u1", k).held for k in keys)  # type: ignore[union-attr]
