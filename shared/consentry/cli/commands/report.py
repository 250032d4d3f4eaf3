"""`consentry report`: a self-contained HTML report (counts and charts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consentry.cli.options import (
    ENGINE_HELP,
    ENGINES,
    EXIT_OK,
    EXPORT_BUCKET_HELP,
    UsageError,
    add_command,
    connect,
    when,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = add_command(
        subparsers,
        "report",
        "write a self-contained HTML report (counts and charts)",
        "Counts of the stored chat objects by eligibility, reason, tier and expiry month, with inline SVG "
        "charts, in one HTML file that needs no network; the same numbers beside it as JSON and Parquet "
        "(FILE.json, FILE.parquet). The counts are SQL over the ledger's latest point-in-time export "
        "(the queries `snapshot` uses). --json prints the numbers instead.",
    )
    report.add_argument("--out", metavar="FILE", help="HTML file to write (default consentry-report.html)")
    report.add_argument("--now", metavar="T", default="now", help="instant for 'due' counts (default: now)")
    report.add_argument("--export-bucket", metavar="B", help=EXPORT_BUCKET_HELP)
    report.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)


def run(args: argparse.Namespace) -> int:
    from consentry.cli import report, snapshot
    from consentry.cli.output import print_json

    now = when(args.now)
    out = Path(args.out or "consentry-report.html")
    if (args.out or not args.json) and not out.parent.is_dir():
        raise UsageError(
            f"--out {out}: the folder {out.parent} does not exist (the report, its .json and .parquet go there): "
            "create it, or give another place"
        )
    with connect(args, "ledger") as target:
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
