"""The lifecycle backstop never deletes a chat the policy still keeps.

S3 counts days from creation; the policy counts from last activity, and a reopened chat keeps
its object. So no rule may expire a current version by age unless it is tagged deleted.
"""

from __future__ import annotations

from typing import Any

from consentry.service.policy import load_policy

from .synthesis import Synth

POLICY = load_policy()


def rules(synth: Synth) -> list[dict[str, Any]]:
    bucket = synth.resources[synth.logical_id(synth.stack.chats.bucket.bucket_arn)]
    found: list[dict[str, Any]] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    return found


def test_only_chats_tagged_deleted_expire_by_age(created: Synth) -> None:
    expiring = [r for r in rules(created) if "ExpirationInDays" in r]
    assert expiring, "the deleted-chat backstop is missing"
    for rule in expiring:
        assert rule["TagFilters"] == [{"Key": POLICY.tags.reason, "Value": "deleted"}]
        assert rule["ExpirationInDays"] == 1
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_no_rule_follows_retention_days_or_expiry_tags(created: Synth) -> None:
    # A rule keyed on retention-days would delete a reopened chat early (days count from creation).
    keys = {f["Key"] for r in rules(created) for f in r.get("TagFilters", [])}
    assert keys == {POLICY.tags.reason}


def test_noncurrent_versions_expire_and_incomplete_uploads_abort(created: Synth) -> None:
    versions = [r for r in rules(created) if "TagFilters" not in r]
    assert {r["Prefix"] for r in versions} == {p.prefix for p in POLICY.keys}
    for rule in versions:
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": POLICY.default_days}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        assert rule["ExpiredObjectDeleteMarker"] is True
        assert "ExpirationInDays" not in rule


def test_rules_stay_inside_the_chat_prefixes(created: Synth) -> None:
    assert all(r["Prefix"] in {p.prefix for p in POLICY.keys} for r in rules(created))
    assert all(r["Status"] == "Enabled" for r in rules(created))


def test_attached_bucket_lifecycle_is_left_to_its_owner(attached: Synth) -> None:
    # CloudFormation cannot change an imported bucket; README lists the rules to add by hand.
    buckets = attached.of_type("AWS::S3::Bucket").values()
    assert all("existing-chats" not in str(b) for b in buckets)


def test_a_version_written_during_a_hold_outlives_any_dead_letter_wait(created: Synth) -> None:
    """Object Lock keeps a held version from lifecycle; a version whose hold failed waits for the DLQ's redrive,
    so the noncurrent rule must outlast the longest a message stays in a dead-letter queue."""
    longest = max(q["Properties"]["MessageRetentionPeriod"] for q in created.of_type("AWS::SQS::Queue").values())
    for rule in rules(created):
        if "TagFilters" not in rule:
            assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] * 86_400 > longest
