"""`consentry erase`: erase every chat of a user (Erasure Requested), with progress; or its status."""

from __future__ import annotations

import argparse
import sys

from consentry.cli.options import EXIT_OK, add_command, connect, count


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erase = add_command(
        subparsers,
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


def run(args: argparse.Namespace) -> int:
    from consentry.cli import operations
    from consentry.cli.audit import audited
    from consentry.cli.handoff import handoff
    from consentry.cli.output import Style, print_json

    style = Style(sys.stdout)
    with connect(args, "bucket", "ledger") as target:
        if args.action == "status":
            data = operations.status(target, args.user)
            print_json(data) if args.json else print(operations.render_status(data, style))
            return EXIT_OK
        hand = handoff(target)
        arguments = {"user_hash": target.enforcer().names.user(args.user)}
        with audited(target, "erase", arguments, names_someone=True) as recording:
            data = operations.erase(target, hand, args.user, args.wait, show_progress=not args.json)
            recording.changed = {"removed": data["removed"], "held": data["held"]}
            recording.status = "done" if data["status"] == "complete" else "queued"
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(operations.render_erase(data))
    return EXIT_OK
