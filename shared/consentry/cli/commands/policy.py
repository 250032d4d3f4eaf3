"""`consentry policy validate`: check a policy file."""

from __future__ import annotations

import argparse
import os
import sys

from consentry.cli.options import EXIT_ERROR, EXIT_OK, UsageError, add_command, common


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = add_command(subparsers, "policy", "policy file commands")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    validate = policy_commands.add_parser(
        "validate",
        help="check a policy file; errors point at the line",
        parents=[common()],
        description="Checks a policy file (default: POLICY_FILE, else the bundled policy). Errors and warnings "
        "point at file:line:column; a valid file is summarized with its differences from the bundled policy.",
    )
    validate.add_argument("file", nargs="?", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    from consentry.cli import validate
    from consentry.cli.output import print_json

    if args.policy_command != "validate":
        raise UsageError("usage: consentry policy validate [FILE]")
    path = args.file or args.policy or os.environ.get("POLICY_FILE") or None
    result = validate.validate(path)
    if args.json:
        print_json(validate.as_json(result))
    else:
        print(validate.render(result), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_ERROR
