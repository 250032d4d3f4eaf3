"""The `consentry` command line as argparse sees it: every command, its options and its help.

Usage errors (a bad option, a value out of range) are one line on stderr and
exit status 2, as every other error of the command line is one line.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any, NoReturn

from consentry import __version__
from consentry.cli.commands.snapshot import ATHENA_ABOVE_ITEMS, ENGINES
from consentry.cli.commands.target import DEFAULT_SERVE_URL

TARGETS = f"""\
which deployment a command works on (first match wins):
  --real, or --endpoint-url ''    your AWS account, through the default credential chain
                                  (AWS_PROFILE, environment, SSO, instance role)
  --endpoint-url URL              that endpoint (a moto server, `consentry serve`)
  AWS_ENDPOINT_URL                that endpoint
  --embedded                      a fresh, empty embedded server that lives as long as the command
                                  (it says so; whatever the command changes is gone with it)
  a `consentry serve` answering   at CONSENTRY_SERVE_URL, default {DEFAULT_SERVE_URL}: the data it holds
                                  (a busy one is waited for, CONSENTRY_SERVE_WAIT seconds, default 30)
  otherwise                       an error (exit 1): run `consentry serve --seed` in another terminal first
guard rails (--yes, --max-delete 1000, no --now later than the clock) apply everywhere but on a loopback
`consentry serve` (or --embedded): a shared moto server or a VPC endpoint gets them as an AWS account does.
resource names: --prefix P gives the names `provision` gives (P-consent, P-ledger, P-chat-logs-<account>-<region>);
without --prefix, CHAT_BUCKET, CONSENT_TABLE and LEDGER_TABLE when set; else prefix 'consentry'.
policy: --policy FILE, else POLICY_FILE, else the bundled consumer-terms-2025 policy.
"""

ENGINE_HELP = (
    f"where the queries run: duckdb (here, over the downloaded export), athena (in the stack's workgroup; the "
    f"manifest in S3), or auto (the default: athena on a real account when the export holds over "
    f"{ATHENA_ABOVE_ITEMS:,} items, duckdb otherwise)"
)
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
        "--embedded",
        action="store_true",
        default=default(False),
        help="run on a fresh, empty embedded server that ends with the command (nothing it changes is kept)",
    )
    group.add_argument(
        "--prefix",
        metavar="P",
        default=default(None),
        help="resource name prefix, as `provision` uses it (default: consentry)",
    )
    group.add_argument("--region", metavar="R", default=default(None), help="AWS region (default: your configuration)")
    group.add_argument(
        "--profile",
        metavar="NAME",
        default=default(None),
        help="AWS profile of your configuration, with --real (default: AWS_PROFILE, else the default chain)",
    )
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


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (what is wrong, and where the help is)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` shows the usage)\n")


def port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: give a number from 1 to 65535")
    return number


def positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    common = Parser(add_help=False)
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
    serve.add_argument("--port", type=port, default=5000, help="port (default 5000)")
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
        "what is due, as a plan; delete it (every version) through the worker",
        "Plans the sweep at --now as the nightly sweep finds it: every chat due (expires_at <= now), with every "
        "version stored (ids, sizes), and the due chats a legal hold keeps (skipped). --dry-run prints the plan, "
        "--plan FILE saves it; --apply FILE deletes exactly that, and `sweep` alone plans and applies at once. "
        "Deleting is the worker's: the plan goes to the work queue in pages and the worker re-checks each chat "
        "first (still due, not held, the same versions; otherwise skipped, and said so). On a real account: "
        "--yes, a --now no later than the clock, and at most --max-delete chats (default 1000); the same on any "
        "endpoint that is not a loopback `consentry serve`.",
    )
    sweep.add_argument("--dry-run", action="store_true", help="print the plan; delete nothing")
    sweep.add_argument(
        "--now",
        metavar="T",
        help="instant to sweep at: 'now', 2027-01-01 or 2027-01-01T03:00:00Z (default: now); on a real account "
        "never later than the clock; not with --apply (a plan is applied at the instant it was made for)",
    )
    plan_or_apply = sweep.add_mutually_exclusive_group()
    plan_or_apply.add_argument(
        "--plan", metavar="FILE", type=Path, help="write the plan to FILE (JSON); delete nothing"
    )
    plan_or_apply.add_argument("--apply", metavar="FILE", type=Path, help="delete exactly what FILE plans, re-checked")
    sweep.add_argument(
        "--max-delete",
        metavar="N",
        type=count,
        help="refuse, before the first deletion, a plan of more than N chats (default: 1000 on a real account "
        "or any endpoint but a local `consentry serve`; no limit there)",
    )
    sweep.add_argument(
        "--yes", action="store_true", help="confirm deletion (a real AWS account, any endpoint but a local server)"
    )
    sweep.add_argument(
        "--wait",
        metavar="SECONDS",
        type=count,
        default=0,
        help="on a real account, wait up to SECONDS for the worker's results (default: hand over and return)",
    )

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
    backfill.add_argument("--chunk", type=positive, default=100, metavar="N", help="objects per chunk (default 100)")
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
    report.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)

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
    snapshot.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    snapshot_commands = snapshot.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND")
    verify = snapshot_commands.add_parser(
        "verify",
        help="what in a manifest may no longer be read now",
        parents=[common],
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
    audit = command(
        "audit",
        "the audit trail: who ran which state-changing command, when, and what it changed",
        "Lists the audit entries of the state-changing commands (sweep, hold, erase, retag, backfill, dlq "
        "redrive): the caller's identity (STS), the wall-clock time, the arguments (users and chats as keyed "
        "hashes) and what each changed. They live in the ledger under `audit#<month>`, expiring after the "
        "policy's tombstone_days when they name a user or chat, after 400 days otherwise.",
    )
    audit.add_argument("--since", metavar="T", help="from this instant (default: 30 days ago)")
    audit.add_argument("--id", metavar="ID", help="one entry, with the worker's results page by page")

    consent = command("consent", "a user's consent record; what a change of it would do (nothing written)")
    consent_commands = consent.add_subparsers(dest="consent_command", metavar="SUBCOMMAND")
    show = consent_commands.add_parser(
        "show", help="the user's consent record and their chats' eligibility", parents=[common]
    )
    show.add_argument("user", metavar="USER")
    simulate = consent_commands.add_parser(
        "simulate",
        help="which chats a consent change would change, and how; nothing is written",
        parents=[common],
        description="Takes the user's consent record as stored, applies the change at --at (the answer and its "
        "time; the tier and its time; the version one higher) and decides each stored chat again with the "
        "policy's pure decide(). Lists the chats whose eligibility, reason or expiry would change. Nothing is "
        "written anywhere.",
    )
    simulate.add_argument("user", metavar="USER")
    setting = consent_commands.add_parser(
        "set",
        help="write the user's consent record as the account service would (a local server only)",
        parents=[common],
        description="On a local `consentry serve`: writes the user's consent record at --at (the answer and "
        "its time; a new tier and its time; the version one higher), as the account service would; the "
        "consent table's stream carries it to the handlers. A user without a record needs --tier. Refused on "
        "a real account and any endpoint that is not a local server: the account service owns the record there.",
    )
    setting.add_argument("user", metavar="USER")
    chosen = setting.add_mutually_exclusive_group()
    for value in ("granted", "denied", "pending"):
        chosen.add_argument(f"--{value}", dest="answer", action="store_const", const=value, help=f"answer {value}")
    setting.add_argument("--tier", metavar="T", help="move to this tier")
    setting.add_argument("--at", metavar="T", default="now", help="when the change happens (default: now)")
    answer = simulate.add_mutually_exclusive_group()
    for value in ("granted", "denied", "pending"):
        answer.add_argument(f"--{value}", dest="answer", action="store_const", const=value, help=f"answer {value}")
    simulate.add_argument("--tier", metavar="T", help="move to this tier")
    simulate.add_argument("--at", metavar="T", default="now", help="when the change happens (default: now)")

    hold = command(
        "hold",
        "place or release a legal hold on a chat, or on every chat of a user",
        "Raises the `Legal Hold Placed` / `Legal Hold Released` event, at the clock's time, and hands it to the "
        "chat_events function (on a real account: CHAT_EVENTS_FUNCTION, the stack's ChatEventsFunctionArn): an "
        "S3 Object Lock legal hold on every version, recorded in the ledger. Releasing a chat deleted under the "
        "hold removes it.",
    )
    hold.add_argument("action", choices=("place", "release"), metavar="place|release")
    hold.add_argument("key", nargs="?", metavar="KEY", help="the chat's object key")
    hold.add_argument("--user", metavar="ID", help="every chat of this user instead of one key")

    chat = command(
        "chat",
        "send a chat event (reopen, archive, delete) to a local server, as the chat app would",
        "On a local `consentry serve`: raises `Chat Reopened`, `Chat Archived` or `Chat Deleted` for the chat "
        "at --at, as the chat app's EventBridge event, and hands it to the chat_events handler. Refused on a real "
        "account and any endpoint that is not a local server: the chat app sends these there.",
    )
    chat.add_argument("action", choices=("reopen", "archive", "delete"), metavar="reopen|archive|delete")
    chat.add_argument("key", metavar="KEY", help="the chat's object key")
    chat.add_argument("--at", metavar="T", default="now", help="the event's time (default: now)")

    erase = command(
        "erase",
        "erase every chat of a user (Erasure Requested), with progress; or its status",
        "`consentry erase --user ID` raises `Erasure Requested` for the user at the clock's time through the "
        "chat_events function, and follows the erasure (locally to the end; on a real account while --wait "
        "allows). `consentry erase status --user ID` shows the user's erasure requests and what is left.",
    )
    erase.add_argument("action", nargs="?", choices=("status",), metavar="status")
    erase.add_argument("--user", metavar="ID", required=True)
    erase.add_argument(
        "--wait", metavar="SECONDS", type=count, default=0, help="on a real account, follow it this long"
    )

    dlq = command(
        "dlq",
        "the dead-letter queues: list them, or replay what they hold",
        "The work, write, consent-stream and events dead-letter queues. `list` counts their messages by kind "
        "(users and chats as keyed hashes). `redrive` replays each message (work and write messages to their "
        "queue, chat events to chat_events, consent-stream failures as retags of their users); a message older "
        "than the policy's shortest retention is dropped and counted, never replayed.",
    )
    dlq.add_argument("action", choices=("list", "redrive"), metavar="list|redrive")
    dlq.add_argument("--dry-run", action="store_true", help="redrive: say what would be replayed and dropped")
    dlq.add_argument(
        "--queue",
        metavar="Q",
        choices=("work", "write", "consent-stream", "events"),
        help="only this one: work, write, consent-stream or events",
    )

    retag = command(
        "retag",
        "decide every stored chat again (after a policy change) through the backfill function",
        "`retag --all`: every chat object is decided again on the ledger's facts under the deployed policy. "
        "Locally, the local runtime invokes the backfill handler in chunks (the policy: --policy or POLICY_FILE). "
        "On a real account, an S3 Batch Operations job invokes the backfill function on a manifest of every "
        "chat object (BACKFILL_FUNCTION_ARN, BATCH_OPERATIONS_ROLE_ARN, BATCH_OPERATIONS_BUCKET: the stack's "
        "outputs).",
    )
    retag.add_argument("--all", action="store_true", required=True, help="every chat object (required)")
    retag.add_argument("--chunk", type=positive, default=100, metavar="N", help="objects per invocation, locally")
    retag.add_argument("--dry-run", action="store_true", help="count; tag nothing, start no job")
    return parser
