"""`consentry dlq`: the dead-letter queues; list them, or replay what they hold."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from consentry.cli.options import EXIT_OK, add_command, connect


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = add_command(
        subparsers,
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


def run(args: argparse.Namespace) -> int:
    from consentry.cli import dlq
    from consentry.cli.audit import audited
    from consentry.cli.handoff import handoff
    from consentry.cli.output import print_json
    from consentry.cli.target import describe

    now = datetime.now(UTC)  # a message's age is operational: the wall clock
    with connect(args, "ledger") as target:
        days = target.policy.default_days
        if args.action == "list":
            found = dlq.listing(target, now, args.queue)
            if args.json:
                print_json(
                    {"target": describe(target), "retention_days": days, "queues": dlq.listing_json(found, now, days)}
                )
            else:
                print(dlq.render_listing(found, now, days))
            return EXIT_OK
        hand = handoff(target)
        if args.dry_run:
            result = dlq.redrive(target, hand, now, days, args.queue, dry_run=True)
        else:
            with audited(target, "dlq redrive", {"queue": args.queue, "retention_days": days}) as recording:
                result = dlq.redrive(target, hand, now, days, args.queue, dry_run=False)
                recording.changed = result.counts()
        if args.json:
            print_json(
                {
                    "target": describe(target),
                    "dry_run": args.dry_run,
                    "retention_days": days,
                    "queues": result.queues(),
                    "summary": result.counts(),
                }
            )
        else:
            print(dlq.render_redrive(result, args.dry_run, days))
    return EXIT_OK
