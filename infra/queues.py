"""SQS queues with dead-letter queues: where a failed message ends instead of being dropped.

Visibility, retention and redrive come from `consentry.service.deployment.QueueSpec`, as `provision` makes them.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from consentry.service.deployment import DLQ_RETENTION_SECONDS, QueueSpec


def dead_letter_queue(scope: Construct, construct_id: str, retention_seconds: int = DLQ_RETENTION_SECONDS) -> sqs.Queue:
    """An encrypted, TLS-only queue that holds failures for 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        retention_period=Duration.seconds(retention_seconds),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )


class QueueWithDlq(Construct):
    """A queue and its DLQ, as `spec` describes them (the visibility timeout follows its consumer's timeout)."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: QueueSpec) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.dlq = dead_letter_queue(self, "Dlq", spec.dlq_retention_seconds)
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(spec.visibility_timeout_seconds),
            retention_period=Duration.seconds(spec.retention_seconds),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=spec.max_receive_count),
        )
