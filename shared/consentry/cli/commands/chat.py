"""`consentry chat`: a chat event (reopen, archive, delete) sent to a local server, as the chat app would."""

from __future__ import annotations

import argparse

from consentry.cli.options import EXIT_OK, add_command, connect, when


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = add_command(
        subparsers,
        "chat",
        "send a chat event (reopen, archive, delete) to a local server, as the chat app would",
        "On a local `consentry serve`: raises `Chat Reopened`, `Chat Archived` or `Chat Deleted` for the chat "
        "at --at, as the chat app's EventBridge event, and hands it to the chat_events handler. Refused on a real "
        "account and any endpoint that is not a local server: the chat app sends these there.",
    )
    chat.add_argument("action", choices=("reopen", "archive", "delete"), metavar="reopen|archive|delete")
    chat.add_argument("key", metavar="KEY", help="the chat's object key")
    chat.add_argument("--at", metavar="T", default="now", help="the event's time (default: now)")


def run(args: argparse.Namespace) -> int:
    from consentry.cli import drive
    from consentry.cli.audit import audited
    from consentry.cli.handoff import LocalHandoff, handoff
    from consentry.cli.output import print_json

    at = when(args.at, "--at")
    with connect(args, "bucket", "ledger") as target:
        drive.refuse_unless_local(target, f"chat {args.action}", "chat app")
        hand = handoff(target)
        assert isinstance(hand, LocalHandoff)
        arguments = {"action": args.action, "key_hash": target.enforcer().names.key(args.key)}
        with audited(target, "chat", arguments, names_someone=True) as recording:
            data = drive.chat_event(target, hand, args.action, args.key, at)
            recording.changed = {"chats": 1}
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(drive.render_chat_event(data))
    return EXIT_OK
