"""S3's 10-tag limit and foreign tags: the tag adapter's plan."""

from __future__ import annotations

from consentry.service.aws.chat_store import S3_TAG_LIMIT, plan_tags

OURS = {
    "training-eligible": "true",
    "training-reason": "consent-granted",
    "retention-days": "1825",
    "expires-on": "2030-09-30",
    "policy-version": "consumer-terms-2025@1",
}


def foreign(n: int) -> dict[str, str]:
    return {f"team-{i}": str(i) for i in range(n)}


def test_foreign_tags_are_kept_beside_ours() -> None:
    plan = plan_tags(foreign(2), OURS, "training-eligible")
    assert plan.fits and plan.tags == {**foreign(2), **OURS}


def test_writer_values_of_our_keys_are_overwritten() -> None:
    current = {**foreign(1), "training-eligible": "true", "training-reason": "forged"}
    plan = plan_tags(current, {**OURS, "training-eligible": "false"}, "training-eligible")
    assert plan.tags["training-eligible"] == "false"
    assert plan.tags["training-reason"] == "consent-granted"


def test_five_foreign_tags_still_fit() -> None:
    assert plan_tags(foreign(5), OURS, "training-eligible").fits


def test_six_foreign_tags_leave_only_a_false_eligibility_tag() -> None:
    plan = plan_tags(foreign(6), OURS, "training-eligible")
    assert not plan.fits
    assert plan.tags == {**foreign(6), "training-eligible": "false"}


def test_writer_true_is_replaced_by_false_when_ours_do_not_fit() -> None:
    plan = plan_tags({**foreign(9), "training-eligible": "true"}, OURS, "training-eligible")
    assert plan.tags == {**foreign(9), "training-eligible": "false"}
    assert len(plan.tags) <= S3_TAG_LIMIT


def test_ten_foreign_tags_leave_no_slot_and_no_eligibility_tag() -> None:
    plan = plan_tags(foreign(10), OURS, "training-eligible")
    assert not plan.fits and plan.tags == foreign(10)
