"""The local runtime: moto plays AWS, and events reach the handlers as Lambda delivers them.

S3 notifies the write queue (moto cannot invoke Lambda without Docker); the
runtime reads that queue, the consent table's stream and the work queue, builds
the Lambda event of each trigger and calls the same handler functions the
deployed functions run, until nothing is pending. Failed SQS records become
visible again and, after the queue's maxReceiveCount, moto moves them to the
dead-letter queue; failed stream records are retried, then set aside as
Lambda's on-failure destination would.

Given per-function credentials, each handler runs as Lambda runs it: its
function name and its role's credentials in the environment, so its calls are
signed as that function (the IAM-parity tests give each an IAM user holding
its role's statements, with moto's IAM enforcement on).

The bucket gets the stack's bucket policy (`provision`). moto applies a
bucket policy to object requests by action and resource only, ignoring every
Condition: the policy's conditional Deny statements ("unless the principal is
an enforcer") would deny everyone, so every PutObject of a chat app would be
refused. `correct_moto()` is the one shim that makes moto answer as AWS does
there (it skips the statements that carry a Condition; AWS evaluates them, and
`tests/parity` evaluates them on every handler call; unconditional ones still
apply). Importing this module patches nothing: `provision` applies the shim
when it runs on moto (moto loaded in the process: `mock_aws` or an in-process
server), and so does the `consentry.testing` pytest plugin. docs/parity.md
lists it with its source.

Example:
    >>> with LocalRuntime.serve() as runtime:  # doctest: +SKIP
    ...     runtime.s3.put_object(Bucket=runtime.env["CHAT_BUCKET"], Key="chats/u1/c1.json", Body=b"{}")
    ...     runtime.settle()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode

import boto3

from consentry.provision import dead_letter_name, provision
from consentry.service import handlers, settings
from consentry.service.deployment import CONSENT_STREAM, FUNCTIONS, WORK_QUEUE, WRITE_QUEUE
from consentry.service.flows.enforcer import Enforcer
from consentry.service.handlers.events import envelope
from consentry.service.policy import format_instant

# Where a local consentry server says so (the CLI's guard rails by place read it).
LOCAL_IDENTITY_PATH = "/consentry-local"
# Tries of a failing stream record before the on-failure destination, as the stack's event source makes them.
STREAM_RETRIES = CONSENT_STREAM.retry_attempts + 1
WRITE_BATCH = WRITE_QUEUE.batch_size
WORK_BATCH = WORK_QUEUE.batch_size
# What Lambda puts in a function's environment besides its name: the role's credentials.
_IDENTITY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@dataclass
class LambdaContext:
    """What Powertools reads of a Lambda context; the remaining time runs on `clock` from the invocation's start."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    timeout_seconds: float | None = None  # None: the deployed function's timeout (consentry.service.deployment)
    clock: Callable[[], float] = time.monotonic
    started: float | None = None

    def __post_init__(self) -> None:
        if self.timeout_seconds is None:
            self.timeout_seconds = {f.name: f.timeout_seconds for f in FUNCTIONS}.get(self.function_name, 300)
        if self.started is None:
            self.started = self.clock()

    def get_remaining_time_in_millis(self) -> int:
        assert self.started is not None and self.timeout_seconds is not None
        return max(0, int((self.timeout_seconds - (self.clock() - self.started)) * 1000))


@dataclass
class Delivered:
    """What the runtime has delivered so far, by trigger."""

    writes: int = 0
    stream: int = 0
    work: int = 0
    failures: int = 0
    stream_dead_letters: list[dict[str, Any]] = field(default_factory=list)


class LocalRuntime:
    """Delivers the pending events of one provisioned deployment to the handlers.

    `credentials`: per function name, the environment variables of its identity
    (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`).
    """

    def __init__(self, env: Mapping[str, str], credentials: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.env = dict(env)
        self.credentials = {name: dict(identity) for name, identity in (credentials or {}).items()}
        os.environ.update(self.env)
        settings.current.cache_clear()
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.client("dynamodb")
        self.sqs = boto3.client("sqs")
        self.streams = boto3.client("dynamodbstreams")
        self.delivered = Delivered()
        self._iterators: dict[str, str] = {}
        self._retries: dict[str, int] = {}
        self._stamps: dict[str, list[datetime]] = defaultdict(list)
        self.bucket = self.env["CHAT_BUCKET"]
        self.endpoint_url: str | None = os.environ.get("AWS_ENDPOINT_URL") or None

    @classmethod
    def provisioned(cls, prefix: str = "consentry") -> LocalRuntime:
        """Provision in whatever AWS the default clients reach (moto's mock or server) and wrap it."""
        return cls(provision(prefix))

    @classmethod
    @contextmanager
    def serve(
        cls, prefix: str = "consentry", port: int | None = None, host: str = "127.0.0.1", quiet: bool = True
    ) -> Iterator[LocalRuntime]:
        """Start moto's threaded server (on a free loopback port unless `port`), provision, yield the runtime.

        `runtime.endpoint_url` is the server's address. A `port` already in use
        raises `OSError` at once (moto's own thread would wait forever).
        `quiet` keeps the server's per-request log lines off stderr.
        """
        if port is None:
            port = free_port()
        else:
            check_port(host, port)
        if quiet:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        correct_moto()  # the server's moto is this process's: before the first request
        server = LocalServer(host, port, {"consentry": "local", "prefix": prefix})
        server.start()
        endpoint = f"http://{host}:{port}"
        saved = {k: os.environ.get(k) for k in (*LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE")}
        os.environ.pop("AWS_PROFILE", None)  # a named profile would take precedence over the local credentials
        os.environ.update(LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        try:
            runtime = cls.provisioned(prefix)
            runtime.endpoint_url = endpoint
            yield runtime
        finally:
            server.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            settings.current.cache_clear()

    def enforcer(self) -> Enforcer:
        """The adapters of this deployment, with the runtime's own clients (for reading back what it holds)."""
        return Enforcer(settings.Settings.from_env(), settings.Clients.create())

    # -- running a handler as its function ---------------------------------------

    @contextmanager
    def as_function(self, name: str) -> Iterator[None]:
        """Within: the environment of function `name` (its name, its credentials), as Lambda sets it.

        Only for functions given credentials: without them every handler shares
        the process's identity and clients (the demo, the CLI, the benchmarks).
        """
        identity = self.credentials.get(name)
        if identity is None:
            yield
            return
        saved = {k: os.environ.get(k) for k in (settings.FUNCTION_NAME, *_IDENTITY)}
        for k in _IDENTITY:
            os.environ.pop(k, None)
        os.environ.update({settings.FUNCTION_NAME: name, **identity})
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call function `name`'s handler with `event`, as that function."""
        handler = getattr(handlers, f"{name}_handler")
        with self.as_function(name):
            return handler(event, LambdaContext(name))

    def clients_of(self, name: str) -> settings.Clients:
        """The boto3 clients function `name`'s handler uses (made now if need be)."""
        with self.as_function(name):
            return settings.current()[1]

    def handler_clients(self) -> list[settings.Clients]:
        """The clients of every function (one set when they share the process's identity)."""
        found: list[settings.Clients] = []
        for spec in FUNCTIONS:
            clients = self.clients_of(spec.name)
            if all(clients is not c for c in found):
                found.append(clients)
        return found

    # -- triggers -------------------------------------------------------------

    def put_chat(
        self,
        key: str,
        body: bytes = b"{}",
        at: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Write a chat object; S3 notifies the write queue. Returns the version id.

        `at` simulates when the write happened: the object's LastModified (when
        moto runs in this process) and the notification's `eventTime` are both
        `at`, as they agree on AWS; demo and tests move through years this way.
        """
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "Metadata": dict(metadata or {})}
        if tags:
            kwargs["Tagging"] = urlencode(dict(tags))
        with s3_clock(at):
            response = self.s3.put_object(**kwargs)
        if at is not None:
            self._stamps[key].append(at)
        return str(response.get("VersionId", ""))

    def chat_event(self, detail_type: str, detail: Mapping[str, Any], time: datetime) -> None:
        """Deliver a `chat.app` event as EventBridge invokes Lambda."""
        event = envelope(detail_type, detail, time, region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        self.invoke("chat_events", event)

    def set_consent(
        self, user_id: str, at: datetime, *, answer: str | None = None, tier: str | None = None
    ) -> dict[str, Any]:
        """Change the user's consent record as the account service would; returns the record written.

        `answer` (granted, denied, pending) stamps `consent_changed_at`; a new
        `tier` stamps `tier_changed_at`; `version` goes one higher. A user with
        no record starts from `pending` and needs a `tier`.
        """
        from consentry.service.aws.dynamo import from_item, to_item

        if answer not in (None, "granted", "denied", "pending"):
            raise ValueError(f"answer {answer!r}: granted, denied or pending")
        table = self.env["CONSENT_TABLE"]
        found = self.dynamodb.get_item(TableName=table, Key=to_item({"user_id": user_id}), ConsistentRead=True)
        record = from_item(found.get("Item", {}))
        if not record and tier is None:
            raise ValueError(f"user {user_id!r} has no consent record: give a tier to create one")
        stamp = format_instant(at)
        record = {**record, "user_id": user_id, "version": int(record.get("version", 0)) + 1}
        if answer is not None:
            record.update(training_consent=answer, consent_changed_at=stamp)
        if tier is not None and tier != record.get("tier"):
            if "tier" in record:
                record["tier_changed_at"] = stamp
            record["tier"] = tier
        self.dynamodb.put_item(TableName=table, Item=to_item(record))
        return record

    def sweep(self, now: datetime) -> dict[str, Any]:
        """Deliver the nightly Scheduled Event with `time` = now."""
        event = envelope(
            "Scheduled Event",
            {},
            now,
            source="aws.events",
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            resources=("arn:aws:events:us-east-1:123456789012:rule/consentry-nightly-sweep",),
        )
        result: dict[str, Any] = self.invoke("retention_sweep", event)
        return result

    def settle(self, max_rounds: int = 100_000, stopping: Callable[[], bool] | None = None) -> Delivered:
        """Deliver writes, stream records and work until nothing is pending (or `stopping()` says to stop,
        checked between batches: what is left stays pending in its queue or stream)."""
        for _ in range(max_rounds):
            if stopping is not None and stopping():
                return self.delivered
            moved = self.deliver_writes() + self.deliver_stream() + self.deliver_work()
            if not moved:
                return self.delivered
        raise RuntimeError("events still pending after max_rounds deliveries")

    def deliver_writes(self) -> int:
        return self._deliver_sqs(self.env["WRITE_QUEUE_URL"], WRITE_BATCH, "tag_on_write", "writes")

    def stamp(self, body: str) -> str:
        """Give a notification the simulated time of its write, if `put_chat` recorded one."""
        try:
            message = json.loads(body)
            for record in message.get("Records", []):
                stamps = self._stamps.get(unquote_plus(record["s3"]["object"]["key"]))
                if stamps:
                    record["eventTime"] = format_instant(stamps.pop(0))
        except (ValueError, KeyError, TypeError, AttributeError):
            return body  # not ours to fix: the handler reports it
        return json.dumps(message)

    def deliver_work(self) -> int:
        return self._deliver_sqs(self.env["WORK_QUEUE_URL"], WORK_BATCH, "worker", "work")

    def dead_letters(self, queue: str = "WORK_QUEUE_URL") -> list[str]:
        """Bodies waiting in a queue's dead-letter queue (without consuming them)."""
        name = self.env[queue].rsplit("/", 1)[1]
        url = self.sqs.get_queue_url(QueueName=dead_letter_name(name))["QueueUrl"]
        response = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [m["Body"] for m in response.get("Messages", [])]

    # -- SQS -> Lambda ---------------------------------------------------------

    def _deliver_sqs(self, url: str, batch: int, function: str, label: str) -> int:
        messages: list[dict[str, Any]] = []
        while len(messages) < batch:
            response = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, batch - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            got = response.get("Messages", [])
            if not got:
                break
            messages.extend(dict(m) for m in got)
        if not messages:
            return 0
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if label == "writes":
            messages = [{**m, "Body": self.stamp(m["Body"])} for m in messages]
        event = {"Records": [sqs_record(m, arn) for m in messages]}
        try:
            result = self.invoke(function, event)
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        for m in messages:
            if m["MessageId"] in failed:  # visible again at once: the next round retries it
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        setattr(self.delivered, label, getattr(self.delivered, label) + len(messages))
        self.delivered.failures += len(failed)
        return len(messages)

    # -- DynamoDB Streams -> Lambda ---------------------------------------------

    def deliver_stream(self) -> int:
        table = self.dynamodb.describe_table(TableName=self.env["CONSENT_TABLE"])["Table"]
        arn = table["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
                    "ShardIterator"
                ]
            )
            response = self.streams.get_records(ShardIterator=iterator, Limit=100)
            self._iterators[shard_id] = response.get("NextShardIterator") or iterator
            records.extend({**r, "eventSourceARN": arn} for r in response.get("Records", []))
        pending = records
        delivered = 0
        while pending:
            event = {"Records": [lambda_stream_record(r) for r in pending]}
            delivered += len(pending)
            result = self.invoke("consent_changed", event)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            retry = []
            for record in pending:
                sequence = record["dynamodb"]["SequenceNumber"]
                if sequence not in failed:
                    continue
                self._retries[sequence] = self._retries.get(sequence, 0) + 1
                if self._retries[sequence] >= STREAM_RETRIES:
                    self.delivered.stream_dead_letters.append(record)
                else:
                    retry.append(record)
            self.delivered.failures += len(failed)
            pending = retry
        self.delivered.stream += len(records)
        return delivered


class LocalServer:
    """moto's server app in a thread, which also answers GET /consentry-local with `identity`.

    The CLI gives the real-account guard rails to every endpoint but a loopback
    server that says it is a local consentry server there.
    """

    def __init__(self, host: str, port: int, identity: Mapping[str, str]) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        body = json.dumps(dict(identity)).encode()

        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if environ.get("PATH_INFO") == LOCAL_IDENTITY_PATH:
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
                return [body]
            return app(environ, start_response)

        self._server = make_server(host, port, serve, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def s3_clock(at: datetime | None) -> Iterator[None]:
    """moto's S3 clock (LastModified of new versions) set to `at` for a moment; the wall clock otherwise."""
    import moto.s3.models as s3_models

    if at is None:
        yield
        return
    real = s3_models.utcnow  # type: ignore[attr-defined]
    s3_models.utcnow = lambda: at.astimezone(UTC).replace(tzinfo=None)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        s3_models.utcnow = real  # type: ignore[attr-defined]


def correct_moto() -> bool:
    """Make moto answer as AWS does where consentry trips on it; True when moto is installed.

    Four corrections, each to one method of moto's, nothing else: moto 5
    evaluates a bucket policy's statements without their Conditions, so the
    stack's conditional Deny statements refuse every request (here it judges
    by the unconditional statements only); its ListObjectVersions copies
    every version of the bucket on every call (here it does not); it keeps
    every model instance it ever made, copies made for one response
    included, for its dashboard (here the dashboard's lists hold them
    weakly); and every DynamoDB Streams GetRecords makes and keeps a new
    shard iterator, even when it read nothing (here that one answers with
    the iterator it was given). Idempotent.
    """
    try:
        from moto.iam.access_control import IAMPolicy, PermissionResult
        from moto.s3.models import FakeBucket
    except ImportError:  # the `local` extra is not installed: nothing runs on moto here
        return False
    if getattr(FakeBucket.get_permission, "consentry", False):
        return True

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        found = document.get("Statement", [])
        statements = found if isinstance(found, list) else [found]
        document["Statement"] = [s for s in statements if "Condition" not in s]
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    get_permission.consentry = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
    _list_versions_without_copies()
    _track_live_instances_only()
    _no_new_shard_iterator_for_nothing()
    return True


class _SharedVersions(list):  # type: ignore[type-arg]
    """A key's versions as moto stores them, which `copy.deepcopy` hands back as they are (a new list of the
    same versions)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return list(self)


def _list_versions_without_copies() -> None:
    """moto's ListObjectVersions deep-copies every version of the bucket on every call (body included), to
    mark the latest one on the copies; a `consentry serve` planning sweeps over a large bucket grew by
    hundreds of MB per plan. The copies only carry `is_latest`, which the listing sets again on every call
    and only its own response reads, so marking the stored versions is the same answer. `iterlists` is
    called by that listing only (moto 5.2)."""
    from moto.s3.utils import _VersionedKeyStore

    if getattr(_VersionedKeyStore.iterlists, "consentry", False):
        return

    def iterlists(self: Any) -> Iterator[tuple[str, list[Any]]]:
        for key, versions in _VersionedKeyStore._iterlists(self):
            yield key, _SharedVersions(versions)

    iterlists.consentry = True  # type: ignore[attr-defined]
    _VersionedKeyStore.iterlists = iterlists


class _LiveInstances:
    """A model class's `instances_tracked` as moto reads it (append, iterate, len), holding each instance
    weakly: an instance is listed while something else holds it, and goes when the last holder lets it go."""

    def __init__(self, instances: Iterable[Any] = ()) -> None:
        self._refs: dict[int, Callable[[], Any]] = {}
        self._callback = self._gone  # one bound method for every reference
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        key = id(instance)
        try:
            self._refs[key] = _KeyedRef(instance, self._callback, key)
        except TypeError:  # cannot be referenced weakly: held as moto holds it
            self._refs[key] = lambda: instance

    def _gone(self, ref: _KeyedRef) -> None:
        # Called before the instance's memory is freed, so no newer instance can have taken its id yet.
        key = ref.key
        if self._refs.get(key) is ref:
            self._refs.pop(key, None)

    def __iter__(self) -> Iterator[Any]:
        for ref in tuple(self._refs.copy().values()):
            instance = ref()
            if instance is not None:
                yield instance

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _KeyedRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows its key in `_LiveInstances._refs`."""

    __slots__ = ("key",)
    key: int

    def __new__(cls, instance: Any, callback: Callable[[Any], None], key: int) -> _KeyedRef:
        ref: _KeyedRef = super().__new__(cls, instance, callback)
        ref.key = key
        return ref

    def __init__(self, instance: Any, callback: Callable[[Any], None], key: int) -> None:
        super().__init__(instance, callback)  # type: ignore[call-arg]


def _track_live_instances_only() -> None:
    """moto appends every instance of every model class to the class's `instances_tracked` list (for its
    dashboard, /moto-api/) and never lets one go: DynamoDB items deep-copied for one Query response, shard
    iterators, SQS messages long deleted. A `consentry serve` planning sweeps over a thousand chats kept 3,000
    copied ledger items (about 8 MB) per plan. Here each class's list holds its instances weakly: the dashboard
    lists what moto still holds, and a copy goes with its response. Classes that moto disposes of or finalizes
    (S3 keys and multipart uploads, which its reset closes; EC2 instances) keep moto's strong list.
    `BaseModel.__new__` is the only writer of those lists (moto 5.2)."""
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "consentry", False):
        return
    converting = threading.Lock()

    def __new__(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        instance = super(BaseModel, cls).__new__(cls)
        tracked = cls.__dict__.get("instances_tracked")
        if not isinstance(tracked, _LiveInstances):
            if hasattr(cls, "dispose") or hasattr(cls, "__del__"):
                cls.instances_tracked.append(instance)
                return instance
            with converting:  # one list per class, even when two threads make its first instances
                tracked = cls.__dict__.get("instances_tracked")
                if not isinstance(tracked, _LiveInstances):
                    tracked = _LiveInstances(tracked or ())
                    cls.instances_tracked = tracked
        tracked.append(instance)
        return instance

    __new__.consentry = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(__new__)  # type: ignore[method-assign]


def _no_new_shard_iterator_for_nothing() -> None:
    """moto's DynamoDB Streams keeps every shard iterator it hands out (`DynamoDBStreamsBackend.shard_iterators`,
    never expired) and hands out a new one on every GetRecords, even one that read nothing: a `consentry serve`,
    which polls the consent stream every half second, grew by a new iterator (about 2 KB) per poll for as long
    as it ran. A GetRecords that reads nothing leaves the position where it was, so here it answers with the
    iterator it was given (still valid: moto never expires one) instead of a new one at the same place; one
    that reads records is moto's own. `ShardIterator.get` is called by GetRecords only (moto 5.2)."""
    from moto.dynamodbstreams.models import ShardIterator

    if getattr(ShardIterator.get, "consentry", False):
        return
    original = ShardIterator.get

    def get(self: Any, limit: int = 1000) -> dict[str, Any]:
        shard = self.stream_shard
        if isinstance(self.sequence_number, int) and self.sequence_number - shard.starting_sequence_number >= len(
            shard.items
        ):
            return {"NextShardIterator": self.arn, "Records": []}
        found: dict[str, Any] = original(self, limit)
        return found

    get.consentry = True  # type: ignore[attr-defined]
    ShardIterator.get = get  # type: ignore[method-assign]


def sqs_record(message: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """One received SQS message in the shape of a Lambda SQS event record."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": dict(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": arn.split(":")[3],
    }


def check_port(host: str, port: int) -> None:
    """Raise OSError when `host:port` cannot be bound (in use, or not an address of this machine)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no conflict
        s.bind((host, port))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lambda_stream_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB Streams record (as GetRecords gives it) in the JSON shape Lambda hands to the function."""
    found: dict[str, Any] = json.loads(json.dumps(record, default=_json_default))
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # ApproximateCreationDateTime: epoch seconds on the wire
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.decode()
    raise TypeError(f"cannot serialize {type(value).__name__}")


__all__ = ["Delivered", "LambdaContext", "LocalRuntime"]
