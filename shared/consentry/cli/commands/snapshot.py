"""`consentry snapshot`: the ledger as it was at T, and the chat versions eligible then; or verify a manifest."""

from __future__ import annotations

import argparse
import sys

from consentry.cli.options import (
    ENGINE_HELP,
    ENGINES,
    EXIT_OK,
    EXIT_REVOKED,
    EXPORT_BUCKET_HELP,
    UsageError,
    add_command,
    common,
    connect,
    when,
)
from consentry.service.deployment import LEDGER_RECOVERY_DAYS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    snapshot = add_command(
        subparsers,
        "snapshot",
        "the ledger as it was at T, and the chat versions eligible then; or verify a manifest",
        "`consentry snapshot --at T` = the ledger as it was at T: DynamoDB exports it from point-in-time "
        "recovery (T within the ledger's point-in-time recovery period, a deployment setting: the stack's "
        f"ledgerRecoveryDays, {LEDGER_RECOVERY_DAYS} days by default; `latest` by default), and the manifest lists "
        "every chat version eligible at T in that export: Parquet for the data team, and the headerless CSV "
        "S3 Batch Operations reads. A later opt-out or deletion does not change the snapshot at T. "
        "`consentry snapshot verify MANIFEST` = what in that manifest may no longer be read now (exit "
        "status 3 if anything).",
        epilog="--out: s3://bucket/prefix/ (manifest.csv and parquet/manifest.parquet there), a directory, "
        "FILE.csv (FILE.parquet beside it), or - (the CSV on stdout). Default: "
        "s3://<export bucket>/manifests/ledger-<T>/.",
    )
    snapshot.add_argument(
        "--at",
        metavar="T",
        default="latest",
        help="the instant: `latest` (the newest PITR holds, a few minutes ago), a date or an instant",
    )
    snapshot.add_argument("--out", metavar="PLACE", help="where the manifest goes (see below)")
    snapshot.add_argument("--export-bucket", metavar="B", help=EXPORT_BUCKET_HELP)
    snapshot.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    snapshot_commands = snapshot.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND")
    verify = snapshot_commands.add_parser(
        "verify",
        help="what in a manifest may no longer be read now",
        parents=[common()],
        description="What in a manifest may no longer be read now: exports the ledger as it is (the latest "
        "instant PITR holds) and anti-joins it with the manifest (ours, Parquet or CSV; a file, a directory or "
        "s3://...). Lists every entry whose chat is no longer eligible or no longer that version, with the "
        "first reason found (gone, erased, deleted, expired, consent-denied, version-changed...). Exit status 3 "
        "when there are any. Consent is read from the consent records as they are now (an opt-out counts before "
        "its retag reaches the ledger); an erasure or deletion counts once recorded, applied or not.",
    )
    verify.add_argument("file", metavar="MANIFEST")
    verify.add_argument("--now", metavar="T", help="instant expiry is checked at (default: the export's instant)")
    verify.add_argument("--export-bucket", metavar="B", default=argparse.SUPPRESS, help=EXPORT_BUCKET_HELP)
    verify.add_argument("--engine", choices=ENGINES, default=argparse.SUPPRESS, help=ENGINE_HELP)


def run(args: argparse.Namespace) -> int:
    from consentry.cli import snapshot
    from consentry.cli.output import Style, note, print_json
    from consentry.cli.target import describe

    snapshot.module()  # installed (DuckDB included) before anything is asked of AWS
    exports = snapshot.module("export")
    if args.snapshot_command == "verify":
        now = when(args.now) if args.now else None
        snapshot.check_local(args.file)
        with connect(args, "ledger") as target:
            bucket = snapshot.training_bucket(target, args.export_bucket)
            result, revocations, done = snapshot.verify(target, args.file, now, bucket, args.engine)
        if args.json:
            print_json(
                {
                    "manifest": args.file,
                    "now": result.now,
                    "export": snapshot.export_json(done),
                    "checked": result.checked,
                    "revoked": result.revoked,
                    "by_reason": result.by_reason,
                    "revocations": [snapshot.revocation_json(r) for r in revocations],
                }
            )
        else:
            print(snapshot.render_revocations(revocations, args.file, result.checked))
        return EXIT_REVOKED if revocations else EXIT_OK
    if args.json and args.out == "-":
        raise UsageError("--out - writes the CSV to stdout: drop --json, or give --out a place")
    at = None if args.at.strip().lower() in ("latest", "now") else when(args.at, "--at")
    with connect(args, "ledger") as target:
        bucket = snapshot.training_bucket(target, args.export_bucket)
        try:
            taken = snapshot.take(target, at, args.out, bucket, args.engine)
        except exports.OutsideWindow as err:
            raise UsageError(str(err)) from None
    warning = snapshot.unexpired(args.out, bucket, taken.entries) if args.out else None
    if warning:
        note(Style(sys.stderr).bad(warning))
    if args.json:
        print_json(
            {
                "at": taken.at,
                "export": snapshot.export_json(taken.export),
                "entries": taken.entries,
                "csv": taken.csv,
                "parquet": taken.parquet,
                "target": describe(target),
            }
        )
    elif args.out != "-":
        print(snapshot.summary(taken))
    else:
        note(snapshot.summary(taken))
    return EXIT_OK
