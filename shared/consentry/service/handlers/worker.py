"""Work queue -> Lambda: one page of fan-out per message (retag, sweep, erasure, holds)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consentry.service.deadline import OutOfTime
from consentry.service.flows.messages import BadMessage, from_wire
from consentry.service.handlers import events
from consentry.service.handlers.batch import (
    PartialItemFailureResponse,
    deferred,
    enforcer,
    entry_point,
    message_id,
    partial,
    step,
)
from consentry.service.observability import count, logger, mention

if TYPE_CHECKING:
    from consentry.service.deadline import RemainingTime as LambdaContext


def work(record: Mapping[str, Any]) -> None:
    """One work-queue message (an SQS record); a failure is logged with its message and raised: the batch reports it."""
    message_ref = message_id(record)
    try:
        message = json.loads(record.get("body") or "")
    except json.JSONDecodeError:
        message = None
    try:
        typed = from_wire(message)
    except BadMessage as err:
        logger.error(
            "work message malformed; SQS retries it, then dead-letters it",
            extra={"message_id": message_ref, "error": str(err)},
        )
        count("BadEvents")
        raise events.BadEvent(f"work message {message_ref} is malformed: {err}") from None
    attributes = record.get("attributes") or {}
    receive_count = int(attributes.get("ApproximateReceiveCount") or 1)
    sent = attributes.get("SentTimestamp")  # absent from hand-made events
    sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
    context: dict[str, Any] = {
        "message_id": message_ref,
        "work_type": typed.type,
        "receive_count": receive_count,
    }
    user_id = getattr(typed, "user_id", None)
    if user_id is not None:
        mention("user", user_id)
        context["user_id"] = user_id  # the formatter writes its hash
    try:
        with step("work message"):
            from consentry.service.flows.work import run_work

            run_work(enforcer(), typed, receive_count, sent_at)
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
