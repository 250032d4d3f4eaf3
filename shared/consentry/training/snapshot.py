"""Training snapshots: the ledger as it was at T, its manifest, and what of it may no longer be read.

Two questions, two words:

- **`snapshot --at T`: the ledger as it was at T.** DynamoDB exports the
  ledger at T from its point-in-time recovery (`consentry.training.export`);
  the manifest is every chat version eligible at T in that export. T must be
  an instant PITR holds (its recovery period: 7 days by default). An opt-out, deletion or
  erasure after T does not change the snapshot at T: that is what an audit
  asks ("what could training read on that date").
- **`snapshot verify`: what in a manifest may no longer be read now.** A
  fresh export of the ledger, anti-joined with the manifest: every entry
  whose chat is no longer eligible, or no longer that version, with the
  first reason found (`consentry.training.queries`, `sql/verify.sql`).

Eligible at T, in the export: decided eligible (`consent-granted`), live
(`active` or `archived`, not deleted), tags written (no `tag_error`), a
version named, last activity at or before T, and not due at T
(`expires_at > T`). Verification trusts the ledger: tags follow it, and the
bucket policy refuses any object whose tags say otherwise. It sees a consent
change once its retag has written the ledger (minutes), not before.

Files, as DuckDB writes them (`COPY ... (FORMAT PARQUET)` and CSV):

- `manifest.parquet`: bucket, key, version_id, consent_version,
  policy_version, expires_on: for the data team (Athena, Spark, pandas);
- `manifest.csv`: the same rows, no header (S3 Batch Operations would read a
  header as an object), keys URL-encoded as `consentry.aws.batch_ops.encode_key`
  does; a Batch Operations job reads it with `Fields=BATCH_OPERATIONS_FIELDS`.

Example (the CSV format, read and written without DuckDB):
    >>> import io
    >>> entry = SnapshotEntry("chat-logs", "chats/u 1/c1.json", "v1", 3, "consumer-terms-2025@1", "2030-09-30")
    >>> out = io.StringIO(); write([entry], out); out.getvalue()
    'chat-logs,chats/u%201/c1.json,v1,3,consumer-terms-2025@1,2030-09-30\\r\\n'
    >>> read(io.StringIO(out.getvalue())) == [entry]
    True
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from consentry.aws.batch_ops import decode_key, encode_key
from consentry.policy import format_instant
from consentry.training import export as exports
from consentry.training.queries import DuckDB, QueryError, literal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
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
MANIFESTS = "manifests/"
CSV_NAME, PARQUET_NAME = "manifest.csv", "manifest.parquet"


class SnapshotError(ValueError):
    """A manifest that cannot be read; the message names the line or entry."""


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
    """A manifest entry that must not be read any more, and the first reason found (see `sql/verify.sql`).

    `reason`: `gone` (no record of the key: removed, only a tombstone left, or
    never recorded), `erased`, `deleted`, `expired` (swept, or due by then),
    `tag-limit`, a policy reason (`consent-denied`, `consent-pending`,
    `commercial-tier`, ...), `version-changed` (written since: another version
    is the chat now), `not-a-chat` (another bucket).
    """

    entry: SnapshotEntry
    reason: str


@dataclass(frozen=True)
class Manifest:
    """A snapshot's manifest: how many entries, and where its two files are (local paths here)."""

    at: datetime
    entries: int
    parquet: Path
    csv: Path


@dataclass(frozen=True)
class Verification:
    """What verify found: how many entries were checked and revoked, by reason; the revoked rows in `parquet`."""

    now: datetime
    checked: int
    revoked: int
    by_reason: dict[str, int]
    parquet: Path

    def revocations(self) -> list[Revocation]:
        """The revoked entries, in key order (read from `parquet`: as many as there are)."""
        import duckdb

        with duckdb.connect() as con:
            rows = con.execute(f"SELECT * FROM read_parquet({literal(str(self.parquet))})").fetchall()
        return [Revocation(SnapshotEntry(*row[:6]), row[6]) for row in rows]


# -- on files: the export's data files in, Parquet and CSV out (what the benchmark measures) -----------------


def manifest_files(ledger_files: list[Path], at: datetime, chat_bucket: str, into: Path) -> Manifest:
    """Write `manifest.parquet` and `manifest.csv` of the chats eligible at `at` into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    parquet, csv_path = into / PARQUET_NAME, into / CSV_NAME
    with DuckDB(ledger_files, into / ".duckdb") as db:
        count = db.copy("manifest", {"at": format_instant(at), "bucket": chat_bucket}, parquet)
        db.use_manifest(parquet)
        db.copy("batch_operations_csv", {}, csv_path, "CSV")
    shutil.rmtree(into / ".duckdb", ignore_errors=True)
    return Manifest(at, count, parquet, csv_path)


def verify_files(ledger_files: list[Path], manifest: Path, now: datetime, chat_bucket: str, into: Path) -> Verification:
    """The entries of `manifest` (Parquet, or our CSV) not eligible `now` in the export; `revoked.parquet` too."""
    into.mkdir(parents=True, exist_ok=True)
    out = into / "revoked.parquet"
    with DuckDB(ledger_files, into / ".duckdb") as db:
        try:
            checked = db.use_manifest(manifest)
        except QueryError as err:
            raise SnapshotError(f"{manifest.name}: {err}") from None
        # Entries with the chat's hashed sort key (our Parquet) are matched on it: tombstones then say why.
        hashed = db.con.execute("SELECT count(chat_sk) = count(*) AND count(*) > 0 FROM manifest").fetchone()
        by_hash = bool(hashed and hashed[0])
        revoked = db.copy("verify", {"now": format_instant(now), "bucket": chat_bucket, "by_hash": by_hash}, out)
        by_reason = db.con.execute(
            f"SELECT reason, count(*) FROM read_parquet({literal(str(out))}) GROUP BY reason ORDER BY reason"
        ).fetchall()
    shutil.rmtree(into / ".duckdb", ignore_errors=True)
    return Verification(now, checked, revoked, {reason: int(n) for reason, n in by_reason}, out)


# -- with AWS: the export, the files, and where the outputs go ----------------------------------------------


def export_ledger(
    dynamodb: DynamoDBClient,
    table: str,
    bucket: str,
    at: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> exports.Export:
    """The export of the ledger at `at` (None: the latest instant PITR holds), waited for."""
    arn, at = exports.start(dynamodb, table, at, bucket)
    return exports.wait(dynamodb, arn, at, sleep=sleep)


@contextmanager
def workspace() -> Iterator[Path]:
    """A scratch directory for the export's files and DuckDB's spill space, removed after."""
    with tempfile.TemporaryDirectory(prefix="consentry-") as path:
        yield Path(path)


def default_location(bucket: str, export: exports.Export) -> str:
    """Where a snapshot's manifest goes unless told: beside the exports, named after its instant."""
    return f"s3://{bucket}/{MANIFESTS}{export.prefix.rsplit('/', 1)[-1]}/"


def publish(s3: S3Client, manifest: Manifest, out: str) -> tuple[str, str]:
    """Put the manifest's files at `out` (s3://bucket/prefix/, a directory, or FILE.csv); (csv, parquet)."""
    if out.startswith("s3://"):
        bucket, _, prefix = out[5:].partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        places = (f"{prefix}{CSV_NAME}", f"{prefix}parquet/{PARQUET_NAME}")
        for path, key in zip((manifest.csv, manifest.parquet), places, strict=True):
            s3.upload_file(str(path), bucket, key)
        return f"s3://{bucket}/{places[0]}", f"s3://{bucket}/{places[1]}"
    target = Path(out)
    csv_path = target if target.suffix == ".csv" else target / CSV_NAME
    parquet = csv_path.with_suffix(".parquet")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(manifest.csv, csv_path)
    shutil.copyfile(manifest.parquet, parquet)
    return str(csv_path), str(parquet)


def fetch_manifest(s3: S3Client, location: str, into: Path) -> Path:
    """A manifest to verify, as a local file: a path, or s3://... (a file, or a prefix `publish` wrote)."""
    if not location.startswith("s3://"):
        path = Path(location)
        if path.is_dir():
            path = path / PARQUET_NAME if (path / PARQUET_NAME).exists() else path / CSV_NAME
        if not path.exists():
            raise FileNotFoundError(location)
        return path
    bucket, _, key = location[5:].partition("/")
    if key.endswith((".csv", ".parquet")):
        candidates = [key]
    else:
        base = key.rstrip("/") + "/" if key else ""
        candidates = [f"{base}parquet/{PARQUET_NAME}", f"{base}{CSV_NAME}"]
    for candidate in candidates:
        local = into / Path(candidate).name
        try:
            s3.download_file(bucket, candidate, str(local))
        except Exception:  # a missing candidate: try the next one
            continue
        return local
    raise FileNotFoundError(location)


# -- the CSV format without DuckDB (small manifests, tests, tools) -------------------------------------------


def write(entries: Iterable[SnapshotEntry], stream: TextIO) -> None:
    """Write manifest rows (the format of the module docstring) to a text stream."""
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
    """The entries of a CSV manifest; SnapshotError on a malformed line."""
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


__all__ = [
    "BATCH_OPERATIONS_FIELDS",
    "Manifest",
    "Revocation",
    "SnapshotEntry",
    "SnapshotError",
    "Verification",
    "default_location",
    "export_ledger",
    "fetch_manifest",
    "manifest_files",
    "publish",
    "read",
    "verify_files",
    "workspace",
    "write",
]
