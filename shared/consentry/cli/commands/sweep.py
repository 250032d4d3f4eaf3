"""`consentry sweep`: what is due, as a plan; delete it (every version) through the worker."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.cli.options import EXIT_OK, CommandError, UsageError, add_command, connect, count, is_real, when

if TYPE_CHECKING:
    from consentry.cli.output import Style
    from consentry.cli.target import Target

FUTURE_SLACK = timedelta(minutes=1)  # clocks differ a little: a --now within a minute of ours is "now"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = add_command(
        subparsers,
        "sweep",
        "what is due, as a plan; delete it (every version) through the worker",
        "Plans the sweep at --now as the nightly sweep finds it: every chat due (expires_at <= now), with every "
        "version stored (ids, sizes), and the due chats a legal hold keeps (skipped). --dry-run prints the plan, "
        "--plan FILE saves it; --apply FILE deletes exactly that, and `sweep` alone plans and applies at once. "
        "Deleting is the worker's: the plan goes to the work queue in pages and the worker re-checks each chat "
        "first (still due, not held, the same versions; otherwise skipped, and said so). On a real account: "
        "--yes, a --now no later than the clock, and at most --max-delete chats (default 1000); the same on any "
        "endpoint that is not a loopback `consentry serve`.",
    )
    sweep.add_argument("--dry-run", action="store_true", help="print the plan; delete nothing")
    sweep.add_argument(
        "--now",
        metavar="T",
        help="instant to sweep at: 'now', 2027-01-01 or 2027-01-01T03:00:00Z (default: now); on a real account "
        "never later than the clock; not with --apply (a plan is applied at the instant it was made for)",
    )
    plan_or_apply = sweep.add_mutually_exclusive_group()
    plan_or_apply.add_argument(
        "--plan", metavar="FILE", type=Path, help="write the plan to FILE (JSON); delete nothing"
    )
    plan_or_apply.add_argument("--apply", metavar="FILE", type=Path, help="delete exactly what FILE plans, re-checked")
    sweep.add_argument(
        "--max-delete",
        metavar="N",
        type=count,
        help="refuse, before the first deletion, a plan of more than N chats (default: 1000 on a real account "
        "or any endpoint but a local `consentry serve`; no limit there)",
    )
    sweep.add_argument(
        "--yes", action="store_true", help="confirm deletion (a real AWS account, any endpoint but a local server)"
    )
    sweep.add_argument(
        "--wait",
        metavar="SECONDS",
        type=count,
        default=0,
        help="on a real account, wait up to SECONDS for the worker's results (default: hand over and return)",
    )


def _guard_future(now: datetime, guarded: bool, style: Style, place: str = "a real account") -> None:
    """A --now later than the clock deletes chats before their time: refused wherever the real-account rails
    apply (a real account, any endpoint but a local server), loud locally."""
    from consentry.cli.output import instant, note

    clock = datetime.now(UTC)
    if now <= clock + FUTURE_SLACK:
        return
    if guarded:
        raise UsageError(
            f"--now {instant(now)} is later than the clock ({instant(clock)}): on {place} the sweep never "
            "runs ahead of time, it would delete chats that are not due yet"
        )
    note(
        style.bad(
            f"WARNING: --now {instant(now)} is later than the clock ({instant(clock)}): chats due only by then are "
            "deleted for good (allowed on a local server only)"
        )
    )


def _place(target: Target) -> str:
    return "a real account" if target.real else "an endpoint that is not a local `consentry serve`"


def run(args: argparse.Namespace) -> int:
    from consentry.cli import sweep
    from consentry.cli.audit import audited
    from consentry.cli.handoff import handoff
    from consentry.cli.output import Style, instant, print_json, to_jsonable
    from consentry.cli.target import describe

    style, err_style = Style(sys.stdout), Style(sys.stderr)
    real = is_real(args)
    deleting = not args.dry_run and args.plan is None
    if args.apply and args.now is not None:
        raise UsageError(
            "--now with --apply: a plan is applied at the instant it was made for; plan again to sweep at another"
        )
    now = None if args.apply else when(args.now or "now")
    if now is not None and deleting and real:
        _guard_future(now, True, err_style)  # before any call: a real account needs no look to know
    if real and deleting and not args.yes:
        raise CommandError("sweeping a real account deletes objects for good: add --yes (or use --dry-run first)")
    with connect(args, "bucket", "ledger", "consent") as target:
        guarded = target.guarded  # by place: every endpoint but a local consentry server
        if now is not None and deleting and not real:
            _guard_future(now, guarded, err_style, _place(target))
        if guarded and deleting and not args.yes:
            raise CommandError(
                f"sweeping {target.where} deletes objects for good, and it is not a local `consentry serve`: "
                "add --yes (or use --dry-run first)"
            )
        default_max = sweep.REAL_MAX_DELETE if guarded else None
        max_delete = args.max_delete if args.max_delete is not None else default_max
        if args.apply:
            made = sweep.read_plan(args.apply)
            sweep.check_plan(made, target, args.apply)
            _guard_future(made.now, guarded, err_style, _place(target))
        else:
            assert now is not None
            made = sweep.plan(target, now, show_progress=not args.json)
        if not deleting:
            if args.plan is not None:
                args.plan.write_text(json.dumps(to_jsonable(sweep.plan_json(made)), indent=2) + "\n", encoding="utf-8")
            if args.json:
                print_json({"target": describe(target), "dry_run": True, "file": args.plan, **sweep.plan_json(made)})
            else:
                print(sweep.render_plan(made, style, str(args.plan) if args.plan else None))
            return EXIT_OK
        sweep.refuse_over(made, max_delete)
        hand = handoff(target)
        arguments = {
            "now": instant(made.now),
            "apply": str(args.apply) if args.apply else None,
            "max_delete": max_delete,
            "planned": len(made.chats),
            "held_due": len(made.held),
        }
        with (
            audited(target, "sweep", arguments, names_someone=bool(made.chats)) as recording,
            sweep.one_at_a_time(target, recording.entry.id),
        ):
            messages = sweep.messages(made, recording.entry.id)
            if messages:
                hand.send_work(messages)
            entry = None
            if hand.drain() or args.wait:
                entry = sweep.wait_for(target, recording.entry.id, len(messages), 30 if hand.local else args.wait)
            rows = sweep.results(made, entry, target.enforcer().names.key)
            counts = sweep.summary(rows, made.held)
            recording.changed = {k: v for k, v in counts.items() if v}
            recording.status = "queued" if counts["pending"] else "done"
        data = {
            "target": describe(target),
            "now": made.now,
            "dry_run": False,
            "plan": str(args.apply) if args.apply else None,
            "audit_id": recording.entry.id,
            "status": recording.status,
            "results": rows,
            "held": made.held,
            "summary": counts,
        }
        if args.json:
            print_json(data)
        elif recording.status == "queued":
            print(sweep.queued_text(made, recording.entry.id, len(messages)))
        else:
            print(sweep.render_results(rows, made.held, made.now, target.where, style))
    return EXIT_OK
