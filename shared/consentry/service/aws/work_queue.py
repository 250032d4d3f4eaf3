"""The work queue: every internal fan-out (retag pages, sweep pages, erasure, holds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from consentry.service.flows.messages import Message

SEND_BATCH = 10  # SendMessageBatch takes at most 10 entries


class WorkQueue:
    def __init__(self, client: SQSClient, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, messages: Sequence[Message]) -> None:
        """Send every message or raise: a fan-out must never be dropped."""
        for start in range(0, len(messages), SEND_BATCH):
            chunk = messages[start : start + SEND_BATCH]
            response = self.client.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": m.canonical()} for i, m in enumerate(chunk)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"work queue refused messages: {response['Failed']}")
