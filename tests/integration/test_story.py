"""The end-to-end story of POLICY.md: every object's tags and existence checked at each step.

A user writes chats while pending, opts in, writes more, reopens an old chat,
opts out, and the sweep runs a year later.
"""

from __future__ import annotations

from consentry.local import LocalRuntime
from support import exists, record, set_consent, t, tags

PENDING_1 = "chats/ana/while-pending-1.json"
PENDING_2 = "code-sessions/ana/while-pending-2.jsonl"
AFTER_1 = "chats/ana/after-opt-in-1.json"
AFTER_2 = "chats/ana/after-opt-in-2.json"
BOB = "chats/bob/team-chat.json"


def state(rt: LocalRuntime, key: str) -> tuple[str, str, str] | None:
    """(eligible, reason, expires-on) of an object, or None when it no longer exists."""
    if not exists(rt, key):
        return None
    found = tags(rt, key)
    return found["training-eligible"], found["training-reason"], found["expires-on"]


def test_pending_opt_in_reopen_opt_out_and_a_sweep_a_year_later(runtime: LocalRuntime) -> None:
    rt = runtime
    set_consent(rt, "ana", "pending", None, version=1)  # an existing user, not yet asked
    set_consent(rt, "bob", "granted", t("2025-09-01"), tier="team", version=1, retention_days=400)

    # 1. Ana writes while pending; Bob is on a commercial tier.
    rt.put_chat(PENDING_1, at=t("2025-09-10T09:00:00"))
    rt.put_chat(PENDING_2, at=t("2025-09-12T09:00:00"))
    rt.put_chat(BOB, at=t("2025-09-15T09:00:00"))
    rt.settle()
    assert state(rt, PENDING_1) == ("false", "consent-pending", "2025-10-10")
    assert state(rt, PENDING_2) == ("false", "consent-pending", "2025-10-12")
    assert state(rt, BOB) == ("false", "commercial-tier", "2026-10-20")

    # 2. Ana answers the pop-up: training on. Old chats stay out (before consent).
    set_consent(rt, "ana", "granted", t("2025-09-20T00:00:00"), version=2)
    rt.settle()
    assert state(rt, PENDING_1) == ("false", "before-consent", "2025-10-10")
    assert state(rt, PENDING_2) == ("false", "before-consent", "2025-10-12")

    # 3. She writes more: eligible, kept five years.
    rt.put_chat(AFTER_1, at=t("2025-09-21T10:00:00"))
    rt.put_chat(AFTER_2, at=t("2025-09-22T10:00:00"))
    rt.settle()
    assert state(rt, AFTER_1) == ("true", "consent-granted", "2030-09-20")
    assert state(rt, AFTER_2) == ("true", "consent-granted", "2030-09-21")

    # 4. She reopens an archived chat from the pending time: eligible now, retention restarts.
    rt.chat_event("Chat Archived", {"user_id": "ana", "key": PENDING_1}, t("2025-09-11T00:00:00"))
    rt.chat_event("Chat Reopened", {"user_id": "ana", "key": PENDING_1}, t("2025-10-01T08:00:00"))
    rt.settle()
    assert state(rt, PENDING_1) == ("true", "consent-granted", "2030-09-30")
    assert state(rt, PENDING_2) == ("false", "before-consent", "2025-10-12")

    # 5. She opts out: every stored chat becomes ineligible, retention 30 days from last activity.
    set_consent(rt, "ana", "denied", t("2025-10-05T00:00:00"), version=3)
    rt.settle()
    assert state(rt, PENDING_1) == ("false", "consent-denied", "2025-10-31")
    assert state(rt, PENDING_2) == ("false", "consent-denied", "2025-10-12")
    assert state(rt, AFTER_1) == ("false", "consent-denied", "2025-10-21")
    assert state(rt, AFTER_2) == ("false", "consent-denied", "2025-10-22")
    assert state(rt, BOB) == ("false", "commercial-tier", "2026-10-20")

    # 6. A year later the sweep runs: Ana's logs are gone, every version; Bob's contract keeps his.
    rt.sweep(t("2026-09-15T03:00:00"))
    rt.settle()
    for key in (PENDING_1, PENDING_2, AFTER_1, AFTER_2):
        assert state(rt, key) is None
        gone = record(rt, "ana", key)
        assert gone is not None and gone.state == "removed" and not gone.eligible
    assert state(rt, BOB) == ("false", "commercial-tier", "2026-10-20")

    # 7. And when Bob's retention ends, his goes too.
    rt.sweep(t("2026-10-20T09:00:00"))  # 400 days after its write, to the second
    rt.settle()
    assert state(rt, BOB) is None
    assert rt.delivered.failures == 0
