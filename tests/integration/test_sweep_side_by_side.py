"""Two sweeps of one due chat side by side (a nightly shard and a reviewed plan, or a redelivered page):
the chat is removed once, and counted once, by the sweep whose tombstone the ledger keeps."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from consentry.local import LocalRuntime
from consentry.service.aws.chat_store import ObjectVersion
from consentry.service.aws.ledger import DueChat
from consentry.service.flows.enforcer import Enforcer
from consentry.service.flows.sweep import SweepResult, due, sweep_chats
from consentry.service.records import State
from support import exists, record, set_consent, t

CHAT = "chats/u1/c1.json"
NOW = t("2025-12-01")


def _due_chat(rt: LocalRuntime) -> list[DueChat]:
    """A chat of a user who denied consent, written twice: 30-day retention, due at NOW."""
    set_consent(rt, "u1", "denied", t("2025-09-01"))
    for n in range(2):
        rt.put_chat(CHAT, body=b'{"n": %d}' % n, at=t("2025-10-01"))
    rt.settle()
    enforcer = rt.enforcer()
    return [enforcer.ledger.due_chat(r) for r in due(enforcer, NOW)]


def _interleaved(rt: LocalRuntime, monkeypatch: pytest.MonkeyPatch, chats: list[DueChat]) -> tuple[SweepResult, ...]:
    """Sweep A claims, lists, marks and checks; then sweep B runs whole; then A purges and records."""
    first, second = rt.enforcer(), rt.enforcer()
    results: list[SweepResult] = []
    purge = first.chats.remove_versions

    def b_runs_first(versions: Sequence[ObjectVersion]) -> set[str]:
        if not results:
            results.append(sweep_chats(second, chats, NOW))
        return purge(versions)

    monkeypatch.setattr(first.chats, "remove_versions", b_runs_first)
    a = sweep_chats(first, chats, NOW)
    assert results, "sweep B never ran between A's check and A's purge"
    return a, results[0]


def test_only_the_sweep_that_writes_the_tombstone_counts_the_removal(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = _due_chat(runtime)
    assert len(chats) == 1
    a, b = _interleaved(runtime, monkeypatch, chats)

    assert b.by_key == {CHAT: "removed"}
    assert a.by_key == {CHAT: "skipped:taken"}
    assert a.summary()["removed"] + b.summary()["removed"] == 1
    assert a.summary()["skipped"] == 1
    assert not exists(runtime, CHAT)
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == State.REMOVED


def test_two_sweeps_one_after_the_other_remove_and_count_once(runtime: LocalRuntime) -> None:
    chats = _due_chat(runtime)
    enforcer: Enforcer = runtime.enforcer()
    first = sweep_chats(enforcer, chats, NOW)
    again = sweep_chats(runtime.enforcer(), chats, NOW)  # a redelivered page: nothing left to claim
    assert first.summary() == {"removed": 1, "held": 0, "kept": 0, "skipped": 0}
    assert again.summary() == {"removed": 0, "held": 0, "kept": 0, "skipped": 1}
