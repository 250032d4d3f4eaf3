"""POLICY.md `tier changed`: a consumer account becoming commercial (or back) retags like a consent change."""

from __future__ import annotations

from consentry.local import LocalRuntime
from support import record, set_consent, t, tags

GRANT = t("2025-09-01")
KEYS = ["chats/u1/c1.json", "chats/u1/c2.json", "code-sessions/u1/s1.jsonl"]


def consumer_with_chats(rt: LocalRuntime) -> None:
    set_consent(rt, "u1", "granted", GRANT, tier="pro", version=1)
    for key in KEYS:
        rt.put_chat(key, at=t("2025-10-01"))
    rt.settle()
    assert all(tags(rt, k)["training-eligible"] == "true" for k in KEYS)


def test_consumer_becoming_commercial_makes_every_stored_chat_ineligible(runtime: LocalRuntime) -> None:
    consumer_with_chats(runtime)
    set_consent(runtime, "u1", "granted", GRANT, tier="team", version=2, tier_changed_at="2025-11-01T00:00:00Z")
    runtime.settle()
    for key in KEYS:
        assert tags(runtime, key)["training-eligible"] == "false"
        assert tags(runtime, key)["training-reason"] == "commercial-tier"
        assert tags(runtime, key)["retention-days"] == "30"  # commercial without retention_days
        stored = record(runtime, "u1", key)
        assert stored is not None and (stored.tier, stored.consent_version, stored.eligible) == ("team", 2, False)


def test_commercial_retention_days_apply_to_every_chat_after_the_move(runtime: LocalRuntime) -> None:
    consumer_with_chats(runtime)
    set_consent(
        runtime,
        "u1",
        "granted",
        GRANT,
        tier="enterprise",
        version=2,
        tier_changed_at="2025-11-01T00:00:00Z",
        retention_days=90,
    )
    runtime.settle()
    for key in KEYS:
        assert tags(runtime, key)["retention-days"] == "90"
        assert tags(runtime, key)["expires-on"] == "2025-12-30"


def test_commercial_back_to_consumer_needs_a_grant_after_the_move(runtime: LocalRuntime) -> None:
    consumer_with_chats(runtime)
    set_consent(runtime, "u1", "granted", GRANT, tier="team", version=2, tier_changed_at="2025-11-01T00:00:00Z")
    runtime.settle()
    runtime.put_chat("chats/u1/during-team.json", at=t("2025-11-15"))
    runtime.settle()
    # Back to consumer on Dec 1st, with a grant at the move.
    set_consent(
        runtime, "u1", "granted", t("2025-12-01"), tier="pro", version=3, tier_changed_at="2025-12-01T00:00:00Z"
    )
    runtime.settle()
    for key in [*KEYS, "chats/u1/during-team.json"]:  # the commercial time and before never become eligible
        assert tags(runtime, key)["training-eligible"] == "false"
        assert tags(runtime, key)["training-reason"] == "before-consent"
    runtime.put_chat("chats/u1/after-move.json", at=t("2025-12-02"))
    runtime.settle()
    assert tags(runtime, "chats/u1/after-move.json")["training-eligible"] == "true"


def test_tier_change_for_one_user_leaves_other_users_alone(runtime: LocalRuntime) -> None:
    consumer_with_chats(runtime)
    set_consent(runtime, "u2", "granted", GRANT, tier="max")
    runtime.put_chat("chats/u2/c1.json", at=t("2025-10-01"))
    runtime.settle()
    before = record(runtime, "u2", "chats/u2/c1.json")
    set_consent(runtime, "u1", "granted", GRANT, tier="api", version=2, tier_changed_at="2025-11-01T00:00:00Z")
    runtime.settle()
    assert record(runtime, "u2", "chats/u2/c1.json") == before
    assert tags(runtime, "chats/u2/c1.json")["training-eligible"] == "true"
