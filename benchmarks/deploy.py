"""A provisioned deployment on moto, with the handlers' API calls counted.

Two ways to run moto:

* `in_process()`: `moto.mock_aws` in this process (fastest; the counts are the
  same as against a server, which `scenarios.tagging` checks);
* `moto_server()`: moto's threaded server in a child process
  (`benchmarks.server`), reached through `AWS_ENDPOINT_URL` as a deployment
  would reach AWS; memory measured here is then only the handler's side.

Either way the handlers run in this process, through `consentry.service.handlers` as
Lambda would call them, and a `CallCounter` is attached to the clients of
`consentry.service.settings.current()`: exactly the calls the handlers make. The
harness's own calls (seeding, reading results, receiving from queues as
Lambda's pollers do) go through other clients and are not counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
QUIET = {
    "POWERTOOLS_SERVICE_NAME": "consentry-bench",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


SERVER_READ_TIMEOUT = 120  # seconds: the handlers' clients against the benchmarks' moto server


def prepare_environment() -> None:
    """Fake credentials and quiet Powertools; call before consentry is imported."""
    os.environ.update(FAKE_AWS)
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)


@dataclass
class MessageRun:
    """One work-queue message delivered to the worker handler."""

    body: dict[str, Any]
    calls: Any  # Tally
    peak_bytes: int | None = None  # tracemalloc peak above the start, when measured
    failed: bool = False

    @property
    def enqueue_at(self) -> int | None:
        """How many calls the message made before it enqueued its successor (None: it enqueued nothing)."""
        for i, call in enumerate(self.calls.calls):
            if call.service == "sqs" and call.op in ("SendMessageBatch", "SendMessage"):
                return i + 1
        return None


@dataclass
class Deployment:
    mode: str
    runtime: Any  # consentry.local.LocalRuntime
    counter: Any  # benchmarks.calls.CallCounter
    seed: Any  # callable: command -> int
    work_arn: str = ""
    runs: list[MessageRun] = field(default_factory=list)
    hash_key: str = ""  # the deployment's hash key (hex), for the harness's own keyed hashes

    @property
    def ledger(self) -> Any:
        """A `Ledger` on the harness's own (uncounted) client, keyed as the handlers key it."""
        from consentry.service import settings
        from consentry.service.aws.ledger import Ledger
        from consentry.service.pseudonyms import Pseudonyms

        config = settings.current()[0]
        return Ledger(
            self.runtime.dynamodb,
            self.ledger_table,
            Pseudonyms(bytes.fromhex(self.hash_key)),
            tombstone_days=config.policy.tombstone_days,
            due_shards=config.due_shards,
        )

    @property
    def env(self) -> dict[str, str]:
        return dict(self.runtime.env)

    @property
    def bucket(self) -> str:
        return str(self.runtime.bucket)

    @property
    def ledger_table(self) -> str:
        return self.runtime.env["LEDGER_TABLE"]

    @property
    def consent_table(self) -> str:
        return self.runtime.env["CONSENT_TABLE"]

    # -- consent records -------------------------------------------------------

    def consent_item(
        self, user_id: str, consent: str, at: str | None, tier: str = "pro", version: int = 1
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "user_id": {"S": user_id},
            "tier": {"S": tier},
            "training_consent": {"S": consent},
            "version": {"N": str(version)},
        }
        if at is not None:
            item["consent_changed_at"] = {"S": at}
        return item

    def seed_consents(self, items: list[dict[str, Any]]) -> None:
        """Consent records as they stood before the measured stretch (no stream records)."""
        self.seed({"op": "consents", "table": self.consent_table, "items": items})

    def seed_chats(
        self, template: Mapping[str, Any], groups: list[dict[str, Any]], tags: Mapping[str, str] | None = None
    ) -> None:
        """Ledger records from `template` and, for the groups' `s3` ranges, S3 objects carrying `tags`."""
        command = {"op": "chats", "table": self.ledger_table, "bucket": self.bucket, "template": template}
        self.seed({**command, "groups": groups, **({"tags": tags} if tags is not None else {})})

    def change_consent(self, item: Mapping[str, Any]) -> None:
        """The account service writes the record: a stream record follows."""
        self.runtime.dynamodb.put_item(TableName=self.consent_table, Item=dict(item))

    # -- delivering events as Lambda does ----------------------------------------

    def deliver_stream(self) -> int:
        return int(self.runtime.deliver_stream())

    def work_message(self, body: Mapping[str, Any], receive_count: int = 1, memory: bool = False) -> MessageRun:
        """Deliver one work message to the worker handler, as its own invocation."""
        from consentry.local import LambdaContext
        from consentry.service import handlers

        record = {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "bench",
            "body": json.dumps(body, sort_keys=True),
            "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": self.work_arn,
            "awsRegion": "us-east-1",
        }
        mark = self.counter.mark()
        base = 0
        if memory:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        try:
            result = handlers.worker_handler({"Records": [record]}, LambdaContext("worker"))
        finally:
            peak = None
            if memory:
                peak = tracemalloc.get_traced_memory()[1] - base
                tracemalloc.stop()
        run = MessageRun(dict(body), self.counter.since(mark), peak, failed=bool(result.get("batchItemFailures")))
        self.runs.append(run)
        return run

    def receive_work(self) -> list[dict[str, Any]]:
        """Take the messages waiting in the work queue (as Lambda's poller does)."""
        url = self.runtime.env["WORK_QUEUE_URL"]
        response = self.runtime.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = response.get("Messages", [])
        for start in range(0, len(messages), 10):
            self.runtime.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )
        return [json.loads(m["Body"]) for m in messages]

    def drain_work(self, memory: Any = None, limit: int = 1_000_000) -> list[MessageRun]:
        """Deliver work messages until the queue is empty; `memory(i)` says which to trace."""
        runs: list[MessageRun] = []
        while len(runs) < limit:
            bodies = self.receive_work()
            if not bodies:
                return runs
            for body in bodies:
                run = self.work_message(body, memory=bool(memory and memory(len(runs))))
                if run.failed:
                    raise RuntimeError(f"work message failed: {body}")
                runs.append(run)
        return runs

    def sqs_event(self, bodies: list[str], arn: str, receive_count: int = 1) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": f"m{i}",
                    "receiptHandle": f"r{i}",
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": str(receive_count)},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
                for i, body in enumerate(bodies)
            ]
        }


def _attach(mode: str, seed: Any) -> Deployment:
    import boto3

    from benchmarks.calls import CallCounter
    from consentry.local import LocalRuntime
    from consentry.service import settings

    runtime = LocalRuntime.provisioned("bench")  # clears settings.current: the handlers' clients are made next
    config, clients = settings.current()
    counter = CallCounter().attach(clients.s3, clients.s3_once, clients.dynamodb, clients.sqs)
    url = runtime.env["WORK_QUEUE_URL"]
    arn = runtime.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    secrets = boto3.client("secretsmanager")
    hash_key = secrets.get_secret_value(SecretId=runtime.env["HASH_KEY_SECRET"])["SecretString"]

    def seeding(command: Mapping[str, Any]) -> int:
        return int(seed({**command, "hash_key": hash_key, "due_shards": config.due_shards}))

    return Deployment(mode, runtime, counter, seeding, work_arn=arn, hash_key=hash_key)


@contextmanager
def in_process() -> Iterator[Deployment]:
    """A deployment on `moto.mock_aws` in this process."""
    from moto import mock_aws

    from benchmarks import seed
    from benchmarks.motofast import faster_moto
    from consentry.service import settings

    saved = dict(os.environ)  # the runtime exports its deployment's variables: gone with the deployment
    with faster_moto(), mock_aws():
        settings.current.cache_clear()
        try:
            yield _attach("in-process", seed.apply)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            settings.current.cache_clear()


@contextmanager
def moto_server() -> Iterator[Deployment]:
    """A deployment on moto's threaded server, run in a child process (`benchmarks.server`)."""
    from botocore.config import Config

    from consentry.service import settings

    log = ROOT / ".bench"
    log.mkdir(exist_ok=True)
    with open(log / "moto-server.log", "w") as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        )
    assert child.stdout is not None and child.stdin is not None
    saved = os.environ.get("AWS_ENDPOINT_URL")
    configs = (settings.BOTO_CONFIG, settings.ONCE_CONFIG)
    # One moto process answers every call of the run, on a machine that may be loaded: the handlers' clients
    # wait for it longer than for AWS (the budgets count calls, not seconds), and retry as they do on AWS.
    patient = Config(connect_timeout=10, read_timeout=SERVER_READ_TIMEOUT)
    settings.BOTO_CONFIG, settings.ONCE_CONFIG = (c.merge(patient) for c in configs)
    try:
        port = int(child.stdout.readline())
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        settings.current.cache_clear()

        def seed(command: Mapping[str, Any]) -> int:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(command) + "\n")
            child.stdin.flush()
            answer = json.loads(child.stdout.readline())
            if "error" in answer:
                raise RuntimeError(f"seeding on the moto server failed: {answer['error']}")
            return int(answer["ok"])

        yield _attach("server", seed)
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved
        settings.BOTO_CONFIG, settings.ONCE_CONFIG = configs
        settings.current.cache_clear()
        child.stdin.close()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
