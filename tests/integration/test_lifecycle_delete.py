"""POLICY.md `Chat Deleted`, end to end on moto through the chat_events handler."""

from __future__ import annotations

from consentry.local import LocalRuntime
from consentry.service.policy import Reason
from support import exists, record, set_consent, t, tags, versions

GRANT = t("2025-09-01")
CHAT = "chats/u1/c1.json"


def seeded(rt: LocalRuntime, key: str = CHAT, writes: int = 1) -> None:
    set_consent(rt, "u1", "granted", GRANT)
    for n in range(writes):
        rt.put_chat(key, body=b'{"n": %d}' % n, at=t("2025-10-01") + (t("2025-10-02") - t("2025-10-01")) * n)
    rt.settle()


def deleted(rt: LocalRuntime, key: str = CHAT, user: str = "u1", at: str = "2025-11-01") -> None:
    rt.chat_event("Chat Deleted", {"user_id": user, "key": key}, t(at))
    rt.settle()


def test_deleted_chat_loses_every_version_and_delete_marker_at_once(runtime: LocalRuntime) -> None:
    seeded(runtime, writes=2)
    runtime.s3.delete_object(Bucket=runtime.bucket, Key=CHAT)  # a delete marker over the two versions
    runtime.put_chat(CHAT, body=b'{"n": 3}', at=t("2025-10-05"))
    runtime.settle()
    assert len(versions(runtime, CHAT)) == 4
    deleted(runtime)
    assert versions(runtime, CHAT) == []
    stored = record(runtime, "u1", CHAT)
    assert stored is not None
    assert (stored.state, stored.eligible, stored.reason) == ("removed", False, Reason.DELETED)
    assert stored.deleted_at == t("2025-11-01")
    assert stored.expires_on == "2025-11-01"


def test_deleted_chat_never_announced_by_a_write_is_removed_and_the_late_write_changes_nothing(
    runtime: LocalRuntime,
) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.put_chat(CHAT, at=t("2025-10-01"))  # its notification is still in the queue
    runtime.chat_event("Chat Deleted", {"user_id": "u1", "key": CHAT}, t("2025-11-01"))
    runtime.settle()
    assert not exists(runtime, CHAT)
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.reason) == ("removed", Reason.DELETED)


def test_chat_deleted_twice_writes_nothing_the_second_time(runtime: LocalRuntime) -> None:
    seeded(runtime)
    deleted(runtime)
    first = record(runtime, "u1", CHAT)
    deleted(runtime)
    assert record(runtime, "u1", CHAT) == first
    assert first is not None and first.revision == record(runtime, "u1", CHAT).revision  # type: ignore[union-attr]


def test_chat_deleted_for_another_users_key_is_rejected_and_changes_nothing(runtime: LocalRuntime) -> None:
    seeded(runtime)
    before = record(runtime, "u1", CHAT)
    deleted(runtime, user="u2")
    assert exists(runtime, CHAT)
    assert tags(runtime, CHAT)["training-eligible"] == "true"
    assert record(runtime, "u1", CHAT) == before


def test_chat_deleted_on_a_key_that_is_not_ours_deletes_nothing(runtime: LocalRuntime) -> None:
    foreign = "chats/u1/attachments/c1.json"
    runtime.s3.put_object(Bucket=runtime.bucket, Key=foreign, Body=b"{}")
    runtime.settle()
    deleted(runtime, key=foreign)
    assert exists(runtime, foreign)
    assert record(runtime, "u1", foreign) is None


def test_chat_event_keys_are_the_keys_as_stored_never_decoded(runtime: LocalRuntime) -> None:
    """POLICY.md: keys in chat-app events are exact; a user id with `+` and spaces still matches its key."""
    key = "chats/u 1+x/c é.json"
    set_consent(runtime, "u 1+x", "granted", GRANT)
    runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()
    runtime.chat_event("Chat Deleted", {"user_id": "u 1+x", "key": key}, t("2025-11-01"))
    runtime.settle()
    assert not exists(runtime, key)


def test_an_encoded_key_in_a_chat_event_names_another_key(runtime: LocalRuntime) -> None:
    """Decoding `+` would turn it into a space: the encoded form is another key (here of another user)."""
    key = "chats/u 1+x/c é.json"
    set_consent(runtime, "u 1+x", "granted", GRANT)
    runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()
    runtime.chat_event("Chat Deleted", {"user_id": "u 1+x", "key": "chats/u+1%2Bx/c+%C3%A9.json"}, t("2025-11-01"))
    runtime.settle()
    assert exists(runtime, key) and tags(runtime, key)["training-eligible"] == "true"


def test_deleted_chat_under_legal_hold_is_tagged_deleted_kept_and_removed_on_release(runtime: LocalRuntime) -> None:
    seeded(runtime, writes=2)
    runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": CHAT}, t("2025-10-20"))
    deleted(runtime)
    assert len(versions(runtime, CHAT)) == 2
    assert tags(runtime, CHAT)["training-eligible"] == "false"
    assert tags(runtime, CHAT)["training-reason"] == "deleted"
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.held, stored.eligible) == ("deleted", True, False)

    runtime.chat_event("Legal Hold Released", {"user_id": "u1", "key": CHAT}, t("2026-03-01"))
    runtime.settle()
    assert versions(runtime, CHAT) == []
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.held) == ("removed", False)


def test_write_after_deletion_follows_the_normal_rules(runtime: LocalRuntime) -> None:
    seeded(runtime)
    deleted(runtime)
    runtime.put_chat(CHAT, at=t("2025-12-01"))
    runtime.settle()
    assert tags(runtime, CHAT)["training-eligible"] == "true"
    stored = record(runtime, "u1", CHAT)
    assert stored is not None
    assert (stored.state, stored.deleted_at, stored.last_activity) == ("active", None, t("2025-12-01"))


def test_reopen_after_deletion_does_not_resurrect_the_chat(runtime: LocalRuntime) -> None:
    seeded(runtime)
    deleted(runtime)
    runtime.chat_event("Chat Reopened", {"user_id": "u1", "key": CHAT}, t("2025-12-01"))
    runtime.settle()
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.eligible) == ("removed", False)
    assert not exists(runtime, CHAT)


def test_sweep_after_deletion_finds_nothing_left_to_remove(runtime: LocalRuntime) -> None:
    seeded(runtime)
    deleted(runtime)
    runtime.sweep(t("2031-01-01"))
    runtime.settle()
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == "removed"


def test_deleted_chat_whose_tags_did_not_fit_is_recorded_removed(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.put_chat(CHAT, at=t("2025-10-01"), tags={f"writer-{n}": "x" for n in range(10)})
    runtime.settle()
    assert record(runtime, "u1", CHAT).tag_error == "tag-limit"  # type: ignore[union-attr]
    deleted(runtime)
    assert not exists(runtime, CHAT)
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and (stored.state, stored.eligible) == ("removed", False)


def test_chat_written_again_after_the_sweep_removed_it_is_live_and_follows_a_later_opt_out(
    runtime: LocalRuntime,
) -> None:
    set_consent(runtime, "u1", "pending")
    runtime.put_chat(CHAT, at=t("2025-10-01"))
    runtime.settle()
    runtime.sweep(t("2025-12-01"))
    runtime.settle()
    assert record(runtime, "u1", CHAT).state == "removed"  # type: ignore[union-attr]

    set_consent(runtime, "u1", "granted", t("2025-12-05"), version=2)
    runtime.put_chat(CHAT, at=t("2025-12-10"))
    runtime.settle()
    assert tags(runtime, CHAT)["training-eligible"] == "true"
    assert record(runtime, "u1", CHAT).state == "active"  # type: ignore[union-attr]
    set_consent(runtime, "u1", "denied", t("2025-12-20"), version=3)
    runtime.settle()
    assert tags(runtime, CHAT)["training-eligible"] == "false"


def test_chat_held_then_deleted_counts_as_held_in_a_later_erasure(runtime: LocalRuntime) -> None:

    seeded(runtime)
    runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": CHAT}, t("2025-10-20"))
    deleted(runtime)
    runtime.chat_event("Erasure Requested", {"user_id": "u1"}, t("2025-11-05"))
    runtime.settle()
    ledger = runtime.enforcer().ledger
    [done] = ledger.erasures("u1")
    assert (done.removed, done.held) == (0, 1)
    assert exists(runtime, CHAT)
    runtime.chat_event("Legal Hold Released", {"user_id": "u1", "key": CHAT}, t("2026-01-01"))
    runtime.settle()
    assert not exists(runtime, CHAT)
    [after] = ledger.erasures("u1")
    assert (after.removed, after.held) == (1, 0)
