"""SQS queues with dead-letter queues: where a failed message ends instead of being dropped."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# A message that failed this many receives is moved to the DLQ (POLICY.md invariant 2: never dropped).
MAX_RECEIVE_COUNT = 5
# The longest SQS keeps a message: time for an operator to look and redrive.
DLQ_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that holds failures for 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        retention_period=DLQ_RETENTION,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )


class QueueWithDlq(Construct):
    """A work queue and its DLQ; the visibility timeout is given by the consumer's timeout."""

    def __init__(self, scope: Construct, construct_id: str, *, visibility_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dlq = dead_letter_queue(self, "Dlq")
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=visibility_timeout,
            # Shorter than the DLQ's: a moved message keeps its first enqueue time (SQS counts from it).
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )


def visibility_for(function_timeout: Duration, batching_window: Duration | None = None) -> Duration:
    """AWS's rule for SQS event sources: at least 6x the function timeout, plus the batching window."""
    seconds = 6 * function_timeout.to_seconds()
    if batching_window is not None:
        seconds += batching_window.to_seconds()
    return Duration.seconds(seconds)
