"""S3 Batch Operations: the CSV manifest of our chat keys and the job that backfills them.

A bucket too large to tag from one process is backfilled by an S3 Batch
Operations job that invokes `functions/backfill` (invocation schema 2.0) once
per object of a manifest. moto does not implement S3 Control jobs, so this
module only builds values and makes one `CreateJob` call; the handler it
invokes is tested on moto with real-shaped events.

Manifest format (`S3BatchOperations_CSV_20180820`): one row per object, no
header row (S3 would read a header as an object), columns `bucket,key`; keys
URL-encoded as the format requires (`/` left as is, everything else outside
the unreserved set percent-encoded, so `+` is `%2B` and a space `%20`; both
`unquote` and `unquote_plus` read it back, and Powertools' `s3_key` uses the
latter).

Example:
    >>> manifest_csv([("chat-logs", "chats/u 1/c+1.json"), ("chat-logs", "other/x.txt")])
    'chat-logs,chats/u%201/c%2B1.json\\r\\n'
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, unquote

from consentry.service.policy import Policy, chat_key, load_policy

if TYPE_CHECKING:
    from mypy_boto3_s3control import S3ControlClient
    from mypy_boto3_s3control.literals import JobManifestFieldNameType

MANIFEST_FORMAT: Final = "S3BatchOperations_CSV_20180820"
REPORT_FORMAT: Final = "Report_CSV_20180820"
INVOCATION_SCHEMA = "2.0"
JOB_PRIORITY = 10


def encode_key(key: str) -> str:
    """A key as S3 Batch Operations CSV manifests require it: URL-encoded, `/` kept."""
    return quote(key, safe="/")


def decode_key(text: str) -> str:
    return unquote(text)


def manifest_csv(chats: Iterable[tuple[str, str]], policy: Policy | None = None) -> str:
    """The CSV manifest (`bucket,key` rows) of the chat keys among `(bucket, key)` pairs.

    Keys that are not ours under `policy` (default: the bundled one) are left
    out: the backfill never touches them, and a task for them would only cost
    an invocation. Duplicates are listed once, in first-seen order.
    """
    policy = policy or load_policy()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for bucket, key in dict.fromkeys(chats):
        if chat_key(key, policy) is not None:
            writer.writerow([bucket, encode_key(key)])
    return out.getvalue()


def create_job(
    s3control: S3ControlClient,
    account_id: str,
    manifest_bucket: str,
    manifest_key: str,
    manifest_etag: str,
    function_arn: str,
    role_arn: str,
    report_bucket: str,
    report_prefix: str,
    *,
    manifest_fields: Sequence[JobManifestFieldNameType] = ("Bucket", "Key"),
    priority: int = JOB_PRIORITY,
    description: str = "consentry backfill: tag every chat object",
) -> str:
    """Create the job that invokes `function_arn` on every manifest row; its job id.

    The job starts without confirmation and reports failed tasks only (each
    with the reason our handler returned) under `report_prefix`. The request
    token is derived from the manifest's location and ETag and the function,
    so running the command twice for the same manifest creates one job.
    `manifest_fields` names the CSV columns (`Ignore` for extra ones, e.g. a
    training snapshot's `("Bucket", "Key", "VersionId", "Ignore", ...)`).
    """
    etag = manifest_etag.strip('"')  # S3 returns ETags quoted; CreateJob wants the bare value
    token = hashlib.sha256(
        "\n".join((account_id, manifest_bucket, manifest_key, etag, function_arn)).encode()
    ).hexdigest()[:64]
    response = s3control.create_job(
        AccountId=account_id,
        ConfirmationRequired=False,
        Operation={"LambdaInvoke": {"FunctionArn": function_arn, "InvocationSchemaVersion": INVOCATION_SCHEMA}},
        Report={
            "Bucket": f"arn:aws:s3:::{report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": report_prefix,
            "ReportScope": "FailedTasksOnly",
        },
        ClientRequestToken=token,
        Manifest={
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": list(manifest_fields)},
            "Location": {"ObjectArn": f"arn:aws:s3:::{manifest_bucket}/{manifest_key}", "ETag": etag},
        },
        Description=description,
        Priority=priority,
        RoleArn=role_arn,
    )
    return response["JobId"]


__all__ = ["create_job", "decode_key", "encode_key", "manifest_csv"]
