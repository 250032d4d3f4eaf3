"""The old training path, as it was before the export-based path (commit d4d5212), for the benchmark to compare.

`take` scans the whole ledger into Python objects and sorts them; `verify`
reads the ledger and consent table in batches, then makes two S3 calls per
entry (tags of the listed version, then the current version); `collect` (from
`consentry/cli/report.py`) aggregates every scanned record in Python. Kept
verbatim but for this docstring and the imports of `collect`; nothing in the
product uses it.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from consentry.cli.report import NO_RECORD, Bar, ReportData
from consentry.service.aws.batch_ops import decode_key, encode_key
from consentry.service.flows.enforcer import Enforcer
from consentry.service.policy import ConsentRecord, Reason, chat_key, decide
from consentry.service.records import ChatRecord, chat_of

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


# -- consentry/cli/report.py: collect() ------------------------------------------------------------


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def collect(
    records: Iterable[ChatRecord],
    now: datetime,
    policy: str,
    where: str,
    bucket: str,
    tiers: Sequence[str] = (),
) -> ReportData:
    """Aggregate ledger records; removed ones count only in `removed` and `by_state`."""
    data = ReportData(
        generated_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), where=where, bucket=bucket, policy=policy
    )
    reasons: Counter[str] = Counter()
    tier_counts: dict[str, list[int]] = {}
    month_counts: dict[str, list[int]] = {}
    states: Counter[str] = Counter()
    users: set[str] = set()
    for record in records:
        states[record.state] += 1
        if record.state == "removed":
            data.removed += 1
            continue
        users.add(record.user_id)
        data.objects += 1
        column = 0 if record.eligible else 1
        data.eligible += record.eligible
        data.not_eligible += not record.eligible
        data.held += record.held
        data.tag_errors += record.tag_error is not None
        data.due += record.in_due_index and record.decision.is_due(now)
        reasons[record.reason.value] += 1
        tier = record.tier or NO_RECORD
        if tiers and record.tier and record.tier not in tiers:
            tier = f"{record.tier} (unknown tier)"
        tier_counts.setdefault(tier, [0, 0])[column] += 1
        month_counts.setdefault(record.expires_at.strftime("%Y-%m"), [0, 0])[column] += 1
    data.users = len(users)
    data.by_reason = {reason.value: reasons[reason.value] for reason in Reason if reasons[reason.value]}
    order = {tier: i for i, tier in enumerate(tiers)}
    data.by_tier = [
        Bar(tier, *counts)
        for tier, counts in sorted(tier_counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    ]
    if month_counts:
        data.by_month = [Bar(m, *month_counts.get(m, [0, 0])) for m in _months(min(month_counts), max(month_counts))]
    data.by_state = dict(sorted(states.items()))
    return data


__all__ = [
    "BATCH_OPERATIONS_FIELDS",
    "Revocation",
    "SnapshotEntry",
    "SnapshotError",
    "collect",
    "read",
    "take",
    "verify",
    "write",
]
