"""Training snapshots: which object versions a training run may read, and proof of it.

`take(enforcer, at)` lists the chats eligible at instant `at`; `write` stores
the list as a manifest that both the training job and S3 Batch Operations read;
`verify` re-checks a manifest just before a training run and lists every entry
revoked since (opt-out, deletion, erasure, expiry, a newer version).

What "eligible at T" means here. The ledger keeps each chat's *current*
decision (made under the newest consent version it has applied), not a
history of decisions, so a snapshot is "eligible at T, as known now": a chat
is listed when its current ledger record

- is eligible (`consent-granted`), live (`active` or `archived`, neither
  deleted nor removed) and its tags were written (no `tag_error`);
- has its last activity at or before T: the version the record names existed
  at T (a chat written or reopened after T is left out, even though an older
  version of it may have been eligible at T: its tags were rewritten since);
- is not due at T (`expires_at > T`);
- names an object version (every row of the manifest pins one version, which
  is what makes the snapshot a proof of what was read).

So a snapshot never lists a chat that is ineligible now, whatever T is: an
opt-out, deletion or erasure after T removes the chat from any later
snapshot at T. It can only leave out what was eligible at T, never add.

Manifest format (`write`/`read`): CSV, UTF-8, no header row (S3 Batch
Operations would read a header as an object), one row per entry:

    bucket,key,version_id,consent_version,policy_version,expires_on

`key` is URL-encoded as S3 Batch Operations CSV manifests require
(`consentry.aws.batch_ops.encode_key`). A Batch Operations job reads it with
`Fields=BATCH_OPERATIONS_FIELDS` (`Bucket, Key, VersionId, Ignore, Ignore,
Ignore`) and acts on exactly the listed versions.

Example:
    >>> import io
    >>> entry = SnapshotEntry("chat-logs", "chats/u 1/c1.json", "v1", 3, "consumer-terms-2025@1", "2030-09-30")
    >>> out = io.StringIO(); write([entry], out); out.getvalue()
    'chat-logs,chats/u%201/c1.json,v1,3,consumer-terms-2025@1,2030-09-30\\r\\n'
    >>> read(io.StringIO(out.getvalue())) == [entry]
    True
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from consentry.aws.batch_ops import decode_key, encode_key
from consentry.aws.ledger import ChatRecord
from consentry.flows.enforcer import Enforcer
from consentry.flows.records import chat_of
from consentry.policy import ConsentRecord, chat_key, decide

if TYPE_CHECKING:
    from mypy_boto3_s3control.literals import JobManifestFieldNameType

COLUMNS = ("bucket", "key", "version_id", "consent_version", "policy_version", "expires_on")
# `Fields` of a Batch Operations job over a snapshot, e.g. `batch_ops.create_job(..., manifest_fields=...)`.
BATCH_OPERATIONS_FIELDS: tuple[JobManifestFieldNameType, ...] = (
    "Bucket",
    "Key",
    "VersionId",
    "Ignore",
    "Ignore",
    "Ignore",
)
LIVE_STATES = ("active", "archived")


class SnapshotError(ValueError):
    """A manifest that does not parse; the message names the line."""


@dataclass(frozen=True)
class SnapshotEntry:
    """One object version a training run may read, and the decision that allowed it."""

    bucket: str
    key: str
    version_id: str
    consent_version: int
    policy_version: str  # `<policy id>@<version>`, as the `policy-version` tag
    expires_on: str  # `YYYY-MM-DD`, as the `expires-on` tag


@dataclass(frozen=True)
class Revocation:
    """A snapshot entry that must not be trained on any more, and why.

    `reason`: a policy reason code of the current decision (`consent-denied`,
    `consent-pending`, `commercial-tier`, `before-consent`, `incognito`,
    `invalid-consent-record`, ...), or one of `deleted` (Chat Deleted),
    `erased` (Erasure Requested), `expired` (retention over, or swept),
    `version-changed` (the chat was written again: another version is the
    chat now), `version-gone` (the listed version no longer exists),
    `tags-not-eligible` (S3 does not carry `training-eligible=true` on the
    version), `tag-limit` (our tags never fitted on the object),
    `not-recorded` (the ledger does not know the chat), `not-a-chat` (not one
    of our keys, or not in our bucket).
    """

    entry: SnapshotEntry
    reason: str


def eligible_at(record: ChatRecord, at: datetime) -> bool:
    """The module docstring's definition of "eligible at T", on one current ledger record."""
    return (
        record.eligible
        and record.state in LIVE_STATES
        and record.deleted_at is None
        and record.tag_error is None
        and record.last_activity <= at < record.expires_at
        and bool(record.version_id)
        and record.consent_version is not None
    )


def take(enforcer: Enforcer, at: datetime) -> list[SnapshotEntry]:
    """Every chat eligible at `at` (see the module docstring), sorted by key."""
    bucket = enforcer.settings.bucket
    entries = [
        SnapshotEntry(
            bucket=bucket,
            key=record.key,
            version_id=str(record.version_id),
            consent_version=int(record.consent_version or 0),
            policy_version=record.policy_version,
            expires_on=record.expires_on,
        )
        for record in enforcer.ledger.scan()
        if eligible_at(record, at)
    ]
    return sorted(entries, key=lambda e: e.key)


def write(entries: Iterable[SnapshotEntry], stream: TextIO) -> None:
    """Write the manifest rows (format in the module docstring) to a text stream."""
    writer = csv.writer(stream, lineterminator="\r\n")
    for entry in entries:
        if not entry.version_id:
            raise SnapshotError(f"{entry.key}: an entry needs a version id (Batch Operations wants all or none)")
        writer.writerow(
            [
                entry.bucket,
                encode_key(entry.key),
                entry.version_id,
                entry.consent_version,
                entry.policy_version,
                entry.expires_on,
            ]
        )


def read(stream: TextIO) -> list[SnapshotEntry]:
    """The entries of a manifest written by `write`; SnapshotError on a malformed line."""
    entries = []
    for number, row in enumerate(csv.reader(stream), start=1):
        if not row or row == [""]:
            continue
        if len(row) != len(COLUMNS):
            raise SnapshotError(f"line {number}: {len(row)} columns, expected {len(COLUMNS)}: {', '.join(COLUMNS)}")
        bucket, key, version_id, consent_version, policy_version, expires_on = row
        try:
            version = int(consent_version)
            datetime.strptime(expires_on, "%Y-%m-%d")
        except ValueError as err:
            raise SnapshotError(f"line {number}: {err}") from err
        if not bucket or not key or not version_id:
            raise SnapshotError(f"line {number}: bucket, key and version_id are required")
        entries.append(SnapshotEntry(bucket, decode_key(key), version_id, version, policy_version, expires_on))
    return entries


def verify(enforcer: Enforcer, entries: Sequence[SnapshotEntry], now: datetime | None = None) -> list[Revocation]:
    """Entries revoked since the snapshot: re-checked against the ledger, the consent table and S3.

    Each entry is decided again under its user's consent record as it is now
    (so a consent change whose retag has not run yet is seen), then its
    version's tags and the object's current version are read from S3. `now`
    (default: the wall clock; this runs before a training job, not in a
    handler) is when retention is checked. Returns one revocation per revoked
    entry, in the entries' order; an empty list means the manifest may be used.
    """
    now = now or datetime.now(UTC)
    policy = enforcer.policy
    ours = {e.key: chat_key(e.key, policy) for e in entries}
    users = {e.key: found.user_id for e in entries if (found := ours[e.key]) is not None}
    records = enforcer.ledger.get_many([(users[k], k) for k in dict.fromkeys(users)])
    consents = enforcer.consents.get_many(users.values())
    erasures: dict[str, set[datetime]] = defaultdict(set)
    for user_id in {records[k].user_id for k in records if records[k].deleted_at is not None}:
        erasures[user_id] = {e.requested_at for e in enforcer.ledger.erasures(user_id)}

    revoked = []
    for entry in entries:
        reason = _ledger_reason(entry, enforcer, records.get(entry.key), consents, erasures, now)
        if reason is None:
            reason = _s3_reason(entry, enforcer)
        if reason is not None:
            revoked.append(Revocation(entry, reason))
    return revoked


def _ledger_reason(
    entry: SnapshotEntry,
    enforcer: Enforcer,
    record: ChatRecord | None,
    consents: Mapping[str, ConsentRecord],
    erasures: dict[str, set[datetime]],
    now: datetime,
) -> str | None:
    if entry.bucket != enforcer.settings.bucket or chat_key(entry.key, enforcer.policy) is None:
        return "not-a-chat"
    if record is None:
        return "not-recorded"
    if record.deleted_at is not None:
        return "erased" if record.deleted_at in erasures[record.user_id] else "deleted"
    if record.state not in LIVE_STATES:
        return "expired"  # removed by the retention sweep
    if record.tag_error is not None:
        return record.tag_error
    if not record.eligible:
        return record.reason.value
    decision = decide(chat_of(record), consents[record.user_id], enforcer.policy)
    if not decision.eligible:
        return decision.reason.value
    if decision.is_due(now):
        return "expired"
    if record.version_id != entry.version_id:
        return "version-changed"
    return None


def _s3_reason(entry: SnapshotEntry, enforcer: Enforcer) -> str | None:
    tags = enforcer.chats.tags(entry.key, entry.version_id)
    if tags is None:
        return "version-gone"
    if tags.get(enforcer.policy.tags.eligible) != "true":
        return "tags-not-eligible"
    current = enforcer.chats.head(entry.key)
    if current is None:
        return "deleted"  # deleted in S3 itself (a delete marker on top), not through our events
    if current.version_id != entry.version_id:
        return "version-changed"
    return None


__all__ = ["BATCH_OPERATIONS_FIELDS", "Revocation", "SnapshotEntry", "SnapshotError", "read", "take", "verify", "write"]
