"""Nightly schedule -> Lambda: fan the sweep of due chats out over the work queue.

The heartbeat `SweepStarted` counts a sweep that queued every shard, once:
its alarm (infra/monitoring.py) reads its absence as "the sweep did not run".
A sweep that raises emits no heartbeat (Powertools flushes the metrics that
were added, even on an error, so the count is added only after the shards
are queued).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from consentry.service.handlers import events
from consentry.service.handlers.batch import enforcer, entry_point
from consentry.service.observability import count, logger, metrics

if TYPE_CHECKING:
    from consentry.service.deadline import RemainingTime as LambdaContext


def retention_sweep(event: dict[str, Any]) -> dict[str, Any]:
    """Queue the due shards of the sweep at the event's `time`; the summary of what was queued."""
    try:
        now = events.scheduled_time(event)
    except events.BadEvent as err:  # raised on: Lambda retries, then the rule's DLQ
        logger.error(
            "scheduled event without a valid time; no sweep", extra={"event_id": event.get("id"), "error": str(err)}
        )
        count("BadEvents")
        raise
    from consentry.service.flows.sweep import start_sweep

    summary = start_sweep(enforcer(), now)
    count("SweepStarted")
    metrics.add_metric(name="OldestDueAgeSeconds", unit=MetricUnit.Seconds, value=summary["oldest_due_age_seconds"])
    return summary


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = retention_sweep(event)
    logger.info("sweep started", extra=summary)
    return summary
