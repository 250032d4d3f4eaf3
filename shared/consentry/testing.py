"""`consentry.testing`: a pytest plugin for a chat app's own integration tests, on moto.

Installed with the package's `local` extra, pytest loads it by itself (the
`pytest11` entry point). Its fixtures:

- `consentry_clock`: the event clock. Every event the kit sends (a chat
  written, a consent change, a chat event, the nightly sweep) happens at
  `consentry_clock.now`; `advance(days=..., hours=...)` moves it. It starts at
  the current second, which is also when moto stamps a write your own code
  makes, and never moves by itself.
- `consentry`: a deployment provisioned by `consentry.provision.provision()`
  under `moto.mock_aws` (CONTRACT.md's variables set in the environment, so
  your code's default boto3 clients find it), with a runtime that delivers
  every pending event to the handlers as Lambda would, after each step.

Example (the README's):
    >>> def test_opted_out_chat_is_not_for_training(consentry, consentry_clock):  # doctest: +SKIP
    ...     consentry.set_consent("ava", "granted", tier="free")
    ...     consentry.write_chat("chats/ava/c1.json", b'{"text": "hi"}')
    ...     assert consentry.training_reader.can_read("chats/ava/c1.json")
    ...     consentry_clock.advance(days=1)
    ...     consentry.set_consent("ava", "denied")
    ...     assert not consentry.training_reader.can_read("chats/ava/c1.json")

The bucket policy's reader statements carry Conditions, which moto does not
evaluate (`consentry.local.correct_moto`); `training_reader` decides as those
statements do on AWS: the current version only, and only while it is tagged
eligible. `tests/parity` holds the statements themselves to that rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from consentry.local import LocalRuntime

# Fake credentials and a region: moto takes any, and none of the user's real ones may leak into a test.
TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
PREFIX = "consentry-test"


class EventClock:
    """The instant the kit's events happen at; moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)

    def advance(self, **delta: float) -> datetime:
        """Move forward by `timedelta(**delta)` (days=, hours=, minutes=, seconds=); the new instant."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError("the event clock only moves forward")
        self.now += step
        return self.now


@dataclass
class TrainingReader:
    """Reads chats as the training pipeline's role does: the current version, only while tagged eligible."""

    runtime: LocalRuntime
    eligible_tag: str

    def can_read(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        s3 = self.runtime.s3
        try:
            found = s3.get_object_tagging(Bucket=self.runtime.bucket, Key=key)["TagSet"]
        except ClientError:
            return False  # gone (or never written)
        return any(tag["Key"] == self.eligible_tag and tag["Value"] == "true" for tag in found)

    def read(self, key: str) -> bytes:
        """The chat's body, or PermissionError where the bucket policy would answer AccessDenied."""
        if not self.can_read(key):
            raise PermissionError(f"AccessDenied: the training reader may not read {key!r}")
        body: bytes = self.runtime.s3.get_object(Bucket=self.runtime.bucket, Key=key)["Body"].read()
        return body


class Deployment:
    """A provisioned deployment on moto and its runtime: each step happens at the clock's instant, then every
    pending event is delivered."""

    def __init__(self, runtime: LocalRuntime, clock: EventClock) -> None:
        from consentry.service.policy import load_policy

        self.runtime = runtime
        self.clock = clock
        self.env: Mapping[str, str] = runtime.env
        self.bucket = runtime.bucket
        self.policy = load_policy(runtime.env.get("POLICY_FILE") or None)
        self.training_reader = TrainingReader(runtime, self.policy.tags.eligible)

    def settle(self) -> None:
        """Deliver what your own code caused (its writes to the bucket, its consent-table changes)."""
        self.runtime.settle()

    def write_chat(self, key: str, body: bytes = b"{}") -> str:
        """Write a chat object as the chat app does, at the clock's instant; its version id."""
        version = self.runtime.put_chat(key, body, at=self.clock.now)
        self.settle()
        return version

    def set_consent(self, user_id: str, answer: str | None = None, *, tier: str | None = None) -> dict[str, Any]:
        """Change the user's consent record as the account service does (granted, denied, pending; a tier)."""
        record = self.runtime.set_consent(user_id, self.clock.now, answer=answer, tier=tier)
        self.settle()
        return record

    def chat_event(self, detail_type: str, user_id: str, key: str | None = None) -> None:
        """A `chat.app` event (Chat Reopened, Chat Archived, Chat Deleted, Erasure Requested, Legal Hold ...)."""
        detail = {"user_id": user_id, **({"key": key} if key else {})}
        self.runtime.chat_event(detail_type, detail, self.clock.now)
        self.settle()

    def sweep(self) -> dict[str, Any]:
        """The nightly sweep at the clock's instant, its work delivered."""
        result = self.runtime.sweep(self.clock.now)
        self.settle()
        return result

    def exists(self, key: str) -> bool:
        listed = self.runtime.s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        return any(v["Key"] == key for v in listed.get("Versions", []))

    def tags(self, key: str) -> dict[str, str]:
        found = self.runtime.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {tag["Key"]: tag["Value"] for tag in found}


@pytest.fixture
def consentry_clock() -> EventClock:
    """The event clock of the `consentry` fixture."""
    return EventClock()


@pytest.fixture
def consentry(consentry_clock: EventClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A deployment provisioned under `moto.mock_aws`, its variables in the environment, events delivered."""
    from moto import mock_aws

    from consentry.local import LocalRuntime, correct_moto
    from consentry.provision import provision
    from consentry.service import settings

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "POLICY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"))
    correct_moto()
    with mock_aws():
        settings.current.cache_clear()
        env = provision(PREFIX)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Deployment(LocalRuntime(env), consentry_clock)
    settings.current.cache_clear()


__all__ = ["Deployment", "EventClock", "TrainingReader", "consentry", "consentry_clock"]
