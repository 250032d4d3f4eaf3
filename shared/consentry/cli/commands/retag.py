"""`consentry retag --all`: decide every stored chat again (after a policy change) through the backfill function."""

from __future__ import annotations

import argparse

from consentry.cli.options import EXIT_ERROR, EXIT_OK, add_command, connect, positive


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retag = add_command(
        subparsers,
        "retag",
        "decide every stored chat again (after a policy change) through the backfill function",
        "`retag --all`: every chat object is decided again on the ledger's facts under the deployed policy. "
        "Locally, the local runtime invokes the backfill handler in chunks (the policy: --policy or POLICY_FILE). "
        "On a real account, an S3 Batch Operations job invokes the backfill function on a manifest of every "
        "chat object (BACKFILL_FUNCTION_ARN, BATCH_OPERATIONS_ROLE_ARN, BATCH_OPERATIONS_BUCKET: the stack's "
        "outputs).",
    )
    retag.add_argument("--all", action="store_true", required=True, help="every chat object (required)")
    retag.add_argument("--chunk", type=positive, default=100, metavar="N", help="objects per invocation, locally")
    retag.add_argument("--dry-run", action="store_true", help="count; tag nothing, start no job")


def run(args: argparse.Namespace) -> int:
    from consentry.cli import retag
    from consentry.cli.audit import audited
    from consentry.cli.handoff import LocalHandoff, handoff
    from consentry.cli.output import print_json
    from consentry.cli.target import describe

    with connect(args, "bucket", "ledger", "consent") as target:
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
            from consentry.cli.backfill import list_chats

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
