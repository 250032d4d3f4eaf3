"""Parsing of the AWS events the handlers receive, tolerant of moto's thinner shapes.

Real S3 notifications carry `userIdentity`, `sequencer` and `versionId`;
moto's do not, and moto URL-encodes the whole key. Only the fields the policy
needs are read. Keys in S3 notifications are URL-encoded (a space arrives as
`+`) and decoded with `unquote_plus`; keys in chat-app events are the keys as
stored and are never decoded (a `+` in them is part of the key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from consentry.service.flows.lifecycle import Write
from consentry.service.policy import parse_instant

CHAT_EVENT_TYPES = (
    "Chat Reopened",
    "Chat Archived",
    "Chat Deleted",
    "Erasure Requested",
    "Legal Hold Placed",
    "Legal Hold Released",
)
CHAT_EVENT_SOURCE = "chat.app"
# Consent-record attributes the policy reads: a change elsewhere needs no retag.
CONSENT_FIELDS = ("tier", "training_consent", "consent_changed_at", "tier_changed_at", "retention_days")


class BadEvent(ValueError):
    """An event that does not parse; the message says what is wrong."""


def envelope(
    detail_type: str,
    detail: Mapping[str, Any],
    at: datetime,
    *,
    source: str = CHAT_EVENT_SOURCE,
    account: str = "123456789012",
    region: str = "us-east-1",
    resources: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An EventBridge event exactly as EventBridge delivers it to Lambda (`time` at second precision).

    The one builder of the shape, for the local runtime, the CLI's hand-off and the tests.
    """
    import uuid
    from datetime import UTC

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


def s3_writes(body: str, bucket: str, token: str = "") -> list[Write]:
    """The ObjectCreated records of an S3 notification delivered through SQS.

    `s3:TestEvent` gives no writes. Records for another bucket or of another
    kind are skipped. Anything malformed raises BadEvent.
    """
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, TypeError) as err:
        raise BadEvent(f"body is not JSON: {err}") from err
    if not isinstance(message, dict):
        raise BadEvent("body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise BadEvent("no Records list in the notification")
    writes = []
    for record in records:
        try:
            if not str(record["eventName"]).startswith("ObjectCreated:"):
                continue
            s3 = record["s3"]
            if s3["bucket"]["name"] != bucket:
                continue
            key = unquote_plus(s3["object"]["key"])
            at = parse_instant(record["eventTime"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # AttributeError: a key that is not a string
            raise BadEvent(f"malformed S3 record: {err!r}") from err
        version = s3["object"].get("versionId") if isinstance(s3["object"], dict) else None
        writes.append(Write(key=key, at=at, token=token, version_id=str(version) if version else None))
    return writes


class ChatEvent(NamedTuple):
    detail_type: str
    user_id: str
    key: str | None  # exactly as stored (chat-app events carry raw keys)
    at: datetime
    event_id: str = ""


def chat_event(event: Mapping[str, Any]) -> ChatEvent:
    """An EventBridge `chat.app` event; the activity time is the envelope's `time`."""
    envelope = dict(event)
    try:
        detail_type, detail = envelope["detail-type"], envelope["detail"]
        at = parse_instant(envelope["time"])
    except (KeyError, TypeError, ValueError) as err:
        raise BadEvent(f"malformed EventBridge event: {err!r}") from err
    if event.get("source") != CHAT_EVENT_SOURCE or detail_type not in CHAT_EVENT_TYPES:
        raise BadEvent(f"not a chat event: source={event.get('source')!r} detail-type={detail_type!r}")
    if not isinstance(detail, Mapping) or not isinstance(detail.get("user_id"), str) or not detail["user_id"]:
        raise BadEvent("detail.user_id missing")
    key = detail.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise BadEvent(f"detail.key is not a key: {key!r}")
    if key is None and detail_type not in ("Erasure Requested", "Legal Hold Placed", "Legal Hold Released"):
        raise BadEvent(f"{detail_type} needs detail.key")
    return ChatEvent(detail_type, detail["user_id"], key or None, at, str(event.get("id") or ""))


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """'now' of a scheduled event: its `time`, never the wall clock."""
    try:
        return parse_instant(event["time"])
    except (KeyError, TypeError, ValueError) as err:
        raise BadEvent(f"scheduled event without a valid time: {err!r}") from err


def consent_change(record: Mapping[str, Any]) -> str | None:
    """The user whose consent record changed in a way the policy reads, or None.

    `record` is one DynamoDB Streams record in the Lambda event shape.
    """
    try:
        data = record["dynamodb"]
        user_id = data["Keys"]["user_id"]["S"]
    except (KeyError, TypeError) as err:
        raise BadEvent(f"stream record without a user_id key: {err!r}") from err
    old, new = data.get("OldImage") or {}, data.get("NewImage") or {}
    if record.get("eventName") == "MODIFY" and all(old.get(f) == new.get(f) for f in CONSENT_FIELDS):
        return None
    return str(user_id)
