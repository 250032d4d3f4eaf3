"""POLICY.md, row by row, against the pure core."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from consentry.service.policy import (
    Chat,
    PolicyError,
    Reason,
    chat_key,
    decide,
    decision_tags,
    is_incognito,
    load_policy,
    parse_consent,
    parse_instant,
)
from support import t

POLICY = load_policy()
GRANT = t("2025-09-01")


def consent(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": "u1",
        "tier": "pro",
        "training_consent": "granted",
        "consent_changed_at": "2025-09-01T00:00:00Z",
        "version": Decimal(3),
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def chat(at: str = "2025-10-01", **overrides: Any) -> Chat:
    return replace(Chat(key="chats/u1/c1.json", user_id="u1", last_activity=t(at)), **overrides)


def reason(chat_: Chat, item: dict[str, Any] | None) -> Reason:
    return decide(chat_, parse_consent(item, POLICY, "u1"), POLICY).reason


# -- eligibility: one test per row, in order --------------------------------------


def test_granted_consumer_chat_after_grant_is_eligible() -> None:
    decision = decide(chat(), parse_consent(consent(), POLICY), POLICY)
    assert decision.eligible and decision.reason is Reason.CONSENT_GRANTED


def test_rule1_deleted_chat_is_not_eligible() -> None:
    assert reason(chat(deleted_at=t("2025-10-02")), consent()) is Reason.DELETED


def test_rule2_missing_record_is_pending() -> None:
    assert reason(chat(), None) is Reason.CONSENT_PENDING


@pytest.mark.parametrize(
    "overrides",
    [
        {"tier": None},
        {"tier": "platinum"},
        {"tier": 7},
        {"training_consent": "yes"},
        {"training_consent": True},
        {"consent_changed_at": "not a date"},
        {"consent_changed_at": "2025-09-01T00:00:00"},  # no zone: not an instant
        {"consent_changed_at": None},  # granted without consent_changed_at
        {"tier_changed_at": "yesterday"},
        {"retention_days": Decimal(0)},
        {"retention_days": Decimal(3651)},
        {"retention_days": Decimal("30.5")},
        {"retention_days": "30"},
        {"version": "three"},
        {"version": None},  # missing: no stale record could be told from a newer one
        {"version": Decimal(-1)},
        {"version": Decimal("2.5")},
        {"version": True},
    ],
    ids=repr,
)
def test_rule3_invalid_record_fails_closed(overrides: dict[str, Any]) -> None:
    decision = decide(chat(), parse_consent(consent(**overrides), POLICY), POLICY)
    assert decision.reason is Reason.INVALID_CONSENT_RECORD
    assert not decision.eligible
    assert decision.retention_days == POLICY.default_days


@pytest.mark.parametrize("value", ["denied", "pending"])
def test_denied_or_pending_without_consent_changed_at_is_valid(value: str) -> None:
    record = parse_consent(consent(training_consent=value, consent_changed_at=None), POLICY)
    assert record.valid


def test_absent_training_consent_means_pending() -> None:
    assert reason(chat(), consent(training_consent=None, consent_changed_at=None)) is Reason.CONSENT_PENDING


@pytest.mark.parametrize("tier", sorted(POLICY.commercial_tiers))
def test_rule4_commercial_tiers_are_exempt(tier: str) -> None:
    assert reason(chat(), consent(tier=tier)) is Reason.COMMERCIAL_TIER


@pytest.mark.parametrize("tier", sorted(POLICY.consumer_tiers))
def test_consumer_tiers_can_be_eligible(tier: str) -> None:
    assert reason(chat(), consent(tier=tier)) is Reason.CONSENT_GRANTED


def test_rule5_denied() -> None:
    assert reason(chat(), consent(training_consent="denied")) is Reason.CONSENT_DENIED


def test_rule5_pending() -> None:
    assert reason(chat(), consent(training_consent="pending")) is Reason.CONSENT_PENDING


def test_rule6_activity_before_grant_is_before_consent() -> None:
    assert reason(chat("2025-08-31T23:59:59"), consent()) is Reason.BEFORE_CONSENT


def test_rule6_activity_exactly_at_grant_is_eligible() -> None:
    assert reason(chat("2025-09-01T00:00:00"), consent()) is Reason.CONSENT_GRANTED


def test_rule6_activity_before_tier_change_to_consumer_is_before_consent() -> None:
    item = consent(tier_changed_at="2025-11-01T00:00:00Z")
    assert reason(chat("2025-10-01"), item) is Reason.BEFORE_CONSENT
    assert reason(chat("2025-11-01"), item) is Reason.CONSENT_GRANTED


def test_rule7_activity_before_policy_effective_date() -> None:
    item = consent(consent_changed_at="2025-01-01T00:00:00Z")
    assert reason(chat("2025-08-27T23:59:59"), item) is Reason.BEFORE_POLICY
    assert reason(chat("2025-08-28T00:00:00"), item) is Reason.CONSENT_GRANTED


def test_rule8_incognito_is_never_trained() -> None:
    assert reason(chat(incognito=True), consent()) is Reason.INCOGNITO


@pytest.mark.parametrize(
    "value,expected", [("true", True), ("TRUE", True), ("True", True), ("false", False), ("", False)]
)
def test_incognito_metadata_any_case(value: str, expected: bool) -> None:
    assert is_incognito({"incognito": value}, POLICY) is expected
    assert is_incognito({"Incognito": value}, POLICY) is expected


# -- the order in which reasons win ---------------------------------------------------


def test_deleted_wins_over_everything() -> None:
    assert reason(chat("2025-01-01", deleted_at=t("2025-10-01"), incognito=True), None) is Reason.DELETED


def test_pending_record_missing_wins_over_incognito() -> None:
    assert reason(chat(incognito=True), None) is Reason.CONSENT_PENDING


def test_invalid_wins_over_commercial() -> None:
    assert reason(chat(), consent(tier="team", retention_days=Decimal(0))) is Reason.INVALID_CONSENT_RECORD


def test_commercial_wins_over_denied() -> None:
    assert reason(chat(), consent(tier="enterprise", training_consent="denied")) is Reason.COMMERCIAL_TIER


def test_denied_wins_over_before_consent() -> None:
    assert reason(chat("2025-01-01"), consent(training_consent="denied")) is Reason.CONSENT_DENIED


def test_before_consent_wins_over_before_policy() -> None:
    item = consent(consent_changed_at="2025-09-01T00:00:00Z")
    assert reason(chat("2025-08-01"), item) is Reason.BEFORE_CONSENT


def test_before_policy_wins_over_incognito() -> None:
    item = consent(consent_changed_at="2025-01-01T00:00:00Z")
    assert reason(chat("2025-08-01", incognito=True), item) is Reason.BEFORE_POLICY


# -- retention ------------------------------------------------------------------------


def test_retention_deleted_is_due_at_once_on_the_day_of_deletion() -> None:
    decision = decide(chat(deleted_at=t("2026-03-04T05:06:07")), parse_consent(consent(), POLICY), POLICY)
    assert decision.retention_days == 0
    assert decision.expires_at == t("2026-03-04T05:06:07")
    assert decision.expires_on == "2026-03-04"
    assert decision.is_due(t("2026-03-04T05:06:07"))


def test_retention_commercial_with_retention_days() -> None:
    decision = decide(chat(), parse_consent(consent(tier="team", retention_days=Decimal(90)), POLICY), POLICY)
    assert decision.retention_days == 90
    assert decision.expires_at == t("2025-10-01") + timedelta(days=90)


def test_retention_eligible_is_five_years() -> None:
    decision = decide(chat(), parse_consent(consent(), POLICY), POLICY)
    assert decision.retention_days == 1825
    assert decision.expires_on == "2030-09-30"


@pytest.mark.parametrize(
    "chat_,item",
    [
        (chat(), consent(training_consent="denied")),
        (chat(), None),
        (chat(), consent(tier="bogus")),
        (chat("2025-08-01"), consent()),
        (chat(incognito=True), consent()),
        (chat(), consent(tier="team")),
        (chat(), consent(training_consent="denied", retention_days=Decimal(400))),  # consumer: days ignored
    ],
    ids=["denied", "pending", "invalid", "before-consent", "incognito", "commercial-without-days", "consumer-days"],
)
def test_retention_anything_else_is_30_days(chat_: Chat, item: dict[str, Any] | None) -> None:
    decision = decide(chat_, parse_consent(item, POLICY, "u1"), POLICY)
    assert decision.retention_days == 30
    assert decision.expires_at == chat_.last_activity + timedelta(days=30)


def test_due_when_expiry_is_at_or_before_now() -> None:
    decision = decide(chat(), parse_consent(consent(training_consent="denied"), POLICY), POLICY)
    assert not decision.is_due(decision.expires_at - timedelta(microseconds=1))
    assert decision.is_due(decision.expires_at)


# -- tags ------------------------------------------------------------------------------


def test_tags_of_a_decision() -> None:
    decision = decide(chat(), parse_consent(consent(), POLICY), POLICY)
    assert decision_tags(decision, POLICY) == {
        "training-eligible": "true",
        "training-reason": "consent-granted",
        "retention-days": "1825",
        "expires-on": "2030-09-30",
        "policy-version": "consumer-terms-2025@1",
    }


# -- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,user,kind",
    [
        ("chats/u1/c1.json", "u1", "chat"),
        ("code-sessions/u1/s1.jsonl", "u1", "code-session"),
        ("chats/user with space+plus%/c 1.json", "user with space+plus%", "chat"),
        ("chats/ユーザー/会話.json", "ユーザー", "chat"),
    ],
)
def test_our_keys(key: str, user: str, kind: str) -> None:
    found = chat_key(key, POLICY)
    assert found is not None and found.user_id == user and found.kind == kind


@pytest.mark.parametrize(
    "key",
    [
        "chats/u1/c1.txt",
        "chats/u1/c1.jsonl",
        "code-sessions/u1/s1.json",
        "chats/u1/sub/c1.json",
        "chats/c1.json",
        "chats//c1.json",
        "chats/u1/.json",
        "other/u1/c1.json",
        "Chats/u1/c1.json",
        "archive/chats/u1/c1.json",
    ],
)
def test_keys_that_are_not_ours(key: str) -> None:
    assert chat_key(key, POLICY) is None


# -- instants and the policy file -----------------------------------------------------------


def test_instants_with_offsets_become_utc() -> None:
    assert parse_instant("2025-09-01T02:00:00+02:00") == t("2025-09-01T00:00:00")


def test_bundled_policy() -> None:
    assert POLICY.label == "consumer-terms-2025@1"
    assert POLICY.effective_at == t("2025-08-28")
    assert POLICY.eligible_days == 1825 and POLICY.default_days == 30


@pytest.mark.parametrize(
    "edit,message",
    [
        (("eligible_days = 1825", "eligible_days = 0"), "eligible_days"),
        (('effective_at = "2025-08-28T00:00:00Z"', 'effective_at = "soon"'), "effective_at"),
        (('consumer = ["free", "pro", "max"]', 'consumer = ["free", "team"]'), "both consumer and commercial"),
        (('prefix = "chats/"', 'prefix = "chats"'), "prefix must end"),
        (("[tags]", "[tagz]"), "[tags]"),
        (("version = 1", 'version = "1"'), "version"),
        (("[policy]", "[policy"), "not valid TOML"),
    ],
)
def test_bad_policy_files_are_refused_with_a_clear_error(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = (Path(__file__).parents[2] / "shared/consentry/service/policies/consumer-terms-2025.toml").read_text()
    assert edit[0] in text
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(PolicyError, match=message.replace("[", r"\[")):
        load_policy(path)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.toml")
