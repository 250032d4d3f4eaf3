"""`consentry backfill`: tag every existing chat object, in chunks, resumably; or write a manifest.

Objects are listed in key order (our prefixes in turn), so a run that stops
can resume after the last key it finished: `--start-after KEY`, or
`--checkpoint FILE`, which records that key after every chunk and is removed
when the run completes. Tagging goes through `lifecycle.backfill`, the code of the
deployed backfill function; a bucket too large for one process is better
served by an S3 Batch Operations job over the `--manifest` this writes.
"""

from __future__ import annotations

import csv
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from consentry.cli.output import Progress, note, table
from consentry.cli.target import Target
from consentry.service.aws.batch_ops import encode_key
from consentry.service.deployment import BATCH_OPERATIONS_DAYS, BATCH_OPERATIONS_MANIFESTS
from consentry.service.flows import lifecycle
from consentry.service.policy import chat_key

LARGE_BUCKET = 100_000  # beyond this, suggest S3 Batch Operations


@dataclass
class Listing:
    """The chat objects of the bucket after `start_after`, in key order."""

    chats: list[tuple[str, datetime]] = field(default_factory=list)
    not_ours: int = 0


def list_chats(target: Target, start_after: str | None = None) -> Listing:
    listing = Listing()
    chats = target.enforcer().chats
    for prefix in sorted({p.prefix for p in target.policy.keys}):
        for key, last_modified in chats.current_objects(prefix, start_after):
            if chat_key(key, target.policy) is None:
                listing.not_ours += 1
            else:
                listing.chats.append((key, last_modified))
    listing.chats.sort()
    return listing


def write_manifest(bucket: str, keys: Iterator[str] | list[str], stream: TextIO) -> int:
    """`bucket,key` rows (no header: S3 would read it as an object); returns the row count."""
    writer = csv.writer(stream, lineterminator="\r\n")
    rows = 0
    for key in keys:
        writer.writerow([bucket, encode_key(key)])
        rows += 1
    return rows


def local_manifest_warning(path: str, rows: int) -> str:
    """What to do with a manifest written on this machine: it names every chat object and nothing expires it."""
    return (
        f"WARNING: {path} names {rows} chat object(s) (their keys hold user ids), and nothing expires it on this "
        f"machine: upload it under the Batch Operations bucket's {BATCH_OPERATIONS_MANIFESTS} prefix "
        f"(BATCH_OPERATIONS_BUCKET, the stack's BatchOperationsBucketName), where the bucket's lifecycle expires it "
        f"after {BATCH_OPERATIONS_DAYS} days, then delete this copy: rm {shlex.quote(path)}"
    )


def dry_run(target: Target, listing: Listing, limit: int = 50) -> dict[str, Any]:
    """Which listed objects the ledger already knows; nothing is written."""
    enforcer = target.enforcer()
    pairs = []
    for key, _ in listing.chats:
        found = chat_key(key, target.policy)
        assert found is not None
        pairs.append((found.user_id, key))
    known = enforcer.ledger.get_many(pairs)
    untracked = [{"key": key, "last_modified": modified} for key, modified in listing.chats if key not in known]
    return {
        "objects": len(listing.chats),
        "tracked": len(listing.chats) - len(untracked),
        "untracked": len(untracked),
        "not_ours": listing.not_ours,
        "untracked_keys": untracked,
        "shown": min(limit, len(untracked)),
    }


@dataclass
class Run:
    tagged: int = 0
    unchanged: int = 0
    gone: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    eligible: int = 0
    last_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "tagged": self.tagged,
            "unchanged": self.unchanged,
            "gone": self.gone,
            "failed": self.failed,
            "eligible": self.eligible,
            "reasons": dict(self.reasons.most_common()),
            "last_key": self.last_key,
        }


def run(
    target: Target,
    listing: Listing,
    chunk: int = 100,
    checkpoint: Path | None = None,
    progress: Progress | None = None,
) -> Run:
    """Tag every listed object, `chunk` at a time; the checkpoint names the last key of each finished chunk."""
    enforcer = target.enforcer()
    result = Run()
    for start in range(0, len(listing.chats), chunk):
        batch = listing.chats[start : start + chunk]
        for (key, _), outcome in zip(batch, lifecycle.backfill(enforcer, batch), strict=True):
            if outcome.error is not None:
                result.failed.append({"key": key, "error": f"{type(outcome.error).__name__}: {outcome.error}"})
                continue
            if "gone" in outcome.notes:
                result.gone += 1
                continue
            if outcome.wrote_ledger or outcome.wrote_s3:
                result.tagged += 1
            else:
                result.unchanged += 1
            if outcome.record is not None:
                result.reasons[outcome.record.reason.value] += 1
                result.eligible += outcome.record.eligible
        result.last_key = batch[-1][0]
        if checkpoint is not None:
            checkpoint.write_text(result.last_key + "\n")
        if progress is not None:
            progress.advance(len(batch), result.last_key)
    return result


def read_checkpoint(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def render_dry_run(data: dict[str, Any], where: str) -> str:
    lines = [
        f"{data['objects']} chat object(s) {where}: {data['tracked']} already in the ledger, "
        f"{data['untracked']} never tagged; {data['not_ours']} other object(s) under our prefixes left alone",
    ]
    if data["untracked"]:
        shown = data["untracked_keys"][: data["shown"]]
        lines.append(table(["never tagged", "last modified"], [[u["key"], u["last_modified"]] for u in shown]))
        if data["untracked"] > data["shown"]:
            lines.append(f"  ... and {data['untracked'] - data['shown']} more (--json lists them all)")
    lines.append("dry run: nothing written; run without --dry-run to tag them all")
    return "\n".join(lines)


def render_run(result: Run, total: int, where: str) -> str:
    lines = [
        f"backfilled {total} chat object(s) {where}: {result.tagged} tagged or corrected, "
        f"{result.unchanged} already right, {result.gone} gone meanwhile, {len(result.failed)} failed",
        f"eligible for training now: {result.eligible}",
    ]
    if result.reasons:
        lines.append(table(["reason", "objects"], [[r, n] for r, n in result.reasons.most_common()]))
    for failure in result.failed:
        lines.append(f"  FAILED {failure['key']}: {failure['error']}")
    if total >= LARGE_BUCKET:
        note("for a bucket this large, an S3 Batch Operations job scales better: see `consentry backfill --manifest`")
    return "\n".join(lines)
