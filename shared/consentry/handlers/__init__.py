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
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from consentry import deadline
from consentry.deadline import OutOfTime
from consentry.flows import lifecycle
from consentry.flows.enforcer import Enforcer, raise_first
from consentry.handlers import events
from consentry.observability import count, logger, metrics
from consentry.policy import format_instant

if TYPE_CHECKING:
    from consentry.deadline import RemainingTime as LambdaContext

# What a handler does not need on every path is imported where it is used (issue 16: cold start): the flows of
# the other functions (retag, sweep, erasure pages) and no Powertools batch utility or event data class (their
# use here was a loop and a few dictionary reads, below).
PartialItemFailureResponse = dict[str, list[dict[str, str]]]

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
    writes: list[lifecycle.Write] = []
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
                errors.update(lifecycle.tag_on_write(app, [w for w in writes if w.token in chunk]))
        except OutOfTime as err:
            rest = tokens[start:]
            _deferred(err, messages=len(rest))
            errors.update({token: err for token in rest})
            break
    return errors


def consent_changed(record: Mapping[str, Any]) -> None:
    """One DynamoDB Streams record of the consent table: queue a retag of its user."""
    sequence = record.get("dynamodb", {}).get("SequenceNumber")
    try:
        with _step("consent stream record"):
            user_id = events.consent_change(record)
            if user_id is not None:
                from consentry.flows.fanout import request_retag

                request_retag(enforcer(), [user_id], chain=str(sequence or ""))
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
    except (events.BadEvent, lifecycle.EventRejected) as err:
        logger.error("chat event rejected", extra={"event_id": event.get("id"), "error": str(err)})
        count("RejectedEvents")
        return "rejected"


def _dispatch(app: Enforcer, e: events.ChatEvent) -> str:
    if e.detail_type == "Erasure Requested":
        from consentry.flows.erasure import start_erasure

        started = start_erasure(app, e.user_id, e.at, e.event_id)
        return "erasure started" if started else "erasure already recorded"
    if e.detail_type in ("Legal Hold Placed", "Legal Hold Released"):
        on = e.detail_type == "Legal Hold Placed"
        if e.key is None:
            message = {"type": "hold", "user_id": e.user_id, "on": on, "at": format_instant(e.at), "prefix": 0}
            app.queue.send([message])
            return "hold queued"
        return lifecycle.hold(app, e.user_id, e.key, on, e.at)
    assert e.key is not None
    if e.detail_type == "Chat Reopened":
        lifecycle.reopen(app, e.user_id, e.key, e.at)
        return "reopened"
    if e.detail_type == "Chat Archived":
        lifecycle.archive(app, e.user_id, e.key, e.at)
        return "archived"
    return lifecycle.delete_chat(app, e.user_id, e.key, e.at)


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
    from consentry.flows.sweep import start_sweep

    summary = start_sweep(enforcer(), now)
    count("SweepStarted")  # the heartbeat: every shard queued (infra/monitoring.py alarms when it stops)
    metrics.add_metric(name="OldestDueAgeSeconds", unit=MetricUnit.Seconds, value=summary["oldest_due_age_seconds"])
    return summary


def work(record: Mapping[str, Any]) -> None:
    """One work-queue message (an SQS record); a failure is logged with its message and raised: the batch reports it."""
    message_id = str(record.get("messageId", ""))
    try:
        message = json.loads(record.get("body") or "")
    except json.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        logger.error("work message is not a JSON object", extra={"message_id": message_id})
        count("BadEvents")
        raise events.BadEvent(f"work message {message_id} is not a JSON object")
    attributes = record.get("attributes") or {}
    receive_count = int(attributes.get("ApproximateReceiveCount") or 1)
    sent = attributes.get("SentTimestamp")  # absent from hand-made events
    sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
    context = {"message_id": message_id, "work_type": message.get("type"), "receive_count": receive_count}
    try:
        with _step("work message"):
            from consentry.flows.work import run_work

            app = enforcer()
            if isinstance(message.get("user_id"), str):
                context["user_hash"] = app.names.user(message["user_id"])
            run_work(app, message, receive_count, sent_at)
    except OutOfTime as err:
        _deferred(err, **context)
        raise
    except Exception:
        logger.exception("work message failed; SQS retries it, then dead-letters it", extra=context)
        count("WorkFailures")
        raise


def backfill(event: dict[str, Any]) -> dict[str, Any]:
    """An S3 Batch Operations (schema 2.0) invocation: tag each task's object."""
    app = enforcer()
    results = []
    code: Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
    for task in event["tasks"]:
        key = unquote_plus(task["s3Key"])  # S3 Batch Operations URL-encodes keys
        arn = task.get("s3BucketArn")  # schema 1.0; 2.0 names the bucket
        bucket = arn.split(":::")[-1] if arn else task.get("s3Bucket")
        ref = app.ref(key)
        try:
            with _step("backfill task"):
                if bucket not in (None, app.settings.bucket):
                    raise events.BadEvent(f"bucket {bucket} is not the chat bucket")
                outcomes = lifecycle.backfill(app, [(key, None)])
                raise_first(outcomes)
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
        results.append({"taskId": task["taskId"], "resultCode": code, "resultString": text})
    return {
        "invocationSchemaVersion": event["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": results,
    }


# -- Lambda entry points (functions/<name>/app.py re-export these) -------------------


@logger.inject_lambda_context
@metrics.log_metrics
def tag_on_write_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with deadline.running(context):
        errors = tag_on_write(event)

    return _partial(event, lambda record: _raise(errors.get(record.get("messageId", ""))), _message_id)


def _raise(error: Exception | None) -> None:
    if error is not None:
        raise error


def _message_id(record: Mapping[str, Any]) -> str:
    return str(record.get("messageId", ""))


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def _partial(
    event: Mapping[str, Any],
    handle: Callable[[Mapping[str, Any]], None],
    identifier: Callable[[Mapping[str, Any]], str],
) -> PartialItemFailureResponse:
    """A partial batch response (SQS, DynamoDB Streams): the records whose `handle` raised are retried.

    The event source mapping needs `ReportBatchItemFailures` (infra/functions.py sets it). Lambda retries
    only these; every failure was logged and counted by `handle` (or before, as with tag_on_write).
    """
    failures: list[dict[str, str]] = []
    for record in _records(event):
        try:
            handle(record)
        except Exception:
            failures.append({"itemIdentifier": identifier(record)})
    return {"batchItemFailures": failures}


def _records(event: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    records = event.get("Records")
    return records if isinstance(records, list) else []


@logger.inject_lambda_context
@metrics.log_metrics
def consent_changed_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with deadline.running(context):
        return _partial(event, consent_changed, _sequence_number)


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
        return _partial(event, work, _message_id)


@logger.inject_lambda_context
@metrics.log_metrics
def backfill_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with deadline.running(context):
        return backfill(event)
