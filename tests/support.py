"""Test helpers: seed consent records, read back what S3 and the ledger hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from consentry.local import LocalRuntime
from consentry.service.aws.dynamo import to_item
from consentry.service.aws.ledger import Ledger
from consentry.service.policy import format_instant
from consentry.service.records import ChatRecord


def s3_error(url: str, status: int, code: str, message: str) -> Any:
    """An S3 error answer for a `before-send` hook (HTTP-level fault injection: the SDK parses it as S3's)."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse(url, status, HTTPHeaders(), _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def t(text: str) -> datetime:
    """An instant from a short ISO form: t("2026-01-02") or t("2026-01-02T03:04:05")."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def set_consent(
    rt: LocalRuntime,
    user_id: str,
    consent: str | None = "granted",
    at: datetime | None = None,
    tier: str | None = "pro",
    version: int = 1,
    **extra: Any,
) -> None:
    """Write the user's consent item as the account service would."""
    item: dict[str, Any] = {"user_id": user_id, "version": version, **extra}
    if tier is not None:
        item["tier"] = tier
    if consent is not None:
        item["training_consent"] = consent
    if at is not None:
        item["consent_changed_at"] = format_instant(at)
    rt.dynamodb.put_item(TableName=rt.env["CONSENT_TABLE"], Item=to_item(item))


def remove_consent(rt: LocalRuntime, user_id: str) -> None:
    rt.dynamodb.delete_item(TableName=rt.env["CONSENT_TABLE"], Key=to_item({"user_id": user_id}))


def tags(rt: LocalRuntime, key: str) -> dict[str, str]:
    response = rt.s3.get_object_tagging(Bucket=rt.bucket, Key=key)
    return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}


def ledger(rt: LocalRuntime) -> Ledger:
    return rt.enforcer().ledger


def record(rt: LocalRuntime, user_id: str, key: str) -> ChatRecord | None:
    """The record of a chat (a removed chat's tombstone, found by its keyed hash, reads back as state `removed`)."""
    return ledger(rt).get(user_id, key)


def tombstone(rt: LocalRuntime, user_id: str, key: str) -> ChatRecord | None:
    """The tombstone of a removed chat (found by its keyed hash), or None."""
    found = ledger(rt).get(user_id, key)
    return found if found is not None and found.removed else None


def versions(rt: LocalRuntime, key: str) -> list[dict[str, Any]]:
    """Every version and delete marker of exactly this key."""
    response = rt.s3.list_object_versions(Bucket=rt.bucket, Prefix=key)
    found: list[Any] = [*response.get("Versions", []), *response.get("DeleteMarkers", [])]
    return [dict(v) for v in found if v["Key"] == key]


def exists(rt: LocalRuntime, key: str) -> bool:
    return bool(versions(rt, key))


def eligible(rt: LocalRuntime, key: str) -> bool:
    return tags(rt, key).get("training-eligible") == "true"


def expire(rt: LocalRuntime, now: datetime) -> int:
    """Play DynamoDB's TTL at `now` (moto runs none): delete the ledger items whose TTL attribute has passed.

    The attribute is the one the table's TTL names, never a copy of it. Returns how many went.
    """
    table = rt.env["LEDGER_TABLE"]
    name = rt.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["AttributeName"]
    gone = 0
    for page in rt.dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            if name in item and int(item[name]["N"]) <= now.timestamp():
                rt.dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
                gone += 1
    return gone


def retain_for_a_day(rt: LocalRuntime, key: str) -> None:
    """GOVERNANCE retention on the key's current version until a day from now: S3 checks a retention
    date against its own clock, so the date comes from the wall clock, not from a test's time."""
    version = rt.s3.head_object(Bucket=rt.bucket, Key=key)["VersionId"]
    until = datetime.now(UTC) + timedelta(days=1)
    retention = {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    rt.s3.put_object_retention(Bucket=rt.bucket, Key=key, VersionId=version, Retention=retention)  # type: ignore[arg-type]
