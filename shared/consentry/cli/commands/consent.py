"""`consentry consent`: a user's consent record; what a change of it would do; set it on a local server."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from consentry.cli.options import EXIT_OK, UsageError, add_command, common, connect, when


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = add_command(
        subparsers, "consent", "a user's consent record; what a change of it would do (nothing written)"
    )
    consent_commands = consent.add_subparsers(dest="consent_command", metavar="SUBCOMMAND")
    show = consent_commands.add_parser(
        "show", help="the user's consent record and their chats' eligibility", parents=[common()]
    )
    show.add_argument("user", metavar="USER")
    simulate = consent_commands.add_parser(
        "simulate",
        help="which chats a consent change would change, and how; nothing is written",
        parents=[common()],
        description="Takes the user's consent record as stored, applies the change at --at (the answer and its "
        "time; the tier and its time; the version one higher) and decides each stored chat again with the "
        "policy's pure decide(). Lists the chats whose eligibility, reason or expiry would change. Nothing is "
        "written anywhere.",
    )
    simulate.add_argument("user", metavar="USER")
    setting = consent_commands.add_parser(
        "set",
        help="write the user's consent record as the account service would (a local server only)",
        parents=[common()],
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


def run(args: argparse.Namespace) -> int:
    from consentry.cli import consent
    from consentry.cli.output import Style, print_json

    if args.consent_command not in ("show", "simulate", "set"):
        raise UsageError(
            "usage: consentry consent show USER | consent simulate USER --denied|... | consent set USER --denied|..."
        )
    if args.consent_command == "set":
        return _set(args)
    style = Style(sys.stdout)
    now = datetime.now(UTC)
    with connect(args, "ledger", "consent") as target:
        if args.consent_command == "show":
            data = consent.show(target, args.user, now)
            print_json(data) if args.json else print(consent.render_show(data, style))
            return EXIT_OK
        at = when(args.at, "--at")
        # "Due at once" is judged at the change's own instant (the event's time), never the wall clock.
        data = consent.simulate(target, args.user, args.answer, args.tier, at, at)
        print_json(data) if args.json else print(consent.render_simulation(data, style))
    return EXIT_OK


def _set(args: argparse.Namespace) -> int:
    from consentry.cli import drive
    from consentry.cli.audit import audited
    from consentry.cli.handoff import LocalHandoff, handoff
    from consentry.cli.output import print_json

    at = when(args.at, "--at")
    with connect(args, "ledger", "consent") as target:
        drive.refuse_unless_local(target, "consent set", "account service")
        hand = handoff(target)
        assert isinstance(hand, LocalHandoff)
        arguments = {"user_hash": target.enforcer().names.user(args.user), "answer": args.answer, "tier": args.tier}
        with audited(target, "consent set", arguments, names_someone=True) as recording:
            data = drive.set_consent(target, hand, args.user, args.answer, args.tier, at)
            recording.changed = {"records": 1}
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(drive.render_consent(data))
    return EXIT_OK
