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
        {
            "user_id": U,
            "tier": "pro",
            "training_consent": "granted",
            "consent_changed_at": "2025-09-02T00:00:00Z",
            "version": 1,
        }
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


def test_archiving_a_chat_the_sweep_removed_leaves_it_removed(deployment: Deployment) -> None:
    """A chat the sweep removed stays `removed` in the ledger when the app archives it later.
    Before the fix the record became `archived` (back in the due index) with no object left."""
    d = deployment
    d.put_chat(KEY, at("2025-09-01T00:00:00"))
    d.settle()
    d.schedule_sweep(at("2025-10-05T00:00:00"))  # 30 days of a pending user's chat are over
    d.settle()
    assert not d.observe().objects
    d.chat_event("Chat Archived", {"user_id": U, "key": KEY}, at("2025-10-06T00:00:00"))
    d.settle()
    record = d.ledger.get(U, KEY)
    assert record is not None
    assert record.state == "removed"
    assert not record.eligible


def test_a_chat_written_again_after_the_sweep_follows_consent_changes(deployment: Deployment) -> None:
    """A chat the sweep removed and the user then continued is a live chat again: an opt-out
    reaches it. Before the fix its record kept the state `removed`, so retags skipped it and
    it kept `training-eligible=true` after the opt-out (and the sweep never saw it again)."""
    d = deployment
    grant = {"user_id": U, "tier": "pro", "training_consent": "granted", "consent_changed_at": "2025-09-01T00:00:00Z"}
    d.put_chat(KEY, at("2025-08-30T00:00:00"))  # before the grant: 30 days
    d.put_consent({**grant, "version": 1})
    d.settle()
    d.schedule_sweep(at("2025-10-01T00:00:00"))
    d.settle()
    assert not d.observe().objects
    d.put_chat(KEY, at("2025-10-02T00:00:00"))  # the user continues the chat
    d.settle()
    assert tags(d, KEY)["training-eligible"] == "true"
    d.put_consent({**grant, "training_consent": "denied", "consent_changed_at": "2025-10-03T00:00:00Z", "version": 2})
    d.settle()
    assert tags(d, KEY)["training-eligible"] == "false"
    assert tags(d, KEY)["training-reason"] == "consent-denied"
    record = d.ledger.get(U, KEY)
    assert record is not None and record.state == "active"
    d.schedule_sweep(at("2025-11-05T00:00:00"))  # 30 days after the opt-out's last activity
    d.settle()
    assert not d.observe().objects
