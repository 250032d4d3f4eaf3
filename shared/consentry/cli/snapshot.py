"""`consentry snapshot` and the report's numbers: the ledger exported at an instant, queried by DuckDB.

`snapshot --at T` = the ledger as it was at T (a DynamoDB point-in-time
export), and its manifest of the chat versions eligible at T.
`snapshot verify` = what in a manifest may no longer be read now (a fresh
export, anti-joined with the manifest). The work is done by
`consentry.training` (DuckDB: the `local` extra), imported when a command runs.

Where exports and manifests go: `--export-bucket`, else `TRAINING_BUCKET`
(the stack's output `TrainingBucketName`), else, on a local server only,
`<prefix>-training-<account>-<region>`, created there with the ledger's
point-in-time recovery turned on if they are not yet (never turned off: a
shared server keeps its history). A local server exports the table as it is
when asked, so there the newest instant is now.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from consentry.cli.options import ATHENA_ABOVE_ITEMS, CommandError, UsageError
from consentry.cli.output import instant, note, table
from consentry.cli.target import Target
from consentry.service.policy import format_instant
from consentry.training.retention import ATHENA_RESULTS, EXPORTS, MANIFESTS, expirations

TRAINING_BUCKET = "TRAINING_BUCKET"


def module(name: str = "snapshot") -> ModuleType:
    """`consentry.training.<name>`, or a CommandError saying what to install."""
    try:
        return importlib.import_module(f"consentry.training.{name}")
    except ModuleNotFoundError as err:
        if err.name == "duckdb":
            raise CommandError(
                "snapshots and reports run their queries on DuckDB, which is not installed: "
                "pip install 'consentry[local]'"
            ) from None
        if err.name != f"consentry.training.{name}":
            raise
        raise CommandError(
            f"snapshots need consentry.training.{name}, which this installation does not have yet: upgrade consentry"
        ) from None


def training_bucket(target: Target, given: str | None) -> str:
    """The bucket of exports and manifests; prepared (PITR on, bucket made) on a local server."""
    bucket = given or os.environ.get(TRAINING_BUCKET)
    if bucket is None and target.real:
        raise CommandError(
            "name the bucket for exports and manifests: --export-bucket B or TRAINING_BUCKET "
            "(the stack's output TrainingBucketName)"
        )
    if bucket is None:
        region = target.clients.s3.meta.region_name
        sts = boto3.client("sts", endpoint_url=target.endpoint_url, region_name=region)
        bucket = f"{target.prefix}-training-{sts.get_caller_identity()['Account']}-{region}"
    if not target.real:
        exports = module("export")
        done = exports.prepare_local(target.clients.dynamodb, target.clients.s3, target.settings.ledger_table, bucket)
        for line in [] if target.embedded else done:  # a fresh embedded server is gone with the command
            note(f"{line} (local server)")
    return bucket


def export(target: Target, bucket: str, at: datetime | None) -> Any:
    """The ledger's export at `at` (None: the latest instant PITR holds), waited for."""
    exports = module("export")
    snapshot = module()
    # A local server exports the table as it is when asked: its window ends now (the operator's clock).
    latest = None if target.real else datetime.now(UTC)
    try:
        return snapshot.export_ledger(target.clients.dynamodb, target.settings.ledger_table, bucket, at, latest=latest)
    except exports.PitrOff as err:
        raise CommandError(str(err)) from None
    except exports.ExportFailed as err:
        raise CommandError(f"{err}: retry, or check the bucket's policy and encryption") from None


@dataclass
class Taken:
    at: datetime
    export: Any
    entries: int
    csv: str
    parquet: str


def engine_for(target: Target, engine: str, done: Any) -> str:
    """`duckdb` or `athena`: as asked, or (`auto`) Athena on a real account above ATHENA_ABOVE_ITEMS items."""
    if engine != "auto":
        return engine
    return "athena" if target.real and (done.items or 0) > ATHENA_ABOVE_ITEMS else "duckdb"


def athena_runner(target: Target, bucket: str) -> Any:
    """The queries' runner in the stack's workgroup (made on a local server, whose Athena runs nothing)."""
    athena = module("athena")
    client = target.client("athena")
    if not target.real:
        athena.prepare_local(client, f"s3://{bucket}/{ATHENA_RESULTS}")
    return athena.Athena(client, athena.Place())


def athena_runner_for(target: Target, bucket: str, done: Any) -> Any:
    """The runner, with the export's `data/` folder added as a partition of `ledger_exports`."""
    athena = module("athena")
    runner = athena_runner(target, bucket)
    runner.run(athena.add_partition(athena.LEDGER_TABLE, partition(done), done.data, runner.place.database))
    return runner


def partition(done: Any) -> str:
    """The export's partition of `ledger_exports`: its folder's name (`ledger-<T>`)."""
    return str(done.prefix.rsplit("/", 1)[-1])


def take(target: Target, at: datetime | None, out: str | None, bucket: str, engine: str = "auto") -> Taken:
    """Export the ledger at `at`, write its manifest; `out`: s3://..., a directory, FILE.csv or '-' (CSV on stdout)."""
    snapshot = module()
    if engine == "athena" and out is not None and not out.startswith("s3://"):
        raise UsageError("--engine athena writes the manifest to S3: give --out s3://bucket/prefix/, or none")
    done = export(target, bucket, at)
    if engine_for(target, engine, done) == "athena":
        if out is not None and not out.startswith("s3://"):
            raise UsageError(
                f"the export holds over {ATHENA_ABOVE_ITEMS} items: give --out s3://... or --engine duckdb"
            )
        where = (out or snapshot.default_location(bucket, done)).rstrip("/") + "/"
        at_text = format_instant(done.at)
        entries = module("athena").take(
            athena_runner(target, bucket), partition(done), done.data, at_text, target.settings.bucket, where
        )
        return Taken(done.at, done, entries, f"{where}csv/", f"{where}parquet/")
    with snapshot.workspace() as work:
        files = module("export").download(target.clients.s3, done, work / "export")
        manifest = snapshot.manifest_files(files, done.at, target.settings.bucket, work / "manifest")
        if out == "-":
            sys.stdout.write(manifest.csv.read_text(encoding="utf-8"))
            return Taken(done.at, done, manifest.entries, "-", "-")
        where = out or snapshot.default_location(bucket, done)
        csv_at, parquet_at = snapshot.publish(target.clients.s3, manifest, where)
    return Taken(done.at, done, manifest.entries, csv_at, parquet_at)


def unexpired(out: str, bucket: str, entries: int) -> str | None:
    """The warning for a manifest written where no lifecycle expires it; None under the training bucket's prefixes.

    A manifest holds the keys (and user ids) of eligible chats: the training
    bucket's lifecycle removes it after its days (`consentry.training.retention`),
    a copy anywhere else stays until someone deletes it."""
    if out.startswith("s3://"):
        where, _, prefix = out[5:].partition("/")
        if where == bucket and any(prefix.startswith(expiring) for expiring in expirations()):
            return None
    place = "stdout" if out == "-" else out
    days = expirations()
    return (
        f"WARNING: the manifest at {place} holds the keys and user ids of {entries} eligible chat version(s), and "
        "nothing expires it there: delete it as soon as it is used. Only under the training bucket's prefixes "
        f"does it expire: s3://{bucket}/{MANIFESTS} after {days[MANIFESTS]} days, {EXPORTS} after "
        f"{days[EXPORTS]} (the stack's manifestDays and exportDays; leave --out out to write it there)"
    )


def check_local(location: str) -> None:
    """A manifest on this machine must exist before anything is asked of AWS."""
    if not location.startswith("s3://") and not Path(location).exists():
        hint = "write one with `consentry snapshot --at T --out FILE`"
        raise CommandError(f"no snapshot manifest at {location!r}: {hint}")


def verify(
    target: Target, location: str, now: datetime | None, bucket: str, engine: str = "auto"
) -> tuple[Any, list[Any], Any]:
    """A fresh export, anti-joined with the manifest at `location`: (Verification, its revocations, the export)."""
    snapshot = module()
    consents = {"consents": target.enforcer().consents.get_many, "policy": target.policy}  # the records now
    if engine == "athena" and not location.startswith("s3://"):
        raise UsageError("--engine athena reads the manifest in S3: give its s3://bucket/prefix/")
    with snapshot.workspace() as work:
        if engine != "duckdb" and location.startswith("s3://") and not location.endswith((".csv", ".parquet")):
            done = export(target, bucket, None)
            if engine_for(target, engine, done) == "athena":
                checked_at = _checked_at(now, done)
                rows = module("athena").verify(
                    athena_runner(target, bucket),
                    partition(done),
                    done.data,
                    location,
                    format_instant(checked_at),
                    target.settings.bucket,
                )
                result = snapshot.verification_from_rows(rows, checked_at, work / "verify", **consents)
                return result, result.revocations(), done
            return _verify_here(target, location, now, bucket, work, consents, done)
        return _verify_here(target, location, now, bucket, work, consents, None)


def _checked_at(now: datetime | None, done: Any) -> datetime:
    if now is not None and now < done.at:
        raise UsageError(
            f"--now {instant(now)} is before the export's instant {instant(done.at)}: expiries between them "
            "would be missed; give a later --now, or none (the export's instant)"
        )
    return now or done.at


def _verify_here(
    target: Target, location: str, now: datetime | None, bucket: str, work: Path, consents: Any, done: Any
) -> tuple[Any, list[Any], Any]:
    """verify on DuckDB: the manifest and the export downloaded into `work`."""
    snapshot = module()
    try:
        manifest = snapshot.fetch_manifest(target.clients.s3, location, work)
    except FileNotFoundError:
        hint = "write one with `consentry snapshot --at T --out FILE`"
        raise CommandError(f"no snapshot manifest at {location!r}: {hint}") from None
    done = done or export(target, bucket, None)
    checked_at = _checked_at(now, done)
    files = module("export").download(target.clients.s3, done, work / "export")
    try:
        result = snapshot.verify_files(files, manifest, checked_at, target.settings.bucket, work / "verify", **consents)
    except ValueError as err:
        raise CommandError(f"{location} is not a snapshot this version can read: {err}") from None
    return result, result.revocations(), done


def report_counts(
    target: Target, bucket: str, now: datetime, out: Path | None, engine: str = "auto"
) -> tuple[list[Any], Any]:
    """The report's counts from the latest export; `report.parquet` copied to `out` when given."""
    counts = module("counts")
    done = export(target, bucket, None)
    if engine_for(target, engine, done) == "athena":
        rows = module("athena").report(athena_runner_for(target, bucket, done), partition(done), format_instant(now))
        found = counts.from_rows(rows)
        if out is not None:
            counts.counts_parquet(found, out)
        return found, done
    with module().workspace() as work:
        files = module("export").download(target.clients.s3, done, work / "export")
        rows, parquet = counts.report_files(files, now, work / "report")
        if out is not None:
            out.write_bytes(parquet.read_bytes())
    return rows, done


def export_json(done: Any) -> dict[str, Any]:
    return {"arn": done.arn, "location": done.location, "at": done.at, "items": done.items}


def render_revocations(revocations: list[Any], path: str, checked: int) -> str:
    if not revocations:
        return f"{path}: all {checked} entries may still be read; nothing to revoke"
    rows = [[r.entry.key, r.entry.version_id, r.reason] for r in revocations]
    count = len(revocations)
    head = f"{count} of {checked} entr{'y' if checked == 1 else 'ies'} of {path} must not be read any more:"
    return f"{head}\n{table(['key', 'version', 'reason'], rows)}"


def summary(taken: Taken) -> str:
    return (
        f"snapshot at {instant(taken.at)} (the ledger as it was then, exported to {taken.export.location}): "
        f"{taken.entries} entries; manifest {taken.csv} (S3 Batch Operations CSV) and {taken.parquet}"
    )


def revocation_json(revocation: Any) -> dict[str, Any]:
    """A revocation as `verify --json` prints it (the consent version an integer, whatever the file held)."""
    entry = revocation.entry
    version = entry.consent_version
    return {
        "bucket": entry.bucket,
        "key": entry.key,
        "version_id": entry.version_id,
        "consent_version": int(version) if version not in (None, "") else None,
        "policy_version": entry.policy_version,
        "expires_on": entry.expires_on,
        "reason": revocation.reason,
    }
