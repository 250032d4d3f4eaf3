"""The adapters' reads and lease for the operator's CLI: the CLI asks these, never lists S3 or scans the ledger."""

from __future__ import annotations

from datetime import timedelta

from consentry.local import LocalRuntime
from support import set_consent, t

CHAT = "chats/u1/c1.json"


def test_held_due_lists_the_live_held_chats_due_by_then_and_nothing_else(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", t("2025-09-01"))  # 30 days: due early in November
    for key in (CHAT, "chats/u1/c2.json", "chats/u1/c3.json"):
        runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()
    for key in (CHAT, "chats/u1/c2.json"):
        runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": key}, t("2025-10-10"))
    runtime.settle()
    ledger = runtime.enforcer().ledger

    assert ledger.held_due(t("2025-10-15")) == []  # held, not yet due
    held = ledger.held_due(t("2025-12-01"))
    assert [(r.key, r.user_id, r.held) for r in held] == [(CHAT, "u1", True), ("chats/u1/c2.json", "u1", True)]
    assert all(r.expires_at <= t("2025-12-01") for r in held)


def test_sized_versions_are_exactly_the_keys_with_their_sizes_oldest_first(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat(CHAT, body=b"1", at=t("2025-10-01"))
    runtime.put_chat(CHAT, body=b"22", at=t("2025-10-02"))
    runtime.put_chat(CHAT + "l", body=b"333", at=t("2025-10-03"))  # the key is its prefix: not listed
    runtime.settle()
    store = runtime.enforcer().chats

    found = store.sized_versions(CHAT)
    assert [(v.key, size, v.delete_marker) for v, size in found] == [(CHAT, 1, False), (CHAT, 2, False)]
    assert {v.version_id for v, _ in found} == {v.version_id for v in store.versions(CHAT)}
    assert store.sized_versions("chats/u1/none.json") == []


def test_current_objects_are_in_key_order_after_the_start(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    keys = ["chats/u1/b.json", "chats/u1/a.json", "chats/u1/c.json"]
    for key in keys:
        runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()
    store = runtime.enforcer().chats

    assert [key for key, _ in store.current_objects("chats/")] == sorted(keys)
    assert [key for key, _ in store.current_objects("chats/", "chats/u1/a.json")] == sorted(keys)[1:]
    assert [key for key, _ in store.current_objects("code-sessions/")] == []


def test_a_lease_is_refused_while_another_holds_it_and_free_once_released_or_run_out(runtime: LocalRuntime) -> None:
    ledger = runtime.enforcer().ledger
    clock = t("2026-01-01")
    until = clock + timedelta(minutes=15)

    assert ledger.take_lease("sweep", "first", until, clock) is None
    held = ledger.take_lease("sweep", "second", until, clock + timedelta(minutes=1))
    assert held is not None and held["holder"] == "first"
    assert ledger.take_lease("other", "second", until, clock) is None  # leases by name

    ledger.release_lease("sweep", "second", clock)  # not the holder: nothing happens
    assert ledger.take_lease("sweep", "second", until, clock + timedelta(minutes=1)) is not None
    ledger.release_lease("sweep", "first", clock)
    assert ledger.take_lease("sweep", "second", until, clock + timedelta(minutes=1)) is None

    later = until + timedelta(minutes=16)  # the second never released: its lease ran out
    assert ledger.take_lease("sweep", "third", later + timedelta(minutes=15), later) is None
