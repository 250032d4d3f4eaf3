"""The ledger as it was at T: DynamoDB's point-in-time export, and the files it writes.

`ExportTableToPointInTime` writes the table as it was at `ExportTime` to S3,
from the continuous backups (PITR): no read capacity, no Scan, and a single
instant, where a Scan sees records change while it runs. PITR holds the table's
recovery period at most (`RecoveryPeriodInDays`: the ledger's is a deployment
setting, 7 days by default, 35 at most; `describe_continuous_backups` says
exactly what it holds now:
`EarliestRestorableDateTime` to `LatestRestorableDateTime`, a few minutes
behind the wall clock); a T outside is refused before anything is asked.

Layout on AWS: `<prefix>/AWSDynamoDB/<export id>/data/*.json.gz` (gzipped
DynamoDB JSON, one item a line), with `manifest-summary.json` and
`manifest-files.json` beside it; `describe_export` names the summary
(`ExportManifest`). moto (5.2) writes one gzipped file under
`<prefix>/AWSDynamoDB/<uuid>/data/`, no manifest files, and exports the table
as it is when asked (it ignores `ExportTime`, and `describe_export` gives none
back: the instant asked for stands); its PITR window is the instant PITR was
turned on, so on a local server the caller says where the window ends.
`data_files` reads the manifest when there is one and lists `data/`
otherwise (the newest export there), so both work.

Example:
    >>> prefix_for(datetime(2026, 11, 20, 3, tzinfo=UTC))
    'exports/ledger-20261120T030000Z'
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from consentry.training.retention import EXPORTS, lifecycle

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

PITR_DAYS = 35  # the longest recovery period DynamoDB offers
# Re-polls: a few at once (moto finishes in its own thread), then backoff up to a minute; 6 hours in all.
FIRST_POLLS = 3
BACKOFF_START, BACKOFF_CAP, WAIT_LIMIT = 2.0, 60.0, 6 * 3600.0


class PitrOff(RuntimeError):
    """Point-in-time recovery is not enabled on the table: nothing to export from."""


class OutsideWindow(ValueError):
    """The instant asked for is not one that PITR holds; the message gives the window."""


class ExportFailed(RuntimeError):
    """DynamoDB reported the export FAILED, or it did not finish in time."""


@dataclass(frozen=True)
class Window:
    """The instants PITR can export now, both included."""

    earliest: datetime
    latest: datetime
    days: int = PITR_DAYS  # the table's recovery period (the ledger's: `ledgerRecoveryDays`, 7 by default)

    def check(self, at: datetime, table: str) -> datetime:
        if not self.earliest <= at <= self.latest:
            raise OutsideWindow(
                f"{iso(at)} is outside what point-in-time recovery of {table} holds "
                f"({iso(self.earliest)} to {iso(self.latest)}, at most {self.days} days): "
                "pick an instant in that window, or `latest`"
            )
        return at


@dataclass(frozen=True)
class Export:
    """A completed export: where its files are and the instant it holds."""

    arn: str
    bucket: str
    prefix: str
    at: datetime
    items: int | None = None
    manifest: str | None = None  # key of manifest-summary.json (AWS); None on moto

    @property
    def export_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def data(self) -> str:
        """The folder of the data files on AWS (what the Glue table's partition points at)."""
        return f"{self.location}/AWSDynamoDB/{self.export_id}/data/"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prefix_for(at: datetime, root: str = EXPORTS) -> str:
    """The S3 prefix of the export at `at`: one per instant (milliseconds when there are any)."""
    at = at.astimezone(UTC)
    millis = f".{at.microsecond // 1000:03d}" if at.microsecond else ""
    return f"{root.rstrip('/')}/ledger-{at.strftime('%Y%m%dT%H%M%S')}{millis}Z"


def window(dynamodb: DynamoDBClient, table: str) -> Window:
    """What PITR of `table` holds, as the service says (PitrOff when it is off)."""
    description = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    pitr: Any = description.get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise PitrOff(
            f"point-in-time recovery is off on {table}: a snapshot is an export of it "
            f"(enable it: aws dynamodb update-continuous-backups --table-name {table} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true)"
        )
    latest = _instant(pitr["LatestRestorableDateTime"])
    days = int(pitr.get("RecoveryPeriodInDays") or PITR_DAYS)  # absent: AWS's default
    earliest = max(_instant(pitr["EarliestRestorableDateTime"]), latest - timedelta(days=days))
    return Window(earliest, latest, days)


def _instant(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def start(
    dynamodb: DynamoDBClient,
    table: str,
    at: datetime | None,
    bucket: str,
    root: str = EXPORTS,
    latest: datetime | None = None,
) -> tuple[str, datetime]:
    """Ask for the export of `table` at `at` (None: the latest instant PITR holds); its ARN and instant.

    `latest` is the one instant a local server can export (its now): it
    exports the table as it is when asked, whatever instant it is told (see
    `prepare_local`), so any other `at` is refused there. The request is idempotent
    for the same table, instant and place (`ClientToken`), so a command run
    twice does not pay for two exports.
    """
    held = window(dynamodb, table)
    if latest is not None:
        # A local server exports the table as it is when asked (moto ignores ExportTime, docs/parity.md): the
        # one instant it can export is now, and an earlier one would be the present mislabelled.
        if at is not None and at.astimezone(UTC) != latest.astimezone(UTC):
            raise OutsideWindow(
                f"{iso(at)} is outside what point-in-time recovery of {table} holds on a local server: it "
                "exports the table only as it is now (moto ignores ExportTime), not as it was: use `--at latest`"
            )
        held = Window(latest, latest, held.days)
    at = held.latest if at is None else held.check(at.astimezone(UTC), table)
    table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    prefix = prefix_for(at, root)
    token = hashlib.sha256(f"{table_arn}\n{at.isoformat()}\n{bucket}\n{prefix}".encode()).hexdigest()[:36]
    response = dynamodb.export_table_to_point_in_time(
        TableArn=table_arn,
        ExportTime=at,
        S3Bucket=bucket,
        S3Prefix=prefix,
        ExportFormat="DYNAMODB_JSON",
        ExportType="FULL_EXPORT",
        ClientToken=token,
    )
    return response["ExportDescription"]["ExportArn"], at


def delays() -> Iterator[float]:
    """Seconds between polls: 0 (a yield) a few times, then doubling from 2 s up to a minute, 6 hours in all."""
    yield from [0.0] * FIRST_POLLS
    delay, waited = BACKOFF_START, 0.0
    while waited < WAIT_LIMIT:
        yield delay
        waited += delay
        delay = min(delay * 2, BACKOFF_CAP)


def wait(
    dynamodb: DynamoDBClient,
    arn: str,
    at: datetime,
    sleep: Callable[[float], None] = time.sleep,
    pauses: Iterable[float] | None = None,
) -> Export:
    """Poll `describe_export` until the export completes (ExportFailed when it fails or never ends)."""
    for pause in [0.0, *(delays() if pauses is None else pauses)]:
        sleep(pause)
        description: Any = dynamodb.describe_export(ExportArn=arn)["ExportDescription"]
        status = description.get("ExportStatus")
        if status == "COMPLETED":
            # The instant the export holds, as the service says (moto says none: the one asked for).
            exported = description.get("ExportTime")
            return Export(
                arn=arn,
                bucket=description["S3Bucket"],
                prefix=description.get("S3Prefix", ""),
                at=at if exported is None else _instant(exported),
                items=description.get("ItemCount"),
                manifest=description.get("ExportManifest"),
            )
        if status == "FAILED":
            code, message = description.get("FailureCode"), description.get("FailureMessage")
            raise ExportFailed(f"the export {arn} failed: {code}: {message}")
    raise ExportFailed(f"the export {arn} did not complete in {WAIT_LIMIT / 3600:.0f} hours")


def data_files(s3: S3Client, export: Export) -> list[str]:
    """The S3 keys of the export's data files: from its manifest (AWS), else listed under `data/` (moto)."""
    if export.manifest:
        summary = json.loads(s3.get_object(Bucket=export.bucket, Key=export.manifest)["Body"].read())
        listing = s3.get_object(Bucket=export.bucket, Key=summary["manifestFilesS3Key"])["Body"].read()
        return [json.loads(line)["dataFileS3Key"] for line in listing.decode().splitlines() if line.strip()]
    exports: dict[str, list[tuple[datetime, str]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=export.bucket, Prefix=f"{export.prefix}/"):
        for found in page.get("Contents", []):
            key = found["Key"]
            if "/data/" in key and key.endswith(".gz"):
                exports.setdefault(key.split("/data/")[0], []).append((found["LastModified"], key))
    if not exports:
        return []
    # moto does not honour ClientToken: two requests at one instant write two exports under one prefix.
    newest = max(exports.values(), key=lambda files: max(files))
    return sorted(key for _, key in newest)


def download(s3: S3Client, export: Export, into: Path) -> list[Path]:
    """Copy the export's data files into `into` (DuckDB reads them there); their paths."""
    into.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, key in enumerate(data_files(s3, export)):
        path = into / f"part-{number:05d}.json.gz"
        s3.download_file(export.bucket, key, str(path))
        paths.append(path)
    return paths


def prepare_local(dynamodb: DynamoDBClient, s3: S3Client, table: str, bucket: str) -> list[str]:
    """On a local (moto) deployment only: PITR on, the export bucket and its lifecycle made when missing; what was new.

    Never turns PITR off: on a shared server that would drop the history
    others rely on. moto's PITR window is the instant PITR was turned on and
    never moves, while its export is the table as it is when asked: the
    caller gives `start` the end of the window instead (`latest=now`). A real
    account gets PITR and the bucket from the stack (`infra/training.py`);
    this never runs there.
    """
    done = []
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    if pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") != "ENABLED":
        dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        done.append(f"point-in-time recovery turned on for {table}")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        region = s3.meta.region_name
        extra: Any = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **extra)
        done.append(f"bucket {bucket} created for exports and manifests")
    try:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        # What the stack's bucket does: exports, manifests and results expire (consentry.training.retention).
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle())  # type: ignore[arg-type]
        done.append(f"lifecycle set on {bucket}: exports, manifests and query results expire as the stack's do")
    return done


__all__ = [
    "Export",
    "ExportFailed",
    "OutsideWindow",
    "PitrOff",
    "Window",
    "data_files",
    "download",
    "prefix_for",
    "prepare_local",
    "start",
    "wait",
    "window",
]
