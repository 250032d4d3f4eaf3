"""What every command shares: the common options and their help, the errors a command raises, the exit statuses.

Imported to build the parser, so `consentry --help` loads it: it imports no
boto3 and none of the commands' bodies (those load inside a command's `run`).
Usage errors (a bad option, a value out of range) are one line on stderr and
exit status 2, as every other error of the command line is one line.
"""

from __future__ import annotations

import argparse
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from datetime import datetime

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REVOKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_SERVE_URL = "http://127.0.0.1:5000"
ENGINES = ("auto", "duckdb", "athena")
# `auto` runs Athena on a real account once the export holds more items than this: ~6 GB of gzipped DynamoDB
# JSON to download and scan here (~630 bytes an item), tens of minutes on one machine; below it DuckDB's download
# and scan take seconds to minutes and no Athena scan is paid for (5 USD per TB).
ATHENA_ABOVE_ITEMS = 10_000_000


class CommandError(Exception):
    """Something the user can fix; the message says what and how, in one line."""


class UsageError(Exception):
    """A command line that cannot mean anything (exit status 2); the message says what to change."""


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
EPILOG = TARGETS + "\n" + EXAMPLES


# -- the parser ---------------------------------------------------------------------------------------------


def target_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
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


@cache
def common() -> argparse.ArgumentParser:
    """The parent of every command's and subcommand's parser: the common options, without defaults."""
    parser = Parser(add_help=False)
    target_options(parser, suppress=True)
    return parser


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    description: str = "",
    epilog: str = "",
) -> argparse.ArgumentParser:
    """A command's parser, with the common options (its description defaults to its one-line help)."""
    return subparsers.add_parser(
        name, help=help_text, description=description or help_text, epilog=epilog, parents=[common()]
    )


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


# -- reading the common options --------------------------------------------------------------------------------


def connect(args: argparse.Namespace, *require: str) -> Any:
    """The deployment the options name (`consentry.cli.target.connect`), as a context manager of a Target."""
    from consentry.cli.target import connect as connect_target

    return connect_target(
        endpoint_url=args.endpoint_url,
        real=args.real,
        prefix=args.prefix,
        region=args.region,
        profile=args.profile,
        policy_file=args.policy,
        require=require,
        embedded=args.embedded,
    )


def when(text: str, option: str = "--now") -> datetime:
    """An instant of the command line, or a UsageError naming the option."""
    from consentry.cli.output import TimeError, parse_time

    try:
        return parse_time(text)
    except TimeError as err:
        raise UsageError(f"{option}: {err}") from None


def is_real(args: argparse.Namespace) -> bool:
    return bool(args.real) or args.endpoint_url == ""
