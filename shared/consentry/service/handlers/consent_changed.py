"""Consent table stream -> Lambda: queue a retag of every user whose record changed in a way the policy reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from consentry.service.deadline import OutOfTime
from consentry.service.handlers import events
from consentry.service.handlers.batch import (
    PartialItemFailureResponse,
    deferred,
    enforcer,
    entry_point,
    partial,
    sequence_number,
    step,
)
from consentry.service.observability import count, logger, mention

if TYPE_CHECKING:
    from consentry.service.deadline import RemainingTime as LambdaContext


def consent_changed(record: Mapping[str, Any]) -> None:
    """One DynamoDB Streams record of the consent table: queue a retag of its user."""
    sequence = record.get("dynamodb", {}).get("SequenceNumber")
    try:
        with step("consent stream record"):
            user_id = events.consent_change(record)
            if user_id is not None:
                mention("user", user_id)
                from consentry.service.flows.fanout import request_retag

                request_retag(enforcer(), [user_id], chain=str(sequence or ""))
    except OutOfTime as err:
        deferred(err, sequence_number=sequence)
        raise
    except Exception:
        logger.exception(
            "consent stream record failed; Lambda retries it, then sends it to the on-failure queue",
            extra={"sequence_number": sequence},
        )
        count("StreamFailures")
        raise


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return partial(event, consent_changed, sequence_number)
