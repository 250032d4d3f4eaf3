"""The glue between Lambda events and flows, and the Lambda entry points.

The plain functions (`tag_on_write`, `chat_event`, ...) parse and call flows;
the `*_handler` functions wrap them with Powertools (structured logs, EMF
metrics, partial batch responses) and the invocation's deadline
(`consentry.deadline`): a record that the remaining time may not cover is not
started, and goes back to its queue as a batch item failure (counted as
`DeadlineDeferrals`). `functions/<name>/app.py` re-exports one `*_handler`
as `handler`, so the deployed function and the local runtime run the very
same code. Log lines name users and chats by their keyed hashes only.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationResponseRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from consentry import deadline, flows
from consentry.deadline import OutOfTime
from consentry.flows import Enforcer
from consentry.handlers import events
from consentry.observability import count, logger, metrics
from consentry.policy import format_instant

THROTTLING = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
}
WRITE_CHUNK = 20  # S3 notifications settled together, between two looks at the deadline


def enforcer() -> Enforcer:
    return Enforcer.from_env()


def _step(what: str) -> Any:
    """The deadline's step for one record (a no-op outside an invocation with a context)."""
    current = deadline.current()
    return nullcontext() if current is None else current.step(what)


def _deferred(err: OutOfTime, **context: Any) -> None:
    logger.warning("not started: the invocation's remaining time is short; back to the queue", extra=context)
    count("DeadlineDeferrals")


def tag_on_write(event: dict[str, Any]) -> dict[str, Exception]:
    """Errors by SQS message id for a batch of S3 notifications; the rest is tagged."""
    app = enforcer()
    errors: dict[str, Exception] = {}
    writes: list[flows.Write] = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            writes.extend(events.s3_writes(record.get("body", ""), app.settings.bucket, token=message_id))
        except events.BadEvent as err:
            logger.error("unparseable S3 notification", extra={"message_id": message_id, "error": str(err)})
            count("BadEvents")
            errors[message_id] = err
    tokens = list(dict.fromkeys(w.token for w in writes))
    for start in range(0, len(tokens), WRITE_CHUNK):
        chunk = set(tokens[start : start + WRITE_CHUNK])
        try:
            with _step("S3 notifications"):
                errors.update(flows.tag_on_write(app, [w for w in writes if w.token in chunk]))
        except OutOfTime as err:
            rest = tokens[start:]
            _deferred(err, messages=len(rest))
            errors.update({token: err for token in rest})
            break
    return errors


def consent_changed(record: dict[str, Any]) -> None:
    """One DynamoDB Streams record of the consent table: queue a retag of its user."""
    sequence = record.get("dynamodb", {}).get("SequenceNumber")
    try:
        with _step("consent stream record"):
            user_id = events.consent_change(record)
            if user_id is not None:
                flows.request_retag(enforcer(), [user_id], chain=str(sequence or ""))
    except OutOfTime as err:
        _deferred(err, sequence_number=sequence)
        raise
    except Exception:
        logger.exception(
            "consent stream record failed; Lambda retries it, then sends it to the on-failure queue",
            extra={"sequence_number": sequence},
        )
        count("StreamFailures")
        raise


def chat_event(event: dict[str, Any]) -> str:
    """One `chat.app` event; what was done. Rejected events raise nothing and change nothing."""
    try:
        parsed = events.chat_event(event)
        app = enforcer()
        return _dispatch(app, parsed)
    except (events.BadEvent, flows.EventRejected) as err:
        logger.error("chat event rejected", extra={"event_id": event.get("id"), "error": str(err)})
        count("RejectedEvents")
        return "rejected"


def _dispatch(app: Enforcer, e: events.ChatEvent) -> str:
    if e.detail_type == "Erasure Requested":
        started = flows.start_erasure(app, e.user_id, e.at, e.event_id)
        return "erasure started" if started else "erasure already recorded"
    if e.detail_type in ("Legal Hold Placed", "Legal Hold Released"):
        on = e.detail_type == "Legal Hold Placed"
        if e.key is None:
            message = {"type": "hold", "user_id": e.user_id, "on": on, "at": format_instant(e.at), "prefix": 0}
            app.queue.send([message])
            return "hold queued"
        return flows.hold(app, e.user_id, e.key, on, e.at)
    assert e.key is not None
    if e.detail_type == "Chat Reopened":
        flows.reopen(app, e.user_id, e.key, e.at)
        return "reopened"
    if e.detail_type == "Chat Archived":
        flows.archive(app, e.user_id, e.key, e.at)
        return "archived"
    return flows.delete_chat(app, e.user_id, e.key, e.at)


def retention_sweep(event: dict[str, Any]) -> dict[str, Any]:
    # The heartbeat: an alarm on its absence pages someone when the sweep cannot even start.
    count("SweepStarted")
    try:
        now = events.scheduled_time(event)
    except events.BadEvent as err:  # raised on: Lambda retries, then the rule's DLQ
        logger.error(
            "scheduled event without a valid time; no sweep", extra={"event_id": event.get("id"), "error": str(err)}
        )
        count("BadEvents")
        raise
    summary = flows.start_sweep(enforcer(), now)
    count("SweepStarted")  # the heartbeat: every shard queued (infra/monitoring.py alarms when it stops)
    metrics.add_metric(name="OldestDueAgeSeconds", unit=MetricUnit.Seconds, value=summary["oldest_due_age_seconds"])
    return summary


def work(record: SQSRecord) -> None:
    """One work-queue message; a failure is logged with its message and raised so the batch reports it."""
    try:
        message = json.loads(record.body)
    except json.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        logger.error("work message is not a JSON object", extra={"message_id": record.message_id})
        count("BadEvents")
        raise events.BadEvent(f"work message {record.message_id} is not a JSON object")
    receive_count = int(record.attributes.approximate_receive_count or 1)
    sent = record.attributes.get("SentTimestamp")  # absent from hand-made events
    sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
    context = {"message_id": record.message_id, "work_type": message.get("type"), "receive_count": receive_count}
    try:
        with _step("work message"):
            app = enforcer()
            if isinstance(message.get("user_id"), str):
                context["user_hash"] = app.names.user(message["user_id"])
            flows.run_work(app, message, receive_count, sent_at)
    except OutOfTime as err:
        _deferred(err, **context)
        raise
    except Exception:
        logger.exception("work message failed; SQS retries it, then dead-letters it", extra=context)
        count("WorkFailures")
        raise


def backfill(event: dict[str, Any]) -> dict[str, Any]:
    """An S3 Batch Operations (schema 2.0) invocation: tag each task's object."""
    batch = S3BatchOperationEvent(event)
    app = enforcer()
    results = []
    code: Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
    for task in batch.tasks:
        ref = app.ref(task.s3_key)
        try:
            with _step("backfill task"):
                if task.s3_bucket not in (None, app.settings.bucket):
                    raise events.BadEvent(f"bucket {task.s3_bucket} is not the chat bucket")
                outcomes = flows.backfill(app, [(task.s3_key, None)])
                flows.raise_first(outcomes)
            record = outcomes[0].record if outcomes else None
            code, text = "Succeeded", record.reason.value if record else "ignored: not a chat key, or gone"
        except OutOfTime as err:
            _deferred(err, **ref)
            code, text = "TemporaryFailure", "deferred: the invocation's time ran short"
        except ClientError as err:
            temporary = err.response.get("Error", {}).get("Code") in THROTTLING
            code, text = ("TemporaryFailure" if temporary else "PermanentFailure"), str(err)
        except Exception as err:
            code, text = "PermanentFailure", f"{type(err).__name__}: {err}"
        if code != "Succeeded":
            logger.error("backfill task failed", extra={**ref, "code": code, "error": text})
            count("BackfillFailures")
        results.append(S3BatchOperationResponseRecord(task_id=task.task_id, result_code=code, result_string=text))
    # Built by hand: Powertools' response insists on exactly one task, schema 2.0 allows more.
    return {
        "invocationSchemaVersion": batch.invocation_schema_version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": batch.invocation_id,
        "results": [r.asdict() for r in results],
    }


# -- Lambda entry points (functions/<name>/app.py re-export these) -------------------


@logger.inject_lambda_context
@metrics.log_metrics
def tag_on_write_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with deadline.running(context):
        errors = tag_on_write(event)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in errors:
            raise errors[record.message_id]

    return process_partial_response(
        event, record_handler, BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False), context
    )


def _consent_record(record: DynamoDBRecord) -> None:
    consent_changed(record.raw_event)


@logger.inject_lambda_context
@metrics.log_metrics
def consent_changed_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with deadline.running(context):
        return process_partial_response(
            event,
            _consent_record,
            BatchProcessor(EventType.DynamoDBStreams, raise_on_entire_batch_failure=False),
            context,
        )


@logger.inject_lambda_context
@metrics.log_metrics
def chat_events_handler(event: dict[str, Any], context: LambdaContext) -> None:
    with deadline.running(context):
        logger.info("chat event handled", extra={"outcome": chat_event(event)})


@logger.inject_lambda_context
@metrics.log_metrics
def retention_sweep_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with deadline.running(context):
        summary = retention_sweep(event)
    logger.info("sweep started", extra=summary)
    return summary


@logger.inject_lambda_context
@metrics.log_metrics
def worker_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with deadline.running(context):
        return process_partial_response(
            event, work, BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False), context
        )


@logger.inject_lambda_context
@metrics.log_metrics
def backfill_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with deadline.running(context):
        return backfill(event)
