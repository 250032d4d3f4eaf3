"""`consentry explain`: why a chat is (not) eligible; or a user's chats and erasure requests."""

from __future__ import annotations

import argparse
import sys

from consentry.cli.options import EXIT_OK, UsageError, add_command, connect, when


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = add_command(
        subparsers,
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


def run(args: argparse.Namespace) -> int:
    from consentry.cli import explain
    from consentry.cli.output import Style, print_json

    if bool(args.key) == bool(args.user):
        raise UsageError("give either a KEY or --user ID")
    now = when(args.now)
    style = Style(sys.stdout)
    with connect(args, "bucket", "ledger", "consent") as target:
        if args.user:
            data = explain.explain_user(target, args.user, now)
            print_json(data) if args.json else print(explain.render_user(data, style))
        else:
            data = explain.explain_key(target, args.key, now)
            print_json(data) if args.json else print(explain.render_key(data, style))
    return EXIT_OK
