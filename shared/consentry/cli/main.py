"""The `consentry` command line: the demo, the local server and the operator commands.

`main(argv)` builds the parser from the command modules (`consentry.cli.commands`,
each with `register` and `run`), runs one command and returns its exit status;
every error a person can act on becomes one line on stderr (what, and how to
fix it) and a non-zero status, never a traceback (`--debug` shows it). Every
command prints one JSON document with `--json` (its schema is in the README);
the human tables are rendered from the same data. Every command that changes
anything records an audit entry first.

Every error line reads `consentry COMMAND: error: what, and how to fix it`.
Exit status: 0 done; 1 an error (the line says what to do); 2 a usage error;
3 `snapshot verify` found entries to revoke; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType

from consentry import __version__
from consentry.cli import commands as commands_package
from consentry.cli.options import (
    EPILOG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Parser,
    UsageError,
    target_options,
)

# The order of `consentry --help`; a command module not named here comes after these, by name.
ORDER = (
    "demo",
    "serve",
    "explain",
    "sweep",
    "backfill",
    "policy",
    "report",
    "snapshot",
    "audit",
    "consent",
    "hold",
    "chat",
    "erase",
    "dlq",
    "retag",
)


@cache
def command_modules() -> dict[str, ModuleType]:
    """Every module of `consentry.cli.commands` by command name, in the help's order."""
    found = {info.name for info in pkgutil.iter_modules(commands_package.__path__) if not info.name.startswith("_")}
    names = [name for name in ORDER if name in found] + sorted(found - set(ORDER))
    return {name: importlib.import_module(f"{commands_package.__name__}.{name}") for name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="consentry",
        description=textwrap.fill(
            "Enforces 'may we train on this chat log?' on the storage itself: S3 tags, retention and deletion "
            "driven by consent. Start with `consentry demo`.",
            width=100,
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"consentry {__version__}")
    target_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules().values():
        module.register(subparsers)
    return parser


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    run: Callable[[argparse.Namespace], int] = command_modules()[name].run
    return run


# -- errors a person can act on ---------------------------------------------------------------------------


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
    if isinstance(err, CommandError):
        return str(err)
    from botocore.exceptions import (
        ClientError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        TokenRetrievalError,
    )

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
    from consentry.service.policy import PolicyError
    from consentry.service.settings import SettingsError

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
    from consentry.service.observability import logger

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
        return _runner(args.command)(args)
    except UsageError as err:
        print(f"consentry {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"consentry {args.command}: interrupted", file=sys.stderr)
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
        print(f"consentry {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
