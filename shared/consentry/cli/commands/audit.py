"""`consentry audit`: who ran which state-changing command, when, and what it changed."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from consentry.cli.options import EXIT_OK, CommandError, add_command, connect, when


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = add_command(
        subparsers,
        "audit",
        "the audit trail: who ran which state-changing command, when, and what it changed",
        "Lists the audit entries of the state-changing commands (sweep, hold, erase, retag, backfill, dlq "
        "redrive): the caller's identity (STS), the wall-clock time, the arguments (users and chats as keyed "
        "hashes) and what each changed. They live in the ledger under `audit#<month>`, expiring after the "
        "policy's tombstone_days when they name a user or chat, after 400 days otherwise.",
    )
    audit.add_argument("--since", metavar="T", help="from this instant (default: 30 days ago)")
    audit.add_argument("--id", metavar="ID", help="one entry, with the worker's results page by page")


def run(args: argparse.Namespace) -> int:
    from consentry.cli import audit
    from consentry.cli.output import print_json
    from consentry.cli.target import describe

    now = datetime.now(UTC)
    since = when(args.since, "--since") if args.since else now - timedelta(days=30)
    with connect(args, "ledger") as target:
        log = target.audit()
        if args.id:
            entry = log.get(args.id)
            if entry is None:
                raise CommandError(f"no audit entry {args.id!r} {target.where} (`consentry audit` lists them)")
            print_json(audit.entry_json(entry)) if args.json else print(audit.render_one(entry))
            return EXIT_OK
        entries = log.since(since, now)
        if args.json:
            print_json({"target": describe(target), "since": since, "entries": [audit.entry_json(e) for e in entries]})
        else:
            print(audit.render(entries, since, target.where))
    return EXIT_OK
