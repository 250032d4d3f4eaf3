"""`consentry backfill`: tag every existing chat object (progress bar, resumable); or write a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consentry.cli.options import EXIT_ERROR, EXIT_OK, UsageError, add_command, connect, positive


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill = add_command(
        subparsers,
        "backfill",
        "tag every existing chat object (progress bar, resumable); or write a manifest",
        "Lists the bucket's chat objects in key order and tags them in chunks through the backfill function's "
        "own code, taking LastModified as the last activity. Resumable: --start-after KEY, or --checkpoint FILE "
        "(resumes from it, removed when done). For large buckets, --manifest writes the S3 Batch Operations CSV "
        "manifest (bucket,key; keys URL-encoded) for a job that invokes the backfill function instead.",
    )
    backfill.add_argument("--dry-run", action="store_true", help="count and list untagged objects; write nothing")
    backfill.add_argument("--start-after", metavar="KEY", help="resume after this key")
    backfill.add_argument(
        "--checkpoint", metavar="FILE", type=Path, help="record progress here after every chunk; resume from it"
    )
    backfill.add_argument("--chunk", type=positive, default=100, metavar="N", help="objects per chunk (default 100)")
    backfill.add_argument(
        "--manifest",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the CSV manifest to FILE (stdout without FILE) and tag nothing",
    )


def run(args: argparse.Namespace) -> int:
    from consentry.cli import backfill
    from consentry.cli.audit import audited
    from consentry.cli.output import Progress, Style, note, print_json
    from consentry.cli.target import describe

    start_after = args.start_after
    if args.json and args.manifest == "-":
        raise UsageError("--manifest without FILE writes the CSV to stdout: drop --json, or give --manifest a FILE")
    if args.checkpoint is not None and start_after is None:
        start_after = backfill.read_checkpoint(args.checkpoint)
        if start_after:
            note(f"resuming after {start_after} (from {args.checkpoint})")
    with connect(args, "bucket", "ledger", "consent") as target:
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
            if args.manifest != "-":
                note(Style(sys.stderr).bad(backfill.local_manifest_warning(args.manifest, len(keys))))
            return EXIT_OK
        if args.dry_run:
            data = backfill.dry_run(target, listing)
            if args.json:
                print_json({"target": describe(target), "dry_run": True, **data})
            else:
                print(backfill.render_dry_run(data, target.where))
            return EXIT_OK
        if target.real:  # only the backfill function may tag chats there: it runs as an S3 Batch Operations job
            from consentry.cli import retag

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
        names = target.enforcer().names
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
