"""Invariant violations the generated histories found, pinned as deterministic regressions.

Each test replays the shrunk history hypothesis reported, in the delivery order
that exposed it, and asserts what POLICY.md requires on what S3 and the ledger
hold.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .harness import Deployment

U = "u1"
KEY = "chats/u1/c1.json"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tags(d: Deployment, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in d.s3.get_object_tagging(Bucket=d.bucket, Key=key)["TagSet"]}


def test_archive_seen_before_the_write_does_not_count_as_activity(deployment: Deployment) -> None:
    """Chat Archived is not activity: when it arrives before the write's notification, the
    last activity is still the write's time. Before the fix, the archive time was taken as
    the last activity, so a chat written before the user's grant came out eligible."""
    d = deployment
    d.put_chat(KEY, at("2025-09-01T10:00:00"))  # written while the user is pending
    d.put_consent(
        {"user_id": U, "tier": "pro", "training_consent": "granted", "consent_changed_at": "2025-09-02T00:00:00Z", "version": 1}
    )
    d.chat_event("Chat Archived", {"user_id": U, "key": KEY}, at("2025-09-03T00:00:00"))
    d.deliver_events()  # EventBridge is faster than the S3 -> SQS batch window
    d.settle()
    assert tags(d, KEY)["training-eligible"] == "false"
    assert tags(d, KEY)["training-reason"] == "before-consent"
    record = d.ledger.get(U, KEY)
    assert record is not None
    assert record.last_activity == at("2025-09-01T10:00:00")
    assert record.state == "archived"
