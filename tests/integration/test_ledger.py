"""The ledger adapter's answers that flows rely on instead of its keys (on moto)."""

from __future__ import annotations

from consentry.local import LocalRuntime
from consentry.service.aws.ledger import shard_names
from consentry.service.flows.sweep import due, sweep_chats
from consentry.service.records import State
from support import ledger, record, set_consent, t

CHAT = "chats/u1/c1.json"
OTHER = "chats/u1/c2.json"


def _denied_chats(rt: LocalRuntime, *keys: str) -> None:
    """Chats of a user who denied consent: 30-day retention, due two months later."""
    set_consent(rt, "u1", "denied", t("2025-09-01"))
    for key in keys:
        rt.put_chat(key, at=t("2025-10-01"))
    rt.settle()


def test_due_chat_names_a_record_as_the_due_index_does_so_that_claim_takes_it(runtime: LocalRuntime) -> None:
    _denied_chats(runtime, CHAT)
    enforcer = runtime.enforcer()
    now = t("2025-12-01")
    shards = shard_names(enforcer.settings.due_shards)
    indexed = [chat for shard in shards for chat in enforcer.ledger.due(shard, now)[0]]
    [stored] = due(enforcer, now)
    assert indexed == [enforcer.ledger.due_chat(stored)]
    claimed = enforcer.ledger.claim(enforcer.ledger.due_chat(stored), now)
    assert claimed is not None and claimed.state == State.REMOVING
    assert enforcer.ledger.claim(enforcer.ledger.due_chat(stored), t("2025-10-02")) is None  # not due then


def test_deletions_name_each_deleted_chat_by_its_pseudonym_tombstones_included(runtime: LocalRuntime) -> None:
    _denied_chats(runtime, CHAT, OTHER)
    runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": OTHER}, t("2025-10-05"))
    runtime.settle()
    for key in (CHAT, OTHER):
        runtime.chat_event("Chat Deleted", {"user_id": "u1", "key": key}, t("2025-10-10"))
    runtime.settle()

    names = runtime.enforcer().names
    found = {d.key_hash: d for d in ledger(runtime).deletions("u1")}
    assert set(found) == {names.key(CHAT), names.key(OTHER)}
    removed, held = found[names.key(CHAT)], found[names.key(OTHER)]
    assert (removed.state, removed.held, removed.deleted_at) == (State.REMOVED, False, t("2025-10-10"))
    assert (held.state, held.held) == (State.DELETED, True)
    assert list(ledger(runtime).deletions("u2")) == []


def test_the_audit_log_of_the_ledger_records_a_page_only_for_an_entry_that_exists(runtime: LocalRuntime) -> None:
    log = ledger(runtime).audit_log()
    entry = log.start("sweep", "arn:aws:iam::123456789012:user/op", t("2025-12-01"), "test", {}, names_someone=False)
    assert log.page_done(entry.id, "p1", {"removed": 1})
    assert not log.page_done("2025-12-01T00:00:00Z#00000000", "p1", {"removed": 1})  # no such entry: nothing
    stored = log.get(entry.id)
    assert stored is not None and stored.pages == {"p1": {"removed": 1}}


def test_an_erasure_is_recorded_once(runtime: LocalRuntime) -> None:
    book = ledger(runtime)
    assert book.start_erasure("u1", t("2025-11-01"), "r1")
    assert not book.start_erasure("u1", t("2025-11-01"), "r1")
    assert book.erasure_range_done("u1", t("2025-11-02"), "0") is None  # no such request: nothing written
    assert [e.request_id for e in book.erasures("u1")] == ["r1"]


def test_a_sweep_of_a_chat_gone_from_the_ledger_claims_nothing(runtime: LocalRuntime) -> None:
    _denied_chats(runtime, CHAT)
    enforcer = runtime.enforcer()
    [stored] = due(enforcer, t("2025-12-01"))
    runtime.chat_event("Chat Deleted", {"user_id": "u1", "key": CHAT}, t("2025-11-01"))
    runtime.settle()
    result = sweep_chats(enforcer, [enforcer.ledger.due_chat(stored)], t("2025-12-01"))
    assert result.summary()["removed"] == 0
    assert record(runtime, "u1", CHAT).state == State.REMOVED  # type: ignore[union-attr]
