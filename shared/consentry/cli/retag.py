"""`consentry retag --all`: decide every stored chat again, after a policy change, through the backfill function.

The backfill function's code decides a chat again on the facts the ledger
holds (its latest activity) under the policy deployed with it, and writes
tags only where they change. On an AWS account the command writes the S3
Batch Operations manifest of every chat object (as `backfill --manifest`
does), uploads it to the Batch Operations bucket and creates the job that
invokes the function on each object (`consentry.service.aws.batch_ops`). On a local
server the local runtime invokes the same handler with the same events, a
chunk of objects at a time, with a progress bar.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consentry.cli.backfill import list_chats, write_manifest
from consentry.cli.handoff import LocalHandoff
from consentry.cli.options import CommandError
from consentry.cli.output import Progress, table
from consentry.cli.target import Target
from consentry.service.aws.batch_ops import create_job
from consentry.service.deployment import BATCH_OPERATIONS_MANIFESTS, OPERATOR_OUTPUTS

JOB_VARIABLES = ("BACKFILL_FUNCTION_ARN", "BATCH_OPERATIONS_ROLE_ARN", "BATCH_OPERATIONS_BUCKET")


@dataclass
class Retagged:
    objects: int = 0
    by_result: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "succeeded": self.objects - len(self.failed),
            "failed": self.failed,
            "reasons": dict(self.by_result.most_common()),
        }


def local(target: Target, handoff: LocalHandoff, chunk: int, show_progress: bool = True) -> Retagged:
    """Every chat object through the backfill handler, `chunk` objects per invocation."""
    keys = [key for key, _ in list_chats(target).chats]
    result = Retagged(objects=len(keys))
    progress = Progress(len(keys), "retag") if show_progress and keys else None
    for start in range(0, len(keys), chunk):
        batch = keys[start : start + chunk]
        for key, task in zip(batch, handoff.backfill(batch), strict=True):
            if task["resultCode"] == "Succeeded":
                result.by_result[task["resultString"]] += 1
            else:
                result.failed.append({"key": key, "error": f"{task['resultCode']}: {task['resultString']}"})
        if progress is not None:
            progress.advance(len(batch), batch[-1])
    if progress is not None:
        progress.finish()
    return result


def job_settings() -> dict[str, str]:
    missing = [name for name in JOB_VARIABLES if not os.environ.get(name)]
    if missing:
        outputs = ", ".join(f"{name} (output {OPERATOR_OUTPUTS[name]})" for name in missing)
        raise CommandError(
            f"on an AWS account the backfill function tags chats, run by an S3 Batch Operations job: set {outputs}"
        )
    return {name: os.environ[name] for name in JOB_VARIABLES}


def start_job(target: Target, dry_run: bool) -> dict[str, Any]:
    """Upload the manifest of every chat object and create the job (none on a dry run)."""
    job = job_settings()
    keys = [key for key, _ in list_chats(target).chats]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    manifest_key = f"{BATCH_OPERATIONS_MANIFESTS}retag-{stamp}.csv"
    data: dict[str, Any] = {
        "objects": len(keys),
        "manifest": f"s3://{job['BATCH_OPERATIONS_BUCKET']}/{manifest_key}",
        "job_id": None,
        "function": job["BACKFILL_FUNCTION_ARN"],
    }
    if dry_run or not keys:
        return data
    text = io.StringIO()
    write_manifest(target.settings.bucket, keys, text)
    put = target.clients.s3.put_object(
        Bucket=job["BATCH_OPERATIONS_BUCKET"], Key=manifest_key, Body=text.getvalue().encode(), ContentType="text/csv"
    )
    data["job_id"] = create_job(
        target.client("s3control"),
        target.account,
        job["BATCH_OPERATIONS_BUCKET"],
        manifest_key,
        put["ETag"],
        job["BACKFILL_FUNCTION_ARN"],
        job["BATCH_OPERATIONS_ROLE_ARN"],
        job["BATCH_OPERATIONS_BUCKET"],
        f"reports/retag-{stamp}",
        description="consentry retag --all: decide every chat again",
    )
    return data


def render_local(result: Retagged, where: str, policy: str) -> str:
    lines = [
        f"decided {result.objects} chat object(s) again {where} under {policy}: "
        f"{result.objects - len(result.failed)} done, {len(result.failed)} failed"
    ]
    if result.by_result:
        lines.append(table(["reason", "objects"], [[r, n] for r, n in result.by_result.most_common()]))
    lines += [f"  FAILED {f['key']}: {f['error']}" for f in result.failed]
    return "\n".join(lines)


def render_job(data: dict[str, Any], where: str, dry_run: bool) -> str:
    if dry_run:
        return (
            f"{data['objects']} chat object(s) {where} would be decided again by an S3 Batch Operations job on "
            f"{data['function']} (manifest {data['manifest']}); dry run: nothing uploaded, no job"
        )
    if data["job_id"] is None:
        return f"no chat object {where}: no job"
    return (
        f"S3 Batch Operations job {data['job_id']} started {where}: {data['objects']} chat object(s), manifest "
        f"{data['manifest']}; the backfill function decides each under the policy deployed with it "
        "(`aws s3control describe-job` follows it; failed tasks are reported under reports/)"
    )
