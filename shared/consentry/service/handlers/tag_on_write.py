"""S3 -> SQS -> Lambda: tag every chat object S3 announces, in chunks between two looks at the deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consentry.service import settings
from consentry.service.deadline import OutOfTime
from consentry.service.flows import lifecycle
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

WRITE_CHUNK = 20  # S3 notifications settled together, between two looks at the deadline


def tag_on_write(event: dict[str, Any]) -> dict[str, Exception]:
    """Errors by SQS message id for a batch of S3 notifications; the rest is tagged."""
    bucket = settings.current()[0].bucket
    errors: dict[str, Exception] = {}
    writes: list[lifecycle.Write] = []
    for record in event.get("Records", []):
        message = message_id(record)
        try:
            writes.extend(events.s3_writes(record.get("body", ""), bucket, token=message))
        except events.BadEvent as err:
            logger.error("unparseable S3 notification", extra={"message_id": message, "error": str(err)})
            count("BadEvents")
            errors[message] = err
    mention("key", *(w.key for w in writes))  # before anything can fail: an error may quote them
    app = enforcer()
    tokens = list(dict.fromkeys(w.token for w in writes))
    for start in range(0, len(tokens), WRITE_CHUNK):
        chunk = set(tokens[start : start + WRITE_CHUNK])
        try:
            with step("S3 notifications"):
                errors.update(lifecycle.tag_on_write(app, [w for w in writes if w.token in chunk]))
        except OutOfTime as err:
            rest = tokens[start:]
            deferred(err, messages=len(rest))
            errors.update({token: err for token in rest})
            break
    return errors


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    errors = tag_on_write(event)

    def failed(record: Any) -> None:
        error = errors.get(message_id(record))
        if error is not None:
            raise error

    return partial(event, failed, message_id)
