"""The `consentry` command line: the demo, the local server and the operator commands.

`main(argv)` parses, runs one command and returns its exit status; every
error a person can act on becomes one line on stderr (what, and how to fix
it) and a non-zero status, never a traceback (`--debug` shows it).

Exit status: 0 done; 1 an error (the line says what to do); 2 a usage error;
3 `snapshot verify` found entries to revoke; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
)

from consentry import __version__
from consentry.cli.commands.output import Progress, Style, TimeError, note, parse_time, print_json
from consentry.cli.commands.target import DEFAULT_SERVE_URL, CommandError, connect, describe

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REVOKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

TARGETS = f"""\
which deployment a command works on (first match wins):
  --real, or --endpoint-url ''    your AWS account, through the default credential chain
                                  (AWS_PROFILE, environment, SSO, instance role)
  --endpoint-url URL              that endpoint (a moto server, `consentry serve`)
  AWS_ENDPOINT_URL                that endpoint
  a `consentry serve` answering   at CONSENTRY_SERVE_URL, default {DEFAULT_SERVE_URL}: the data it holds
  otherwise                       a fresh embedded server that lives as long as the command: it starts
                                  empty, so explain/report/sweep have nothing to show (the command says so);
                                  run `consentry serve --seed` in another terminal first
resource names: --prefix P gives the names `provision` gives (P-consent, P-ledger, P-chat-logs-<account>-<region>);
without --prefix, CHAT_BUCKET, CONSENT_TABLE and LEDGER_TABLE when set; else prefix 'consentry'.
policy: --policy FILE, else POLICY_FILE, else the bundled consumer-terms-2025 policy.
"""

EXPORT_BUCKET_HELP = (
    "bucket for ledger exports and manifests (default: TRAINING_BUCKET, the stack's TrainingBucketName; "
    "on a local server <prefix>-training-<account>-<region>, created if missing)"
)

EXAMPLES = """\
examples:
  consentry demo                                   the whole story in about 10 s, nothing to set up
  consentry serve --seed                           keep the demo's data on :5000 (another terminal:)
  consentry explain chats/chen/2025-09-20-novel-outline.json
  consentry explain --user ava --json
  consentry sweep --dry-run --now 2027-01-01
  consentry backfill --checkpoint backfill.ckpt    resumable; --manifest out.csv for S3 Batch Operations
  consentry policy validate my-policy.toml
  consentry report --out report.html                the numbers too: report.json, report.parquet
  consentry snapshot --at 2026-11-20 --out s3://bucket/manifests/run-42/
                                                   the ledger as it was then, and what was eligible
  consentry snapshot verify s3://bucket/manifests/run-42/   what of it may no longer be read now
  consentry --real --prefix prod report            the same against your AWS account
"""


# -- parsing -------------------------------------------------------------------------------------------


def _target_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every command takes, before or after its name (`suppress`: no defaults in subparsers)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("deployment (see `consentry --help`)")
    group.add_argument(
        "--endpoint-url", metavar="URL", default=default(None), help="AWS endpoint; '' means the real AWS account"
    )
    group.add_argument(
        "--real",
        action="store_true",
        default=default(False),
        help="use the real AWS account (default credential chain)",
    )
    group.add_argument(
        "--prefix",
        metavar="P",
        default=default(None),
        help="resource name prefix, as `provision` uses it (default: consentry)",
    )
    group.add_argument("--region", metavar="R", default=default(None), help="AWS region (default: your configuration)")
    group.add_argument(
        "--policy",
        metavar="FILE",
        default=default(None),
        help="policy file (default: POLICY_FILE or the bundled policy)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", default=default(False), help="machine-readable output on stdout")
    out.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="show the handlers' logs on stderr"
    )
    out.add_argument("--debug", action="store_true", default=default(False), help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consentry",
        description=textwrap.fill(
            "Enforces 'may we train on this chat log?' on the storage itself: S3 tags, retention and deletion "
            "driven by consent. Start with `consentry demo`.",
            width=100,
        ),
        epilog=TARGETS + "\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"consentry {__version__}")
    _target_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _target_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, description: str = "", epilog: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            epilog=epilog,
            parents=[common],
        )

    command(
        "demo",
        "play the whole policy story on an embedded server (no setup, about 10 s)",
        "Starts an embedded moto server, provisions, seeds 14 users across every tier and consent state with "
        "chats and coding sessions over nine months, then plays: writes, a new user opted in by default, "
        "opt-out, opt-in, reopen of an archived chat, deletion, legal hold, erasure, the sweep a year later. "
        "Prints a table per step and a summary.",
    )

    serve = command(
        "serve",
        "run the embedded server and local runtime in the foreground",
        "Runs an embedded moto server with a provisioned deployment, and delivers S3 notifications, consent "
        "changes and work-queue messages to the handlers until Ctrl-C. While it runs, the other commands use it "
        f"by default ({DEFAULT_SERVE_URL}). Its data lives as long as the process.",
    )
    serve.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--seed", action="store_true", help="load the demo's users, chats and story first")

    explain = command(
        "explain",
        "why a chat is (not) eligible; or a user's chats and erasure requests",
        "For a KEY: the decision and its reason, the consent version and policy version it rests on, last "
        "activity, retention and expiry, legal hold, whether S3's tags agree, whether the current consent "
        "record would decide the same, and the ledger's history of the object. With --user: the user's "
        "consent record, chats and erasure requests (request time, completion time, counts).",
    )
    explain.add_argument("key", nargs="?", metavar="KEY", help="object key, e.g. chats/ava/2025-10-02-resume.json")
    explain.add_argument("--user", metavar="ID", help="explain a user instead of one key")
    explain.add_argument("--now", metavar="T", default="now", help="instant for 'due' (default: now)")

    sweep = command(
        "sweep",
        "list what is due, and delete it (every version) unless --dry-run",
        "Lists the chats due at --now (expires_at <= now, not under legal hold), as the nightly sweep finds them, "
        "and deletes each through the worker's own code (every version and delete marker) unless --dry-run. "
        "On a real account, deleting needs --yes.",
    )
    sweep.add_argument("--dry-run", action="store_true", help="list only; delete nothing")
    sweep.add_argument(
        "--now",
        metavar="T",
        default="now",
        help="instant to sweep at: 'now', 2027-01-01 or 2027-01-01T03:00:00Z (default: now)",
    )
    sweep.add_argument("--yes", action="store_true", help="confirm deletion on a real AWS account")

    backfill = command(
        "backfill",
        "tag every existing chat object (progress bar, resumable); or write a manifest",
        "Lists the bucket's chat objects in key order and tags them in chunks through the backfill function's "
        "own code, taking LastModified as the last activity. Resumable: --start-after KEY, or --checkpoint FILE "
        "(resumes from it, removed when done). For large buckets, --manifest writes the S3 Batch Operations CSV "
        "manifest (bucket,key; keys URL-encoded) for a job that invokes the backfill function instead.",
    )
    backfill.add_argument("--dry-run", action="store_true", help="count and list untagged objects; write nothing")
    backfill.add_argument("--start-after", metavar="KEY", help="resume after this key")
    backfill.add_argument(
        "--checkpoint", metavar="FILE", type=Path, help="record progress here after every chunk; resume from it"
    )
    backfill.add_argument("--chunk", type=int, default=100, metavar="N", help="objects per chunk (default 100)")
    backfill.add_argument(
        "--manifest",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the CSV manifest to FILE (stdout without FILE) and tag nothing",
    )

    policy = command("policy", "policy file commands")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    validate = policy_commands.add_parser(
        "validate",
        help="check a policy file; errors point at the line",
        parents=[common],
        description="Checks a policy file (default: POLICY_FILE, else the bundled policy). Errors and warnings "
        "point at file:line:column; a valid file is summarized with its differences from the bundled policy.",
    )
    validate.add_argument("file", nargs="?", metavar="FILE")

    report = command(
        "report",
        "write a self-contained HTML report (counts and charts)",
        "Counts of the stored chat objects by eligibility, reason, tier and expiry month, with inline SVG "
        "charts, in one HTML file that needs no network; the same numbers beside it as JSON and Parquet "
        "(FILE.json, FILE.parquet). The counts are SQL over the ledger's latest point-in-time export "
        "(the queries `snapshot` uses). --json prints the numbers instead.",
    )
    report.add_argument("--out", metavar="FILE", help="HTML file to write (default consentry-report.html)")
    report.add_argument("--now", metavar="T", default="now", help="instant for 'due' counts (default: now)")
    report.add_argument("--export-bucket", metavar="B", help=EXPORT_BUCKET_HELP)

    snapshot = command(
        "snapshot",
        "the ledger as it was at T, and the chat versions eligible then; or verify a manifest",
        "`consentry snapshot --at T` = the ledger as it was at T: DynamoDB exports it from point-in-time "
        "recovery (T within what PITR holds, 35 days at most; `latest` by default), and the manifest lists "
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
    snapshot_commands = snapshot.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND")
    verify = snapshot_commands.add_parser(
        "verify",
        help="what in a manifest may no longer be read now",
        parents=[common],
        description="What in a manifest may no longer be read now: exports the ledger as it is (the latest "
        "instant PITR holds) and anti-joins it with the manifest (ours, Parquet or CSV; a file, a directory or "
        "s3://...). Lists every entry whose chat is no longer eligible or no longer that version, with the "
        "first reason found (gone, erased, deleted, expired, consent-denied, version-changed...). Exit status 3 "
        "when there are any. A consent change counts once its retag has reached the ledger (minutes).",
    )
    verify.add_argument("file", metavar="MANIFEST")
    verify.add_argument("--now", metavar="T", help="instant expiry is checked at (default: the export's instant)")
    verify.add_argument("--export-bucket", metavar="B", default=argparse.SUPPRESS, help=EXPORT_BUCKET_HELP)
    return parser


# -- the commands ------------------------------------------------------------------------------------------


def _connect(args: argparse.Namespace, *require: str) -> Any:
    return connect(
        endpoint_url=args.endpoint_url,
        real=args.real,
        prefix=args.prefix,
        region=args.region,
        policy_file=args.policy,
        require=require,
    )


def _when(text: str) -> datetime:
    return parse_time(text)


def cmd_demo(args: argparse.Namespace) -> int:
    from consentry.cli import demo

    return demo.main(sys.stdout, prefix=args.prefix or "consentry")


def cmd_serve(args: argparse.Namespace) -> int:
    from consentry.cli.commands.serve import serve

    return serve(sys.stdout, port=args.port, host=args.host, prefix=args.prefix or "consentry", seed=args.seed)


def cmd_explain(args: argparse.Namespace) -> int:
    from consentry.cli.commands import explain

    if bool(args.key) == bool(args.user):
        raise UsageError("give either a KEY or --user ID")
    now = _when(args.now)
    style = Style(sys.stdout)
    with _connect(args, "bucket", "ledger", "consent") as target:
        if args.user:
            data = explain.explain_user(target, args.user, now)
            print_json(data) if args.json else print(explain.render_user(data, style))
        else:
            data = explain.explain_key(target, args.key, now)
            print_json(data) if args.json else print(explain.render_key(data, style))
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from consentry.cli.commands import sweep

    now = _when(args.now)
    with _connect(args, "bucket", "ledger", "consent") as target:
        if args.dry_run:
            rows = sweep.due(target, now)
            if args.json:
                print_json({"target": describe(target), "now": now, "dry_run": True, "due": rows})
            else:
                print(sweep.render_due(rows, now, target.where))
            return EXIT_OK
        if target.real and not args.yes:
            raise CommandError("sweeping a real account deletes objects for good: add --yes (or use --dry-run first)")
        results = sweep.sweep(target, now)
        if args.json:
            print_json(
                {
                    "target": describe(target),
                    "now": now,
                    "dry_run": False,
                    "results": results,
                    "summary": sweep.summary(results),
                }
            )
        else:
            print(sweep.render_sweep(results, now, target.where, Style(sys.stdout)))
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    from consentry.cli.commands import backfill

    if args.chunk < 1:
        raise UsageError("--chunk must be at least 1")
    start_after = args.start_after
    if args.checkpoint is not None and start_after is None:
        start_after = backfill.read_checkpoint(args.checkpoint)
        if start_after:
            note(f"resuming after {start_after} (from {args.checkpoint})")
    with _connect(args, "bucket", "ledger", "consent") as target:
        listing = backfill.list_chats(target, start_after)
        if args.manifest is not None:
            keys = [key for key, _ in listing.chats]
            if args.manifest == "-":
                backfill.write_manifest(target.settings.bucket, keys, sys.stdout)
            else:
                with open(args.manifest, "w", encoding="utf-8", newline="") as stream:
                    backfill.write_manifest(target.settings.bucket, keys, stream)
            where = "stdout" if args.manifest == "-" else args.manifest
            note(
                f"manifest of {len(keys)} chat object(s) written to {where}; nothing tagged. Upload it and create "
                "an S3 Batch Operations job (LambdaInvoke, schema 2.0) on the backfill function."
            )
            return EXIT_OK
        if args.dry_run:
            data = backfill.dry_run(target, listing)
            if args.json:
                print_json({"target": describe(target), "dry_run": True, **data})
            else:
                print(backfill.render_dry_run(data, target.where))
            return EXIT_OK
        total = len(listing.chats)
        progress = Progress(total, "backfill") if total else None
        try:
            result = backfill.run(target, listing, args.chunk, args.checkpoint, progress)
        except KeyboardInterrupt:
            if progress is not None:
                progress.finish()
            resume = progress.done if progress else 0
            last = listing.chats[resume - 1][0] if resume else None
            if last:
                note(f"interrupted after {resume} object(s); resume with: consentry backfill --start-after '{last}'")
            raise
        if progress is not None:
            progress.finish()
        if args.checkpoint is not None and args.checkpoint.exists():
            args.checkpoint.unlink()
        if args.json:
            print_json(
                {
                    "target": describe(target),
                    "dry_run": False,
                    "objects": total,
                    "not_ours": listing.not_ours,
                    **result.as_json(),
                }
            )
        else:
            print(backfill.render_run(result, total, target.where))
        return EXIT_ERROR if result.failed else EXIT_OK


def cmd_policy(args: argparse.Namespace) -> int:
    from consentry.cli.commands import validate

    if args.policy_command != "validate":
        raise UsageError("usage: consentry policy validate [FILE]")
    path = args.file or args.policy or os.environ.get("POLICY_FILE") or None
    result = validate.validate(path)
    if args.json:
        print_json(validate.as_json(result))
    else:
        print(validate.render(result), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_report(args: argparse.Namespace) -> int:
    from consentry.cli import report
    from consentry.cli.commands import snapshot

    now = _when(args.now)
    out = Path(args.out or "consentry-report.html")
    with _connect(args, "ledger") as target:
        bucket = snapshot.training_bucket(target, args.export_bucket)
        counts, _ = snapshot.report_counts(
            target, bucket, now, None if args.json and not args.out else out.with_suffix(".parquet")
        )
        data = report.from_counts(
            counts,
            now=now,
            policy=target.policy.label,
            where=target.where,
            bucket=target.settings.bucket,
            tiers=[*sorted(target.policy.consumer_tiers), *sorted(target.policy.commercial_tiers)],
        )
    if args.json and not args.out:
        print_json(report.to_json(data))
        return EXIT_OK
    out.write_text(report.render_html(data), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report.to_json(data), indent=2) + "\n", encoding="utf-8")
    if args.json:
        print_json({"file": str(out), **report.to_json(data)})
    else:
        print(
            f"wrote {out}: {data.objects} stored chat objects, {data.eligible} eligible, {data.due} due, "
            f"{data.removed} removed (open it in a browser; it needs no network); the numbers in "
            f"{out.with_suffix('.json')} and {out.with_suffix('.parquet')}"
        )
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from consentry.cli.commands import snapshot

    snapshot.module()  # installed (DuckDB included) before anything is asked of AWS
    exports = snapshot.module("export")
    if args.snapshot_command == "verify":
        now = _when(args.now) if args.now else None
        snapshot.check_local(args.file)
        with _connect(args, "ledger") as target:
            bucket = snapshot.training_bucket(target, args.export_bucket)
            result, revocations, done = snapshot.verify(target, args.file, now, bucket)
        if args.json:
            print_json(
                {
                    "manifest": args.file,
                    "now": result.now,
                    "export": snapshot.export_json(done),
                    "checked": result.checked,
                    "revoked": result.revoked,
                    "by_reason": result.by_reason,
                    "revocations": revocations,
                }
            )
        else:
            print(snapshot.render_revocations(revocations, args.file, result.checked))
        return EXIT_REVOKED if revocations else EXIT_OK
    if args.json and args.out == "-":
        raise UsageError("--out - writes the CSV to stdout: drop --json, or give --out a place")
    at = None if args.at.strip().lower() in ("latest", "now") else _when(args.at)
    with _connect(args, "ledger") as target:
        bucket = snapshot.training_bucket(target, args.export_bucket)
        try:
            taken = snapshot.take(target, at, args.out, bucket)
        except exports.OutsideWindow as err:
            raise UsageError(str(err)) from None
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "serve": cmd_serve,
    "explain": cmd_explain,
    "sweep": cmd_sweep,
    "backfill": cmd_backfill,
    "policy": cmd_policy,
    "report": cmd_report,
    "snapshot": cmd_snapshot,
}


# -- errors a person can act on ---------------------------------------------------------------------------


class UsageError(Exception):
    pass


CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
}
ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}


def explain_error(err: BaseException) -> str | None:
    """One line saying what went wrong and how to fix it, or None when we cannot say better than a traceback."""
    if isinstance(err, CommandError | TimeError):
        return str(err)
    if isinstance(err, NoCredentialsError | PartialCredentialsError | TokenRetrievalError | CredentialRetrievalError):
        return (
            f"no usable AWS credentials ({err}): run `aws configure` or `aws sso login`, or set AWS_PROFILE; "
            "without --real the local server needs none"
        )
    if isinstance(err, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_REGION / AWS_DEFAULT_REGION"
    if isinstance(err, EndpointConnectionError):
        return f"cannot reach {err.kwargs.get('endpoint_url')}: start `consentry serve`, or check --endpoint-url"
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code, message = str(error.get("Code", "")), error.get("Message", "")
        operation = err.operation_name
        if code in CREDENTIAL_CODES:
            return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`, new keys) and retry"
        if code in ACCESS_CODES:
            return f"access denied for {operation} ({message or code}): the credentials' role needs that permission"
        if code in ("NoSuchBucket", "404"):
            return f"bucket not found ({operation}): check --prefix or CHAT_BUCKET, and the region"
        if code == "ResourceNotFoundException":
            return f"table not found ({message}): check --prefix or CONSENT_TABLE / LEDGER_TABLE, and the region"
        return f"AWS error {code} in {operation}: {message}"
    from consentry.policy import PolicyError
    from consentry.settings import SettingsError

    if isinstance(err, PolicyError):
        return f"bad policy file: {err} (`consentry policy validate FILE` points at the line)"
    if isinstance(err, SettingsError):
        return f"{err}: set them, or pass --prefix"
    if isinstance(err, IsADirectoryError | PermissionError | FileNotFoundError) and err.filename:
        return f"cannot use {err.filename}: {err.strerror}"
    return None


def _configure_logs(verbose: bool) -> None:
    """The handlers' JSON logs to stderr (errors only, unless --verbose); no EMF metrics on stdout."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from consentry.observability import logger

    logger.setLevel("INFO" if verbose else "ERROR")
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, _Stderr):
        handler.stream = _Stderr()  # not setStream: that flushes the old stream, which may be closed


class _Stderr:
    """Whatever sys.stderr is when a log line is written (tests and redirections swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _configure_logs(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"consentry {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("consentry: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): nothing more to say
        return EXIT_OK
    except Exception as err:
        if args.debug:
            traceback.print_exc()
        message = explain_error(err)
        if message is None:
            message = f"unexpected error: {type(err).__name__}: {err} (rerun with --debug for the traceback)"
        print(f"consentry: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
