"""`consentry hold`: place or release a legal hold on a chat, or on every chat of a user."""

from __future__ import annotations

import argparse

from consentry.cli.options import EXIT_OK, UsageError, add_command, connect


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hold = add_command(
        subparsers,
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


def run(args: argparse.Namespace) -> int:
    from consentry.cli import operations
    from consentry.cli.audit import audited
    from consentry.cli.handoff import handoff
    from consentry.cli.output import print_json

    if bool(args.key) == bool(args.user):
        raise UsageError("give either a KEY or --user ID")
    on = args.action == "place"
    with connect(args, "bucket", "ledger") as target:
        names = target.enforcer().names
        arguments = {
            "action": args.action,
            **({"key_hash": names.key(args.key)} if args.key else {"user_hash": names.user(args.user)}),
        }
        hand = handoff(target)
        with audited(target, "hold", arguments, names_someone=True) as recording:
            data = operations.hold(target, hand, on, args.key, args.user)
            recording.changed = {"chats": int(data["chats"] or 0)}
            recording.status = "done" if data["status"] == "applied" else "queued"
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(operations.render_hold(data))
    return EXIT_OK
