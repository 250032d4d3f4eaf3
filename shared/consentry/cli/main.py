"""The `consentry` command line: the demo, the local server and the operator commands.

`main(argv)` parses (`consentry.cli.parser`), runs one command and returns its
exit status; every error a person can act on becomes one line on stderr
(what, and how to fix it) and a non-zero status, never a traceback
(`--debug` shows it). Every command prints one JSON document with `--json`
(its schema is in the README); the human tables are rendered from the same
data. Every command that changes anything records an audit entry first.

Every error line reads `consentry COMMAND: error: what, and how to fix it`.
Exit status: 0 done; 1 an error (the line says what to do); 2 a usage error;
3 `snapshot verify` found entries to revoke; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
)

from consentry.cli.commands.output import Progress, Style, TimeError, instant, note, parse_time, print_json
from consentry.cli.commands.target import CommandError, Target, UsageError, connect, describe
from consentry.cli.parser import build_parser

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REVOKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FUTURE_SLACK = timedelta(minutes=1)  # clocks differ a little: a --now within a minute of ours is "now"


def _connect(args: argparse.Namespace, *require: str) -> Any:
    return connect(
        endpoint_url=args.endpoint_url,
        real=args.real,
        prefix=args.prefix,
        region=args.region,
        profile=args.profile,
        policy_file=args.policy,
        require=require,
        embedded=args.embedded,
    )


def _when(text: str, option: str = "--now") -> datetime:
    try:
        return parse_time(text)
    except TimeError as err:
        raise UsageError(f"{option}: {err}") from None


def _is_real(args: argparse.Namespace) -> bool:
    return bool(args.real) or args.endpoint_url == ""


def _names(target: Target) -> Any:
    return target.enforcer().names


# -- the demo and the local server ------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from consentry.cli import demo

    if _is_real(args) or args.endpoint_url:
        raise UsageError("the demo runs on its own embedded server only: drop --real / --endpoint-url")
    return demo.main(sys.stdout, prefix=args.prefix or "consentry", as_json=args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    from consentry.cli.commands.serve import serve

    if _is_real(args) or args.endpoint_url:
        raise UsageError("serve starts an embedded server: drop --real / --endpoint-url")
    code = serve(
        sys.stdout, port=args.port, host=args.host, prefix=args.prefix or "consentry", seed=args.seed, as_json=args.json
    )
    # Stopped and said so: the server's data is discarded, so the process skips tearing down moto's heap
    # object by object (seconds for a large bucket), which would keep a stop from being prompt.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# -- reading ---------------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    from consentry.cli.commands import explain

    if bool(args.key) == bool(args.user):
        raise UsageError("give either a KEY or --user ID")
    now = _when(args.now)
    style = Style(sys.stdout)
    with _connect(args, "bucket", "ledger", "consent") as target:
        if args.user:
            data = explain.explain_user(target, args.user, now)
            print_json(data) if args.json else print(explain.render_user(data, style))
        else:
            data = explain.explain_key(target, args.key, now)
            print_json(data) if args.json else print(explain.render_key(data, style))
    return EXIT_OK


def cmd_consent(args: argparse.Namespace) -> int:
    from consentry.cli.commands import consent

    if args.consent_command not in ("show", "simulate", "set"):
        raise UsageError(
            "usage: consentry consent show USER | consent simulate USER --denied|... | consent set USER --denied|..."
        )
    if args.consent_command == "set":
        return cmd_consent_set(args)
    style = Style(sys.stdout)
    now = datetime.now(UTC)
    with _connect(args, "ledger", "consent") as target:
        if args.consent_command == "show":
            data = consent.show(target, args.user, now)
            print_json(data) if args.json else print(consent.render_show(data, style))
            return EXIT_OK
        at = _when(args.at, "--at")
        # "Due at once" is judged at the change's own instant (the event's time), never the wall clock.
        data = consent.simulate(target, args.user, args.answer, args.tier, at, at)
        print_json(data) if args.json else print(consent.render_simulation(data, style))
    return EXIT_OK


def cmd_consent_set(args: argparse.Namespace) -> int:
    from consentry.cli.commands import drive
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import LocalHandoff, handoff

    at = _when(args.at, "--at")
    with _connect(args, "ledger", "consent") as target:
        drive.refuse_unless_local(target, "consent set", "account service")
        hand = handoff(target)
        assert isinstance(hand, LocalHandoff)
        arguments = {"user_hash": _names(target).user(args.user), "answer": args.answer, "tier": args.tier}
        with audited(target, "consent set", arguments, names_someone=True) as recording:
            data = drive.set_consent(target, hand, args.user, args.answer, args.tier, at)
            recording.changed = {"records": 1}
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(drive.render_consent(data))
    return EXIT_OK


def cmd_chat(args: argparse.Namespace) -> int:
    from consentry.cli.commands import drive
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import LocalHandoff, handoff

    at = _when(args.at, "--at")
    with _connect(args, "bucket", "ledger") as target:
        drive.refuse_unless_local(target, f"chat {args.action}", "chat app")
        hand = handoff(target)
        assert isinstance(hand, LocalHandoff)
        arguments = {"action": args.action, "key_hash": _names(target).key(args.key)}
        with audited(target, "chat", arguments, names_someone=True) as recording:
            data = drive.chat_event(target, hand, args.action, args.key, at)
            recording.changed = {"chats": 1}
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(drive.render_chat_event(data))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from consentry.cli.commands import audit

    now = datetime.now(UTC)
    since = _when(args.since, "--since") if args.since else now - timedelta(days=30)
    with _connect(args, "ledger") as target:
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


# -- the sweep: plans, guard rails, the worker ----------------------------------------------------------


def _guard_future(now: datetime, guarded: bool, style: Style, place: str = "a real account") -> None:
    """A --now later than the clock deletes chats before their time: refused wherever the real-account rails
    apply (a real account, any endpoint but a local server), loud locally."""
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


def cmd_sweep(args: argparse.Namespace) -> int:
    from consentry.cli.commands import sweep
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import handoff

    style, err_style = Style(sys.stdout), Style(sys.stderr)
    real = _is_real(args)
    deleting = not args.dry_run and args.plan is None
    if args.apply and args.now is not None:
        raise UsageError(
            "--now with --apply: a plan is applied at the instant it was made for; plan again to sweep at another"
        )
    now = None if args.apply else _when(args.now or "now")
    if now is not None and deleting and real:
        _guard_future(now, True, err_style)  # before any call: a real account needs no look to know
    if real and deleting and not args.yes:
        raise CommandError("sweeping a real account deletes objects for good: add --yes (or use --dry-run first)")
    with _connect(args, "bucket", "ledger", "consent") as target:
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
                args.plan.write_text(json.dumps(_plain(sweep.plan_json(made)), indent=2) + "\n", encoding="utf-8")
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
            rows = sweep.results(made, entry, _names(target).key)
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


def _plain(value: Any) -> Any:
    from consentry.cli.commands.output import to_jsonable

    return to_jsonable(value)


# -- chat events: holds and erasures -----------------------------------------------------------------


def cmd_hold(args: argparse.Namespace) -> int:
    from consentry.cli.commands import operations
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import handoff

    if bool(args.key) == bool(args.user):
        raise UsageError("give either a KEY or --user ID")
    on = args.action == "place"
    with _connect(args, "bucket", "ledger") as target:
        names = _names(target)
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


def cmd_erase(args: argparse.Namespace) -> int:
    from consentry.cli.commands import operations
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import handoff

    style = Style(sys.stdout)
    with _connect(args, "bucket", "ledger") as target:
        if args.action == "status":
            data = operations.status(target, args.user)
            print_json(data) if args.json else print(operations.render_status(data, style))
            return EXIT_OK
        hand = handoff(target)
        arguments = {"user_hash": _names(target).user(args.user)}
        with audited(target, "erase", arguments, names_someone=True) as recording:
            data = operations.erase(target, hand, args.user, args.wait, show_progress=not args.json)
            recording.changed = {"removed": data["removed"], "held": data["held"]}
            recording.status = "done" if data["status"] == "complete" else "queued"
        data["audit_id"] = recording.entry.id
        print_json(data) if args.json else print(operations.render_erase(data))
    return EXIT_OK


# -- dead letters, retags, backfill ---------------------------------------------------------------------


def cmd_dlq(args: argparse.Namespace) -> int:
    from consentry.cli.commands import dlq
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import handoff

    now = datetime.now(UTC)  # a message's age is operational: the wall clock
    with _connect(args, "ledger") as target:
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


def cmd_retag(args: argparse.Namespace) -> int:
    from consentry.cli.commands import retag
    from consentry.cli.commands.audit import audited
    from consentry.cli.commands.handoff import LocalHandoff, handoff

    with _connect(args, "bucket", "ledger", "consent") as target:
        if target.real:
            if args.dry_run:
                data = retag.start_job(target, dry_run=True)
            else:
                with audited(target, "retag", {"all": True}) as recording:
                    data = retag.start_job(target, dry_run=False)
                    recording.changed = {"objects": data["objects"]}
                    recording.status = "queued" if data["job_id"] else "done"
                data["audit_id"] = recording.entry.id
            print_json({"target": describe(target), "dry_run": args.dry_run, **data}) if args.json else print(
                retag.render_job(data, target.where, args.dry_run)
            )
            return EXIT_OK
        hand = handoff(target)
        assert isinstance(hand, LocalHandoff)
        if args.dry_run:
            from consentry.cli.commands.backfill import list_chats

            objects = len(list_chats(target).chats)
            data = {"objects": objects, "policy": target.policy.label}
            print_json({"target": describe(target), "dry_run": True, **data}) if args.json else print(
                f"{objects} chat object(s) {target.where} would be decided again under {target.policy.label}; "
                "dry run: nothing tagged"
            )
            return EXIT_OK
        with audited(target, "retag", {"all": True, "policy": target.policy.label, "chunk": args.chunk}) as recording:
            result = retag.local(target, hand, args.chunk, show_progress=not args.json)
            recording.changed = {"objects": result.objects, "failed": len(result.failed)}
        if args.json:
            print_json(
                {"target": describe(target), "dry_run": False, "audit_id": recording.entry.id, **result.as_json()}
            )
        else:
            print(retag.render_local(result, target.where, target.policy.label))
        return EXIT_ERROR if result.failed else EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    from consentry.cli.commands import backfill
    from consentry.cli.commands.audit import audited

    start_after = args.start_after
    if args.json and args.manifest == "-":
        raise UsageError("--manifest without FILE writes the CSV to stdout: drop --json, or give --manifest a FILE")
    if args.checkpoint is not None and start_after is None:
        start_after = backfill.read_checkpoint(args.checkpoint)
        if start_after:
            note(f"resuming after {start_after} (from {args.checkpoint})")
    with _connect(args, "bucket", "ledger", "consent") as target:
        listing = backfill.list_chats(target, start_after)
        if args.manifest is not None:
            keys = [key for key, _ in listing.chats]
            if args.manifest == "-":
                backfill.write_manifest(target.settings.bucket, keys, sys.stdout)
            else:
                with open(args.manifest, "w", encoding="utf-8", newline="") as stream:
                    backfill.write_manifest(target.settings.bucket, keys, stream)
            where = "stdout" if args.manifest == "-" else args.manifest
            if args.json:
                print_json(
                    {"target": describe(target), "file": args.manifest, "rows": len(keys), "not_ours": listing.not_ours}
                )
            note(
                f"manifest of {len(keys)} chat object(s) written to {where}; nothing tagged. Upload it and create "
                "an S3 Batch Operations job (LambdaInvoke, schema 2.0) on the backfill function, or run "
                "`consentry --real retag --all`, which does both."
            )
            return EXIT_OK
        if args.dry_run:
            data = backfill.dry_run(target, listing)
            if args.json:
                print_json({"target": describe(target), "dry_run": True, **data})
            else:
                print(backfill.render_dry_run(data, target.where))
            return EXIT_OK
        if target.real:  # only the backfill function may tag chats there: it runs as an S3 Batch Operations job
            from consentry.cli.commands import retag

            with audited(target, "backfill", {"job": True}) as recording:
                job = retag.start_job(target, dry_run=False)
                recording.changed = {"objects": job["objects"]}
                recording.status = "queued" if job["job_id"] else "done"
            job["audit_id"] = recording.entry.id
            print_json({"target": describe(target), "dry_run": False, **job}) if args.json else print(
                retag.render_job(job, target.where, False)
            )
            return EXIT_OK
        total = len(listing.chats)
        progress = Progress(total, "backfill") if total and not args.json else None
        names = _names(target)
        arguments = {
            "chunk": args.chunk,
            "start_after_hash": names.key(start_after) if start_after else None,
            "objects": total,
        }
        with audited(target, "backfill", arguments, names_someone=bool(start_after)) as recording:
            try:
                result = backfill.run(target, listing, args.chunk, args.checkpoint, progress)
            except KeyboardInterrupt:
                if progress is not None:
                    progress.finish()
                done = progress.done if progress else 0
                last = listing.chats[done - 1][0] if done else None
                if last:
                    note(f"interrupted after {done} object(s); resume with: consentry backfill --start-after '{last}'")
                raise
            recording.changed = {"tagged": result.tagged, "unchanged": result.unchanged, "failed": len(result.failed)}
        if progress is not None:
            progress.finish()
        if args.checkpoint is not None and args.checkpoint.exists():
            args.checkpoint.unlink()
        if args.json:
            print_json(
                {
                    "target": describe(target),
                    "dry_run": False,
                    "audit_id": recording.entry.id,
                    "objects": total,
                    "not_ours": listing.not_ours,
                    **result.as_json(),
                }
            )
        else:
            print(backfill.render_run(result, total, target.where))
        return EXIT_ERROR if result.failed else EXIT_OK


# -- policy, report, snapshots -----------------------------------------------------------------------


def cmd_policy(args: argparse.Namespace) -> int:
    from consentry.cli.commands import validate

    if args.policy_command != "validate":
        raise UsageError("usage: consentry policy validate [FILE]")
    path = args.file or args.policy or os.environ.get("POLICY_FILE") or None
    result = validate.validate(path)
    if args.json:
        print_json(validate.as_json(result))
    else:
        print(validate.render(result), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_report(args: argparse.Namespace) -> int:
    from consentry.cli import report
    from consentry.cli.commands import snapshot

    now = _when(args.now)
    out = Path(args.out or "consentry-report.html")
    if (args.out or not args.json) and not out.parent.is_dir():
        raise UsageError(
            f"--out {out}: the folder {out.parent} does not exist (the report, its .json and .parquet go there): "
            "create it, or give another place"
        )
    with _connect(args, "ledger") as target:
        bucket = snapshot.training_bucket(target, args.export_bucket)
        counts, _ = snapshot.report_counts(
            target, bucket, now, None if args.json and not args.out else out.with_suffix(".parquet"), args.engine
        )
        data = report.from_counts(
            counts,
            now=now,
            policy=target.policy.label,
            where=target.where,
            bucket=target.settings.bucket,
            tiers=[*sorted(target.policy.consumer_tiers), *sorted(target.policy.commercial_tiers)],
        )
    if args.json and not args.out:
        print_json(report.to_json(data))
        return EXIT_OK
    out.write_text(report.render_html(data), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report.to_json(data), indent=2) + "\n", encoding="utf-8")
    if args.json:
        print_json({"file": str(out), **report.to_json(data)})
    else:
        print(
            f"wrote {out}: {data.objects} stored chat objects, {data.eligible} eligible, {data.due} due, "
            f"{data.removed} removed (open it in a browser; it needs no network); the numbers in "
            f"{out.with_suffix('.json')} and {out.with_suffix('.parquet')}"
        )
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from consentry.cli.commands import snapshot

    snapshot.module()  # installed (DuckDB included) before anything is asked of AWS
    exports = snapshot.module("export")
    if args.snapshot_command == "verify":
        now = _when(args.now) if args.now else None
        snapshot.check_local(args.file)
        with _connect(args, "ledger") as target:
            bucket = snapshot.training_bucket(target, args.export_bucket)
            result, revocations, done = snapshot.verify(target, args.file, now, bucket, args.engine)
        if args.json:
            print_json(
                {
                    "manifest": args.file,
                    "now": result.now,
                    "export": snapshot.export_json(done),
                    "checked": result.checked,
                    "revoked": result.revoked,
                    "by_reason": result.by_reason,
                    "revocations": [snapshot.revocation_json(r) for r in revocations],
                }
            )
        else:
            print(snapshot.render_revocations(revocations, args.file, result.checked))
        return EXIT_REVOKED if revocations else EXIT_OK
    if args.json and args.out == "-":
        raise UsageError("--out - writes the CSV to stdout: drop --json, or give --out a place")
    at = None if args.at.strip().lower() in ("latest", "now") else _when(args.at, "--at")
    with _connect(args, "ledger") as target:
        bucket = snapshot.training_bucket(target, args.export_bucket)
        try:
            taken = snapshot.take(target, at, args.out, bucket, args.engine)
        except exports.OutsideWindow as err:
            raise UsageError(str(err)) from None
    if args.json:
        print_json(
            {
                "at": taken.at,
                "export": snapshot.export_json(taken.export),
                "entries": taken.entries,
                "csv": taken.csv,
                "parquet": taken.parquet,
                "target": describe(target),
            }
        )
    elif args.out != "-":
        print(snapshot.summary(taken))
    else:
        note(snapshot.summary(taken))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "serve": cmd_serve,
    "explain": cmd_explain,
    "sweep": cmd_sweep,
    "backfill": cmd_backfill,
    "policy": cmd_policy,
    "report": cmd_report,
    "snapshot": cmd_snapshot,
    "audit": cmd_audit,
    "consent": cmd_consent,
    "hold": cmd_hold,
    "chat": cmd_chat,
    "erase": cmd_erase,
    "dlq": cmd_dlq,
    "retag": cmd_retag,
}


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
    from consentry.policy import PolicyError
    from consentry.settings import SettingsError

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
    from consentry.observability import logger

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
        return COMMANDS[args.command](args)
    except (UsageError, TimeError) as err:
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
