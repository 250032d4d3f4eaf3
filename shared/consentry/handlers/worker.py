"""Work queue -> Lambda: one page of fan-out per message (retag, sweep, erasure, holds)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consentry.deadline import OutOfTime
from consentry.handlers import events
from consentry.handlers.batch import (
    PartialItemFailureResponse,
    deferred,
    enforcer,
    entry_point,
    message_id,
    partial,
    step,
)
from consentry.observability import count, logger, mention

if TYPE_CHECKING:
    from consentry.deadline import RemainingTime as LambdaContext


def work(record: Mapping[str, Any]) -> None:
    """One work-queue message (an SQS record); a failure is logged with its message and raised: the batch reports it."""
    message_ref = message_id(record)
    try:
        message = json.loads(record.get("body") or "")
    except json.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        logger.error("work message is not a JSON object", extra={"message_id": message_ref})
        count("BadEvents")
        raise events.BadEvent(f"work message {message_ref} is not a JSON object")
    attributes = record.get("attributes") or {}
    receive_count = int(attributes.get("ApproximateReceiveCount") or 1)
    sent = attributes.get("SentTimestamp")  # absent from hand-made events
    sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
    context: dict[str, Any] = {
        "message_id": message_ref,
        "work_type": message.get("type"),
        "receive_count": receive_count,
    }
    if isinstance(message.get("user_id"), str):
        mention("user", message["user_id"])
        context["user_id"] = message["user_id"]  # the formatter writes its hash
    try:
        with step("work message"):
            from consentry.flows.work import run_work

            run_work(enforcer(), message, receive_count, sent_at)
    except OutOfTime as err:
        deferred(err, **context)
        raise
    except Exception:
        logger.exception("work message failed; SQS retries it, then dead-letters it", extra=context)
        count("WorkFailures")
        raise


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return partial(event, work, message_id)
