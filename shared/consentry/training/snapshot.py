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
(`expires_at > T`), not covered by a deletion or an erasure request recorded
by T (applied or not). Verification reads the ledger for everything but
consent, and the consent records as they are now for consent: an opt-out is
revoked before its retag reaches the ledger.

Files, as DuckDB writes them (`COPY ... (FORMAT PARQUET)` and CSV):

- `manifest.parquet`: bucket, key, version_id, consent_version,
  policy_version, expires_on: for the data team (Athena, Spark, pandas);
- `manifest.csv`: the same rows, no header (S3 Batch Operations would read a
  header as an object), keys URL-encoded as `consentry.service.aws.batch_ops.encode_key`
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from consentry.service.aws.batch_ops import decode_key, encode_key
from consentry.service.policy import Chat, ConsentRecord, Policy, Reason, eligibility, format_instant, parse_instant
from consentry.training import export as exports
from consentry.training.queries import ROW_GROUP, DuckDB, QueryError, literal
from consentry.training.retention import MANIFESTS

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
CSV_NAME, PARQUET_NAME = "manifest.csv", "manifest.parquet"
# The columns of `sql/verify.sql`'s rows.
CHECKED_COLUMNS = (
    ("bucket", "VARCHAR"),
    ('"key"', "VARCHAR"),
    ("version_id", "VARCHAR"),
    ("consent_version", "BIGINT"),
    ("policy_version", "VARCHAR"),
    ("expires_on", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("last_activity", "VARCHAR"),
)
# The reason of an entry whose record has no reason, or no user or activity to check consent against.
NOT_ELIGIBLE = "not-eligible"


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
    `commercial-tier`, ...; `not-eligible` without one), `version-changed` (written since: another version
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


ConsentReader = Callable[[Iterable[str]], Mapping[str, ConsentRecord]]


def verify_files(
    ledger_files: list[Path],
    manifest: Path,
    now: datetime,
    chat_bucket: str,
    into: Path,
    consents: ConsentReader | None = None,
    policy: Policy | None = None,
) -> Verification:
    """The entries of `manifest` (Parquet, or our CSV) not eligible `now`; `revoked.parquet` too.

    The export decides deletions, erasures, expiry, tag errors and versions.
    With `consents` (e.g. `ConsentStore.get_many`) and `policy`, the consent
    records as they are now decide consent too: an entry the ledger still
    allows is revoked when the policy's `eligibility` on its user's current
    record says anything but `consent-granted` (an opt-out whose retag has not
    reached the ledger yet).
    """
    into.mkdir(parents=True, exist_ok=True)
    checked_path = into / "checked.parquet"
    with DuckDB(ledger_files, into / ".duckdb") as db:
        try:
            checked = db.use_manifest(manifest)
        except QueryError as err:
            raise SnapshotError(f"{manifest.name}: {err}") from None
        # Entries with the chat's hashed sort key (our Parquet) are matched on it: tombstones then say why.
        hashed = db.con.execute("SELECT count(chat_sk) = count(*) AND count(*) > 0 FROM manifest").fetchone()
        by_hash = bool(hashed and hashed[0])
        db.copy("verify", {"now": format_instant(now), "bucket": chat_bucket, "by_hash": by_hash}, checked_path)
        return _revoked(db, checked, checked_path, now, into, consents, policy)


def verification_from_rows(
    rows: Iterable[Sequence[object]],
    now: datetime,
    into: Path,
    consents: ConsentReader | None = None,
    policy: Policy | None = None,
) -> Verification:
    """A Verification from the rows of `sql/verify.sql` run elsewhere (Athena: every value as text)."""
    into.mkdir(parents=True, exist_ok=True)
    checked_path = into / "checked.parquet"
    rows = list(rows)
    with DuckDB([], into / ".duckdb") as db:
        db.con.execute(f"CREATE TABLE checked ({', '.join(f'{name} {kind}' for name, kind in CHECKED_COLUMNS)})")
        if rows:
            db.con.executemany(f"INSERT INTO checked VALUES ({', '.join('?' * len(CHECKED_COLUMNS))})", rows)
        db.con.execute(f"COPY checked TO {literal(str(checked_path))} (FORMAT PARQUET)")
        return _revoked(db, len(rows), checked_path, now, into, consents, policy)


def _revoked(
    db: DuckDB,
    checked: int,
    checked_path: Path,
    now: datetime,
    into: Path,
    consents: ConsentReader | None,
    policy: Policy | None,
) -> Verification:
    """`revoked.parquet` from verify's rows: the ledger's reasons, then the consent records' for the rest."""
    out = into / "revoked.parquet"
    source = f"read_parquet({literal(str(checked_path))})"
    db.con.execute('CREATE TABLE consent_revoked ("key" VARCHAR, version_id VARCHAR, reason VARCHAR)')
    if consents is not None and policy is not None:
        readable = db.con.execute(
            f'SELECT "key", version_id, user_id, last_activity FROM {source} WHERE reason IS NULL'
        ).fetchall()
        revoked_now = consent_revocations(readable, consents, policy)
        if revoked_now:
            db.con.executemany("INSERT INTO consent_revoked VALUES (?, ?, ?)", revoked_now)
    columns = ", ".join(f'c."{name}"' for name in COLUMNS)
    db.con.execute(
        f"COPY (SELECT {columns}, COALESCE(c.reason, k.reason) AS reason FROM {source} AS c "
        'LEFT JOIN consent_revoked AS k ON k."key" = c."key" AND k.version_id = c.version_id '
        'WHERE COALESCE(c.reason, k.reason) IS NOT NULL ORDER BY c."key", c.version_id) '
        f"TO {literal(str(out))} (FORMAT PARQUET, ROW_GROUP_SIZE {ROW_GROUP})"
    )
    revoked = db.count(out)
    by_reason = db.con.execute(
        f"SELECT reason, count(*) FROM read_parquet({literal(str(out))}) GROUP BY reason ORDER BY reason"
    ).fetchall()
    db.close()
    shutil.rmtree(into / ".duckdb", ignore_errors=True)
    checked_path.unlink(missing_ok=True)  # it names users: only the revocations are kept
    return Verification(now, checked, revoked, {reason: int(n) for reason, n in by_reason}, out)


def consent_revocations(
    readable: Iterable[tuple[str, str, str | None, str | None]], consents: ConsentReader, policy: Policy
) -> list[tuple[str, str, str]]:
    """(key, version_id, reason) of the entries the consent records refuse now, from (key, version, user, activity).

    One read per user (`consents` batches them); the decision is the policy
    core's `eligibility`. A chat without a user or an activity is refused.
    """
    rows = list(readable)
    records = consents({user for _, _, user, _ in rows if user})
    refused = []
    for key, version_id, user, activity in rows:
        if not user or not activity:
            refused.append((key, version_id, NOT_ELIGIBLE))
            continue
        consent = records.get(user) or ConsentRecord(user, exists=False)
        reason = eligibility(Chat(key, user, parse_instant(activity)), consent, policy)
        if reason is not Reason.CONSENT_GRANTED:
            refused.append((key, version_id, reason.value))
    return refused


# -- with AWS: the export, the files, and where the outputs go ----------------------------------------------


def export_ledger(
    dynamodb: DynamoDBClient,
    table: str,
    bucket: str,
    at: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    latest: datetime | None = None,
) -> exports.Export:
    """The export of the ledger at `at` (None: the latest instant PITR holds), waited for.

    `latest`: the end of the window on a local server (`exports.start`)."""
    arn, at = exports.start(dynamodb, table, at, bucket, latest=latest)
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
    "consent_revocations",
    "default_location",
    "export_ledger",
    "fetch_manifest",
    "manifest_files",
    "publish",
    "read",
    "verification_from_rows",
    "verify_files",
    "workspace",
    "write",
]
