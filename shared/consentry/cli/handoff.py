"""How a command that changes chats hands the work to the deployment: never with the operator's own rights.

The deployed bucket policy lets only the enforcer functions' roles (and the
legal operators it names) tag, delete and lock chats. So a command never
calls the flows with the operator's credentials; it hands them over:

- chat events (legal holds, erasures) go to the `chat_events` function as the
  EventBridge `chat.app` event it is built for: on an AWS account
  `lambda:InvokeFunction` on `CHAT_EVENTS_FUNCTION` (the stack's output
  `ChatEventsFunctionArn`), synchronously, so that a failure is seen at once;
- pages of work (a planned sweep, redriven messages, retags) go to the work
  queue (`WORK_QUEUE_URL`), which the worker consumes;
- a retag of every chat goes to the backfill function: an S3 Batch Operations
  job on an AWS account (`consentry retag --all`).

On a local server (embedded or served moto) the local runtime plays Lambda:
the same events and messages reach the same handlers, in this process, and
`drain()` delivers the work queue until nothing is pending.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.config import Config

from consentry.cli.options import CommandError
from consentry.cli.target import Target
from consentry.service.aws.batch_ops import encode_key
from consentry.service.aws.work_queue import WorkQueue
from consentry.service.deployment import CHAT_EVENTS
from consentry.service.flows.messages import Message
from consentry.service.handlers.events import envelope

CHAT_EVENTS_FUNCTION = "CHAT_EVENTS_FUNCTION"
CHAT_EVENTS_OUTPUT = "ChatEventsFunctionArn"
# A synchronous invocation waits for the function: its timeout, and a margin.
INVOKE_CONFIG = Config(
    retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=CHAT_EVENTS.timeout_seconds + 10
)


class Handoff:
    """The deployment's side of a command: its chat-events function and its work queue."""

    local = False

    def __init__(self, target: Target) -> None:
        self.target = target
        url = target.settings.work_queue_url
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"the work queue is not known ({url}): set WORK_QUEUE_URL (the stack's WorkQueueUrl)")
        self.queue = WorkQueue(target.clients.sqs, url)

    def event(self, detail_type: str, detail: Mapping[str, Any], at: datetime) -> dict[str, Any]:
        return envelope(detail_type, detail, at, account=self.target.account, region=self.target.region)

    def chat_event(self, event: Mapping[str, Any]) -> None:
        """Apply one chat event through the chat_events function; raise CommandError if it failed."""
        function = os.environ.get(CHAT_EVENTS_FUNCTION)
        if not function:
            raise CommandError(
                f"set {CHAT_EVENTS_FUNCTION} to the stack's {CHAT_EVENTS_OUTPUT} output (aws cloudformation "
                "describe-stacks): chat events are applied by that function, never with your own credentials"
            )
        client = self.target.client("lambda", INVOKE_CONFIG)
        response = client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read().decode() if "Payload" in response else ""
        if response.get("FunctionError"):
            try:
                message = json.loads(payload).get("errorMessage") or payload
            except (ValueError, AttributeError):
                message = payload
            raise CommandError(f"the chat_events function failed on the {event['detail-type']} event: {message}")

    def send_work(self, messages: Sequence[Message]) -> None:
        self.queue.send(messages)

    def drain(self, progress: Callable[[], None] | None = None) -> bool:
        """Deliver pending work now (a local server); False: the deployment's worker does it, asynchronously."""
        return False


class LocalHandoff(Handoff):
    """The same hand-off on a local server: the local runtime delivers to the handlers in this process."""

    local = True

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.runtime = target.runtime or self._runtime(target)

    @staticmethod
    def _runtime(target: Target) -> Any:
        from consentry.local import LocalRuntime

        s = target.settings
        env = {
            "CHAT_BUCKET": s.bucket,
            "CONSENT_TABLE": s.consent_table,
            "LEDGER_TABLE": s.ledger_table,
            "WORK_QUEUE_URL": s.work_queue_url,
            "WRITE_QUEUE_URL": target.write_queue_url,
        }
        if s.hash_key_secret:
            env["HASH_KEY_SECRET"] = s.hash_key_secret
        if target.policy_file:
            env["POLICY_FILE"] = target.policy_file  # the handlers decide under the policy the command was given
        return LocalRuntime(env)

    def chat_event(self, event: Mapping[str, Any]) -> None:
        self.runtime.invoke("chat_events", dict(event))

    def drain(self, progress: Callable[[], None] | None = None) -> bool:
        """Deliver the write and work queues until both are empty (not the consent stream: a runtime made
        here would read it from its start again, and a served one delivers it itself)."""
        while self.runtime.deliver_writes() + self.runtime.deliver_work():
            if progress is not None:
                progress()
        return True

    def backfill(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Invoke the backfill function on `keys` as one S3 Batch Operations invocation does; its results."""
        event = {
            "invocationSchemaVersion": "2.0",
            "invocationId": str(uuid.uuid4()),
            "job": {"id": "local-retag", "userArguments": {}},
            "tasks": [
                {
                    "taskId": str(i),
                    "s3Key": encode_key(key),
                    "s3VersionId": None,
                    "s3Bucket": self.target.settings.bucket,
                }
                for i, key in enumerate(keys)
            ],
        }
        result: dict[str, Any] = self.runtime.invoke("backfill", event)
        return list(result["results"])


def handoff(target: Target) -> Handoff:
    return Handoff(target) if target.real else LocalHandoff(target)
