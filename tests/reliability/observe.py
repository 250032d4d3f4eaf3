"""An observer that sees everything, and the invariants judged per version.

`see` reads every version and delete marker of every key (tags, legal hold,
retention, `LastModified`), every ledger record (tombstones included) and
every queue and dead-letter queue (all messages, read without consuming
them). `judge` holds that against `Truth`, what the outside world did in the
history (writes with their version and time, deletions, hold events, console
holds, the latest consent record), with POLICY.md's rules on lives, versions
and locks:

* a version belongs to the life its own `LastModified` says: at or before a
  deletion time D of the key, the deleted life; after the latest D, a new life;
* every version of a deleted life is gone at rest unless a legal hold keeps
  it, and none of a new life is gone (the worlds here have no due chat);
* invariant 1 for whatever version is current (eligible only when the policy
  says so), and no stored version of a deleted life tagged eligible (any may
  become current when the one above it goes);
* the latest hold event (by event time) decides: placed, every stored version
  held; released, none; at rest the ledger says held exactly when S3 holds
  every stored version;
* nothing dead-lettered, no message left in any queue, no chat left `removing`
  (invariants 2 and 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consentry.service.records import ChatRecord

from .harness import Deployment
from .oracle import verdict


@dataclass
class Version:
    key: str
    version_id: str
    last_modified: datetime
    current: bool
    delete_marker: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    retention: str | None = None


@dataclass
class Seen:
    versions: dict[str, list[Version]]  # key -> newest first
    records: dict[str, ChatRecord]  # key -> record, tombstones included
    queued: dict[str, int]  # queue name -> messages (visible and in flight)
    dead: list[str]  # what any DLQ or Lambda's on-failure destination holds

    def stored(self, key: str) -> list[Version]:
        return [v for v in self.versions.get(key, []) if not v.delete_marker]

    def current(self, key: str) -> Version | None:
        return next((v for v in self.versions.get(key, []) if v.current and not v.delete_marker), None)


def see(d: Deployment) -> Seen:
    versions: dict[str, list[Version]] = {}
    for page in d.s3.get_paginator("list_object_versions").paginate(Bucket=d.bucket):
        for v in page.get("Versions", []):
            tags = d.s3.get_object_tagging(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])["TagSet"]
            hold = d.s3.get_object_legal_hold(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
            try:
                retention = d.s3_once.get_object_retention(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
                until = str(retention.get("Retention", {}).get("RetainUntilDate") or "") or None
            except d.s3.exceptions.ClientError:
                until = None  # never retained (or moto, which answers it as GetObject: an error 500 to the SDK)
            versions.setdefault(v["Key"], []).append(
                Version(
                    v["Key"],
                    v["VersionId"],
                    v["LastModified"],
                    bool(v.get("IsLatest")),
                    tags={t["Key"]: t["Value"] for t in tags},
                    hold=hold.get("LegalHold", {}).get("Status") == "ON",
                    retention=until,
                )
            )
        for m in page.get("DeleteMarkers", []):
            marker = Version(m["Key"], m["VersionId"], m["LastModified"], bool(m.get("IsLatest")), delete_marker=True)
            versions.setdefault(m["Key"], []).append(marker)
    for found in versions.values():
        found.sort(key=lambda v: v.last_modified, reverse=True)
    records = {r.key: r for r in d.ledger.scan_with_tombstones()}
    queued = {}
    for url in (d.write_url, d.work_url, *d.dlq_urls.values()):
        attributes = d.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        queued[url.rsplit("/", 1)[1]] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    dead = [str(e.get("detail-type")) for e in d.event_dead_letters] + ["stream" for _ in d.stream_dead_letters]
    for url, dlq in d.dlq_urls.items():
        if queued[dlq.rsplit("/", 1)[1]]:
            dead.append(f"{url.rsplit('/', 1)[1]}'s DLQ")
    return Seen(versions, records, queued, dead)


@dataclass
class Truth:
    """What the outside world did, in event time: the facts POLICY.md's rules are applied to."""

    consent: Mapping[str, Any]
    writes: dict[str, dict[str, datetime]] = field(default_factory=dict)  # key -> version id -> event time
    deletions: dict[str, list[datetime]] = field(default_factory=dict)  # key -> deletion times (deleted, erased)
    holds: dict[str, list[tuple[datetime, bool]]] = field(default_factory=dict)  # key -> hold events
    console: dict[str, set[str]] = field(default_factory=dict)  # key -> version ids held from the console
    erasures: list[datetime] = field(default_factory=list)  # the user's erasure requests

    def settle_erasures(self) -> None:
        """An erasure at D deletes every chat whose last activity (its latest write here) is at or before D."""
        for key, written in self.writes.items():
            for at in self.erasures:
                if written and max(written.values()) <= at:
                    self.deletions.setdefault(key, []).append(at)

    def deleted_life(self, key: str, version: Version) -> bool:
        return any(version.last_modified <= d for d in self.deletions.get(key, []))

    def hold_says(self, key: str) -> bool | None:
        """The latest hold event by event time (None: no hold event)."""
        events = self.holds.get(key)
        return max(events)[1] if events else None


def judge(seen: Seen, truth: Truth, keys: tuple[str, ...]) -> list[str]:
    problems = [f"dead letter: {d}" for d in seen.dead]
    problems += [f"{q}: {n} messages left" for q, n in seen.queued.items() if n]
    problems += [f"{k}: left mid-removal" for k, r in seen.records.items() if r.state == "removing"]
    for key in keys:
        problems += _judge_key(seen, truth, key)
    return problems


def _judge_key(seen: Seen, truth: Truth, key: str) -> list[str]:
    problems = []
    stored = seen.stored(key)
    record = seen.records.get(key)
    # A console hold is a hold no event announced, at no event time: the ledger learns it only when a purge
    # meets it, and whether an event's hold or release came after it is not defined. Judged: what it keeps.
    console = bool(truth.console.get(key))
    says = None if console else truth.hold_says(key)
    for v in stored:
        old = truth.deleted_life(key, v)
        locked = v.hold or v.retention is not None
        if old and not locked:
            problems.append(f"{key}@{_t(v)}: a version of the deleted life still stored, not held")
        if old and v.tags.get("training-eligible") == "true":
            problems.append(f"{key}@{_t(v)}: a version of the deleted life tagged eligible")
        if says is True and not v.hold:
            problems.append(f"{key}@{_t(v)}: not held, the latest hold event placed the hold")
        if says is False and v.hold:
            problems.append(f"{key}@{_t(v)}: still held after the hold's release")
        if says is None and v.hold and not console and not truth.holds.get(key):
            problems.append(f"{key}@{_t(v)}: held, and no event or console hold put it")
    ids = {v.version_id for v in stored}
    for vid, at in truth.writes.get(key, {}).items():
        if vid not in ids and not any(at <= d for d in truth.deletions.get(key, [])):
            problems.append(f"{key}@{at:%m-%d}: a version of a new life was removed")
    current = seen.current(key)
    if current is not None and current.tags.get("training-eligible") == "true":
        expected = verdict(truth.consent, current.last_modified, False)
        if truth.deleted_life(key, current) or not expected.eligible:
            problems.append(f"{key}@{_t(current)}: current version tagged eligible ({expected.reason})")
    if record is not None and not problems:
        problems += _judge_record(record, stored, current, truth, key)
    elif record is None and stored:
        problems.append(f"{key}: stored but no ledger record")
    return problems


def _judge_record(
    record: ChatRecord, stored: list[Version], current: Version | None, truth: Truth, key: str
) -> list[str]:
    problems = []
    if not stored and not record.removed:
        problems.append(f"{key}: nothing stored but the ledger says {record.state}")
    if stored and record.removed:
        problems.append(f"{key}: versions stored but the ledger has a tombstone")
    if stored and not truth.console.get(key) and record.held != all(v.hold for v in stored):
        problems.append(f"{key}: ledger held={record.held}, S3 holds {sum(v.hold for v in stored)}/{len(stored)}")
    if current is not None and not truth.deleted_life(key, current):
        if record.deleted_at is not None:
            problems.append(f"{key}: the current version is a new life, the ledger says deleted")
        elif record.version_id != current.version_id:
            problems.append(f"{key}: the ledger decided on another version than the current one")
        elif record.eligible != (current.tags.get("training-eligible") == "true"):
            problems.append(f"{key}: ledger eligible={record.eligible}, tags {current.tags}")
    return problems


def _t(v: Version) -> str:
    return f"{v.last_modified:%m-%d}"
