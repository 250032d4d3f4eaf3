"""A provisioned deployment on moto, driven the way AWS drives Lambda, with chaos and faults.

The local runtime delivers everything in order, once. This harness delivers the
same events to the same handler functions, but the way the real services may:

* SQS (S3 write notifications, the work queue): batches in any order, a message
  held back while later ones go, a successful message whose delete is lost (so
  it comes back), failed records visible again at once, moto's redrive to the
  dead-letter queue after `maxReceiveCount` receives;
* DynamoDB Streams (the consent table): records read from the real stream, then
  delivered late, out of order, twice, or replayed after newer ones; failed
  records retried and then set aside (the on-failure destination);
* EventBridge (chat events, the nightly schedule): asynchronous invocations that
  may be late or twice, retried on an exception and then dead-lettered.

S3's clock is the model's clock (moto's `utcnow` in its S3 module), so that
`LastModified` and the simulated `eventTime` of a write agree, as they do on AWS.
Faults are injected through botocore's own event hooks on the clients the
handlers use (`consentry.service.settings.current()`), never by replacing boto3.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import moto.dynamodb.models
import moto.s3.models
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from consentry import local
from consentry.local import LambdaContext, LocalRuntime, sqs_record
from consentry.provision import dead_letter_name
from consentry.service import handlers, settings
from consentry.service.aws.dynamo import to_item
from consentry.service.aws.ledger import due_shard
from consentry.service.handlers.events import envelope
from consentry.service.policy import format_instant
from consentry.service.records import ChatRecord
from consentry.service.settings import CONNECT_TIMEOUT, ONCE_CONFIG, READ_TIMEOUT

EVENT_TRIES = 3  # EventBridge -> Lambda asynchronous invocation: 1 try + 2 retries, then the DLQ
STREAM_TRIES = 3  # the stream event source's retry_attempts, then the on-failure destination
WRITE_BATCH = 100
WORK_BATCH = 10

# Operations that change state: what "writes nothing the second time" counts.
WRITE_OPERATIONS = frozenset(
    {
        "PutObjectTagging",
        "DeleteObjectTagging",
        "PutObject",
        "DeleteObject",
        "DeleteObjects",
        "PutObjectLegalHold",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "SendMessage",
        "SendMessageBatch",
    }
)


class FakeS3Clock:
    """moto's S3 reads the time from this: LastModified of a write is the model's instant."""

    def __init__(self) -> None:
        self.now = datetime(2025, 9, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC).replace(tzinfo=None)


@dataclass
class SqsMessage:
    id: str
    receipt: str
    body: str
    receive_count: int
    raw: Mapping[str, Any]


@dataclass
class DeliveryLog:
    """What the harness handed to the handlers, for the figures and for assertions."""

    invocations: int = 0
    records: int = 0
    failures: int = 0
    duplicates: int = 0
    held_back: int = 0
    lost_deletes: int = 0
    replays: int = 0


class UnknownWrite(AssertionError):
    """A write notification the harness cannot give an event time: none of its writers put that object."""


class MotoRecords:
    """moto's own records of the deployment's bucket and tables, taken and put back in place (no API call).

    What a reset or a restored snapshot writes here is what moto itself held
    after real API calls (or nothing): every version with its id, body,
    metadata, LastModified and legal hold; its tags (moto keeps them apart, by
    version ARN); every item of the ledger and the consent table. moto's own
    pickling of a version is used (`FakeKey.__getstate__` keeps the body, not
    the buffer). The handlers never see this: they go through the API, and
    `test_harness.py` checks that the API shows a restored world as it
    showed it when it was taken.
    """

    def __init__(self, account: str, region: str, bucket: str, tables: Sequence[str]) -> None:
        self.s3 = moto.s3.models.s3_backends[account]["aws"]
        self.bucket = self.s3.buckets[bucket]
        dynamodb = moto.dynamodb.models.dynamodb_backends[account][region]
        self.tables = [dynamodb.tables[name] for name in tables]
        self.arn_prefix = f"arn:aws:s3:::{bucket}/"  # the tag store's key of a version: bucket/key/version

    def take(self) -> bytes:
        keys = self.bucket.keys
        versions = {name: keys.getlist(name) for name in dict.keys(keys)}
        tags = {arn: tags for arn, tags in self.s3.tagger.tags.items() if arn.startswith(self.arn_prefix)}
        return pickle.dumps((versions, tags, [dict(table.items) for table in self.tables]))

    def put(self, held: bytes | None) -> None:
        """Replace what the bucket and the tables hold with `held` (None: nothing)."""
        versions, tags, items = pickle.loads(held) if held is not None else ({}, {}, [{} for _ in self.tables])
        keys = self.bucket.keys
        for old in dict.values(keys):
            for version in old:
                if isinstance(version, moto.s3.models.FakeKey):
                    version.dispose()  # moto's own end of a version: its body's buffer closed
        dict.clear(keys)
        for name, listed in versions.items():
            dict.__setitem__(keys, name, listed)
        store = self.s3.tagger.tags
        for arn in [arn for arn in store if arn.startswith(self.arn_prefix)]:
            del store[arn]
        store.update(tags)
        for table, table_items in zip(self.tables, items, strict=True):
            table.items.clear()
            table.items.update(table_items)


@dataclass(frozen=True)
class Captured:
    """A settled deployment, as `Deployment.capture` took it: moto's records and what the harness knew."""

    held: bytes  # MotoRecords.take()
    write_times: dict[str, datetime]
    write_versions: dict[str, str]
    now: datetime  # S3's clock


class Deployment:
    """One provisioned deployment on moto (module or test scope), reset between histories."""

    def __init__(self, rt: LocalRuntime, clock: FakeS3Clock) -> None:
        self.rt = rt
        self.clock = clock
        self.env = rt.env
        self.bucket = rt.bucket
        self.s3, self.ddb, self.sqs, self.streams = rt.s3, rt.dynamodb, rt.sqs, rt.streams
        # The observer's S3, without SDK retries: moto answers GetObjectRetention as GetObject, an error 500 to the SDK,
        # which the SDK would retry twice, sleeping between tries, for every version of every look.
        self.s3_once = boto3.client("s3", config=ONCE_CONFIG)
        self.write_url = self.env["WRITE_QUEUE_URL"]
        self.work_url = self.env["WORK_QUEUE_URL"]
        self.arns = {url: self._arn(url) for url in (self.write_url, self.work_url)}
        _, _, _, region, account, _ = self.arns[self.write_url].split(":")
        self.records = MotoRecords(account, region, self.bucket, (self.env["LEDGER_TABLE"], self.env["CONSENT_TABLE"]))
        self.dlq_urls = {
            url: self.sqs.get_queue_url(QueueName=dead_letter_name(url.rsplit("/", 1)[1]))["QueueUrl"]
            for url in (self.write_url, self.work_url)
        }
        self.stream_arn = self.ddb.describe_table(TableName=self.env["CONSENT_TABLE"])["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}
        self._shards: list[str] = []
        # Where something may be waiting: settle only polls those (a poll is an API call).
        self.maybe_waiting: set[str] = {self.write_url, self.work_url, "stream"}
        self._watched: list[Any] = []
        self._watch(self.sqs)
        self.dirty_queues = True  # a queue may hold messages (purged on reset)
        self._failures_at_reset = 0
        self.log = DeliveryLog()
        self.write_times: dict[str, datetime] = {}  # eTag of a write -> its simulated eventTime
        self.write_versions: dict[str, str] = {}  # eTag of a write -> the version it created
        # S3's notifications name the version they are about (`versionId`); moto's do not. Off: moto's shape.
        self.notify_versions = False
        self.pending_stream: list[dict[str, Any]] = []
        self.delivered_stream: list[dict[str, Any]] = []
        self.stream_tries: Counter[str] = Counter()
        self.stream_dead_letters: list[dict[str, Any]] = []
        self.pending_events: list[dict[str, Any]] = []
        self.event_tries: Counter[str] = Counter()
        self.event_dead_letters: list[dict[str, Any]] = []
        self.processed_work: list[dict[str, Any]] = []  # bodies of work messages that succeeded
        self.ledger = rt.enforcer().ledger
        # Invocations' remaining time: the wall clock unless a test makes time virtual (waits injected, not slept).
        self.invocation_clock: Callable[[], float] = time.monotonic
        self.timeouts: dict[str, float] = {}
        self._read_stream()  # start after provisioning

    def _watch(self, client: Any) -> None:
        """Note every message sent to our queues, by anyone (handlers, tests, redrives)."""
        if client not in self._watched:
            client.meta.events.register("before-parameter-build.sqs.SendMessage", self._sent)
            client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", self._sent)
            self._watched.append(client)

    def _sent(self, params: Mapping[str, Any], **_: Any) -> None:
        url = str(params.get("QueueUrl"))
        if url in (self.write_url, self.work_url):
            self.maybe_waiting.add(url)

    def _arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    # -- reset between histories ---------------------------------------------------------

    def reset(self, to: Captured | None = None) -> None:
        """Empty bucket, tables, queues and stream, or put back what `capture` took: the next history starts there.

        The bucket's versions and the tables' items are replaced in moto's own records (`MotoRecords`), not
        through the API: a reset through the API cost about ten calls per history, a restored snapshot ten
        more. Queues are purged and the stream is read through the API, as before.
        """
        self._read_stream()  # what the last history left on the stream: read past it, never delivered
        if self.dirty_queues or self.maybe_waiting & {self.write_url, self.work_url}:
            for url in (self.write_url, self.work_url, *self.dlq_urls.values()):
                self.sqs.purge_queue(QueueUrl=url)
        self.dirty_queues = True
        self.maybe_waiting = set()
        self.log = DeliveryLog()
        self._failures_at_reset = 0
        self.pending_stream.clear()
        self.delivered_stream.clear()
        self.stream_tries.clear()
        self.stream_dead_letters.clear()
        self.pending_events.clear()
        self.event_tries.clear()
        self.event_dead_letters.clear()
        self.processed_work.clear()
        self.records.put(to.held if to is not None else None)
        self.write_times = dict(to.write_times) if to is not None else {}
        self.write_versions = dict(to.write_versions) if to is not None else {}
        self.notify_versions = False
        self.clock.now = to.now if to is not None else datetime(2025, 9, 1, tzinfo=UTC)

    def capture(self) -> Captured:
        """What the bucket and the tables hold now, for `reset(to=...)`: each history then starts from it.

        Queues and the stream are not taken: a deployment is restored with nothing waiting (capture a settled one).
        """
        assert not (self.pending_events or self.pending_stream), "capture a settled deployment"
        return Captured(self.records.take(), dict(self.write_times), dict(self.write_versions), self.clock.now)

    # -- the outside world: writers, the account service, the chat app ---------------------

    def put_chat(
        self,
        key: str,
        at: datetime,
        *,
        incognito: bool = False,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """A writer puts a chat at `at` (S3's clock and the notification's eventTime). Returns its eTag."""
        self.clock.now = at
        body = json.dumps({"key": key, "at": at.isoformat(), "nonce": uuid.uuid4().hex}).encode()
        etag = hashlib.md5(body).hexdigest()
        meta = dict(metadata or {})
        if incognito:
            meta["incognito"] = "true"
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "Metadata": meta}
        if tags:
            kwargs["Tagging"] = urlencode(dict(tags))
        self.write_times[etag] = at
        self.maybe_waiting.add(self.write_url)
        put = self.s3.put_object(**kwargs)
        self.write_versions[etag] = str(put.get("VersionId") or "")
        return etag

    def put_consent(self, item: Mapping[str, Any]) -> None:
        self.maybe_waiting.add("stream")
        self.ddb.put_item(TableName=self.env["CONSENT_TABLE"], Item=to_item(dict(item)))

    def delete_consent(self, user_id: str) -> None:
        self.maybe_waiting.add("stream")
        self.ddb.delete_item(TableName=self.env["CONSENT_TABLE"], Key=to_item({"user_id": user_id}))

    def chat_event(self, detail_type: str, detail: Mapping[str, Any], at: datetime) -> dict[str, Any]:
        """Queue a `chat.app` event for asynchronous delivery; returns it."""
        event = eventbridge_event(detail_type, dict(detail), at)
        self.pending_events.append(event)
        return event

    def schedule_sweep(self, now: datetime) -> dict[str, Any]:
        event = eventbridge_event("Scheduled Event", {}, now, source="aws.events")
        self.pending_events.append(event)
        return event

    # -- SQS -> Lambda -----------------------------------------------------------------------

    def receive(self, url: str, limit: int) -> list[SqsMessage]:
        messages: list[SqsMessage] = []
        while len(messages) < limit:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(messages)),
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            for m in got:
                count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                messages.append(SqsMessage(m["MessageId"], m["ReceiptHandle"], m["Body"], count, m))
            if len(got) < 10:
                break  # the queue had no more (moto answers with all it has)
        return messages

    def _stamp(self, body: str) -> str:
        """The simulated eventTime of each write, found by its eTag (a notification carries its own)."""
        try:
            message = json.loads(body)
            for record in message.get("Records", []):
                etag = str(record["s3"]["object"].get("eTag", "")).strip('"')
                at = self.write_times.get(etag)
                if at is None:  # moto stamped it with the wall clock: a history would mix clocks unseen
                    raise UnknownWrite(f"a write notification for an object no writer of this test put: {etag}")
                record["eventTime"] = format_instant(at)
                if self.notify_versions and self.write_versions.get(etag):
                    record["s3"]["object"]["versionId"] = self.write_versions[etag]
        except (ValueError, KeyError, TypeError, AttributeError):
            return body
        return json.dumps(message)

    def deliver_sqs(
        self,
        url: str,
        *,
        rng: random.Random | None = None,
        limit: int | None = None,
        hold_back: float = 0.0,
        lose_delete: float = 0.0,
        kinds: Sequence[str] | None = None,
        choose: Callable[[dict[str, Any]], bool] | None = None,
    ) -> int:
        """One Lambda invocation on up to one batch of the queue; returns the records delivered.

        With `rng`, the batch is shuffled, some messages are held back (visible
        again, not delivered) and some successful deletes are lost (redelivered
        later). `kinds` restricts work messages to those types (the rest held back); `choose`
        picks work messages by their JSON body (looking at every visible message).
        """
        self._watch(handler_clients()[2])
        batch = WRITE_BATCH if url == self.write_url else WORK_BATCH
        asked = 1000 if choose else (limit or batch)
        messages = self.receive(url, asked)
        if len(messages) == asked:
            self.maybe_waiting.add(url)  # a full batch: there may be more (what comes back visible adds it too)
        if choose is not None:
            picked = [m for m in messages if is_json(m.body) and choose(json.loads(m.body))][: limit or batch]
            self._visible(url, [m for m in messages if m not in picked])
            messages = picked
        if not messages:
            return 0
        chosen, back = [], []
        for m in messages:
            kind_ok = kinds is None or json_type(m.body) in kinds
            # Holding back costs a receive: only once per message, so that SQS's redrive counts stay real.
            if not kind_ok or (rng is not None and m.receive_count <= 1 and rng.random() < hold_back):
                back.append(m)
            else:
                chosen.append(m)
        self._visible(url, back)
        self.log.held_back += len(back)
        if not chosen:
            return 0
        if rng is not None:
            rng.shuffle(chosen)
        if url == self.write_url:
            bodies = {m.id: self._stamp(m.body) for m in chosen}
        else:
            bodies = {m.id: m.body for m in chosen}
        event = {
            "Records": [
                sqs_record(
                    {**m.raw, "Body": bodies[m.id], "Attributes": {**m.raw.get("Attributes", {})}}, self.arns[url]
                )
                for m in chosen
            ]
        }
        handler = handlers.tag_on_write_handler if url == self.write_url else handlers.worker_handler
        self.log.invocations += 1
        self.log.records += len(chosen)
        try:
            result = handler(event, self.context("writes" if url == self.write_url else "work"))
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except (Exception, LambdaDied):
            failed = {m.id for m in chosen}  # the invocation failed or died: every record comes back
        done = [m for m in chosen if m.id not in failed]
        lost = [m for m in done if rng is not None and rng.random() < lose_delete]
        self.log.lost_deletes += len(lost)
        self.log.failures += len(failed)
        if url == self.work_url:
            self.processed_work += [json.loads(m.body) for m in done if is_json(m.body)]
        for start in range(0, len(done), 10):
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": m.receipt}
                for i, m in enumerate(done[start : start + 10])
                if m not in lost
            ]
            if entries:
                self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        self._visible(url, [m for m in chosen if m.id in failed] + lost)
        return len(chosen)

    def context(self, name: str) -> LambdaContext:
        """The Lambda context of one invocation: its remaining time runs on `invocation_clock`."""
        return LambdaContext(name, timeout_seconds=self.timeouts.get(name, 300.0), clock=self.invocation_clock)

    def range_of(self, key: str) -> str:
        """The hash range of the ledger that holds `key` (a big user's retag or erasure has a page per range)."""
        return self.ledger.chat_sk(key)[len("chat#")]

    def shard_of(self, key: str) -> str:
        """The shard of the `due` index that holds `key` (one sweep message per shard)."""
        return due_shard(key, settings.current()[0].due_shards)  # as the handlers configure it

    def page_of(self, key: str) -> Callable[[dict[str, Any]], bool]:
        """`choose` for `deliver_sqs`: a retag or erasure page that covers `key` (its root, or its range)."""
        wanted = self.range_of(key)
        return lambda m: isinstance(m, dict) and m.get("range", wanted) == wanted and "part" not in m

    def _visible(self, url: str, messages: Sequence[SqsMessage]) -> None:
        if messages:
            self.maybe_waiting.add(url)
        for m in messages:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m.receipt, VisibilityTimeout=0)

    def dead_letters(self, url: str) -> list[str]:
        """Bodies in the queue's DLQ, consumed (moved out), as an operator's inspection would."""
        bodies: list[str] = []
        dlq = self.dlq_urls[url]
        while True:
            got = self.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return bodies
            bodies += [m["Body"] for m in got]
            self.sqs.delete_message_batch(
                QueueUrl=dlq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            )

    def redrive(self, url: str) -> int:
        """Move a DLQ's messages back to their queue (the console's 'start DLQ redrive')."""
        bodies = self.dead_letters(url)
        for body in bodies:
            self.sqs.send_message(QueueUrl=url, MessageBody=body)
        return len(bodies)

    # -- DynamoDB Streams -> Lambda ----------------------------------------------------------

    def _read_stream(self) -> int:
        self.maybe_waiting.discard("stream")  # records appear as the consent table is written
        if not self._shards:
            self._shards = [
                s["ShardId"]
                for s in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
            ]
        found = 0
        for sid in self._shards:
            iterator = (
                self._iterators.get(sid)
                or self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[sid] = response.get("NextShardIterator") or iterator
            records = [lambda_stream_record(r, self.stream_arn) for r in response.get("Records", [])]
            self.pending_stream += records
            found += len(records)
        return found

    def deliver_stream(self, *, rng: random.Random | None = None, replay: float = 0.0) -> int:
        """One invocation of consent_changed on the pending stream records (shuffled, replayed with rng)."""
        self._watch(handler_clients()[2])
        self._read_stream()
        batch = list(self.pending_stream)
        self.pending_stream.clear()
        if rng is not None:
            if batch:
                keep = rng.randint(1, len(batch))
                rng.shuffle(batch)
                batch, later = batch[:keep], batch[keep:]
                self.pending_stream += later  # delayed to a later invocation
            if self.delivered_stream and rng.random() < replay:
                batch.append(rng.choice(self.delivered_stream))  # an old record again, after newer ones
                self.log.replays += 1
        if not batch:
            return 0
        self.log.invocations += 1
        self.log.records += len(batch)
        try:
            result = handlers.consent_changed_handler({"Records": batch}, self.context("consent_changed"))
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except (Exception, LambdaDied):
            failed = {r["dynamodb"]["SequenceNumber"] for r in batch}
        self.log.failures += len(failed)
        for record in batch:
            sequence = record["dynamodb"]["SequenceNumber"]
            if sequence not in failed:
                self.delivered_stream.append(record)
                continue
            self.stream_tries[sequence] += 1
            if self.stream_tries[sequence] >= STREAM_TRIES:
                self.stream_dead_letters.append(record)
            else:
                self.pending_stream.append(record)
        return len(batch)

    # -- EventBridge -> Lambda (asynchronous) ---------------------------------------------------

    def deliver_events(self, *, rng: random.Random | None = None, twice: float = 0.0, limit: int | None = None) -> int:
        """Invoke chat_events / retention_sweep for pending events, in order or (per key) interleaved."""
        if not self.pending_events:
            return 0
        batch = list(self.pending_events) if rng is None else pick_per_key(self.pending_events, rng, limit)
        delivered = 0
        for event in batch:
            self.pending_events.remove(event)
            copies = 2 if rng is not None and rng.random() < twice else 1
            self.log.duplicates += copies - 1
            for _ in range(copies):
                delivered += 1
                self._invoke_event(event)
        return delivered

    def _invoke_event(self, event: dict[str, Any]) -> None:
        self._watch(handler_clients()[2])
        self.log.invocations += 1
        self.log.records += 1
        try:
            if event["source"] == "aws.events":
                handlers.retention_sweep_handler(event, self.context("retention_sweep"))
            else:
                handlers.chat_events_handler(event, self.context("chat_events"))
        except (Exception, LambdaDied):
            self.log.failures += 1
            self.event_tries[event["id"]] += 1
            if self.event_tries[event["id"]] >= EVENT_TRIES:
                self.event_dead_letters.append(event)
            else:
                self.pending_events.insert(0, event)  # Lambda retries it (with its own backoff)

    # -- everything, in order, until quiet --------------------------------------------------------

    def settle(self, max_rounds: int = 500) -> None:
        """Deliver everything, in order, until nothing is waiting anywhere."""
        self._watch(handler_clients()[2])
        for _ in range(max_rounds):
            moved = self.deliver_events()
            for url in (self.write_url, self.work_url):
                if url in self.maybe_waiting:
                    # Polled again only if something may be left: a full batch, a message made visible again
                    # (failed, held back, delete lost), or one sent since (`_sent`, `put_chat`).
                    self.maybe_waiting.discard(url)
                    moved += self.deliver_sqs(url)
            if "stream" in self.maybe_waiting or self.pending_stream:
                moved += self.deliver_stream()
            if not moved and not self.maybe_waiting and not self.pending_events:
                # Queues drained; the DLQs are empty unless something failed since the last reset.
                self.dirty_queues = self.log.failures != self._failures_at_reset
                return
        raise AssertionError("still delivering after max_rounds: a loop that never settles")

    # -- what AWS holds -----------------------------------------------------------------------------

    def observe(self) -> Observed:
        objects: dict[str, ObjectState] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", []):
                state = objects.setdefault(v["Key"], ObjectState(v["Key"]))
                state.versions += 1
                if v.get("IsLatest"):
                    state.current = v["VersionId"]
                    state.last_modified = v["LastModified"]
            for marker in page.get("DeleteMarkers", []):
                state = objects.setdefault(marker["Key"], ObjectState(marker["Key"]))
                state.delete_markers += 1
        for state in objects.values():
            if state.current is not None:
                response = self.s3.get_object_tagging(Bucket=self.bucket, Key=state.key)
                state.tags = {t["Key"]: t["Value"] for t in response.get("TagSet", [])}
        records = {r.key: r for r in self.ledger.scan()}
        return Observed(objects, records)


@dataclass
class ObjectState:
    key: str
    versions: int = 0
    delete_markers: int = 0
    current: str | None = None  # version id of the current version, None when the latest is a marker
    last_modified: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.current is not None


@dataclass
class Observed:
    objects: dict[str, ObjectState]
    records: dict[str, ChatRecord]

    def tags(self, key: str) -> dict[str, str] | None:
        state = self.objects.get(key)
        return state.tags if state is not None and state.exists else None


# -- event shapes ------------------------------------------------------------------------------


def eventbridge_event(
    detail_type: str, detail: dict[str, Any], at: datetime, source: str = "chat.app"
) -> dict[str, Any]:
    return envelope(detail_type, detail, at, source=source)


def lambda_stream_record(record: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda hands to the function."""
    return local.lambda_stream_record({**record, "eventSourceARN": arn})


def json_type(body: str) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("type") if isinstance(value, dict) else None


def is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def event_key(event: Mapping[str, Any]) -> str:
    """Events about one chat are delivered in order (duplicates aside); others interleave freely."""
    detail = event.get("detail") or {}
    if event.get("source") != "chat.app":
        return "schedule"
    return str(detail.get("key") or f"user:{detail.get('user_id')}")


def pick_per_key(events: Sequence[dict[str, Any]], rng: random.Random, limit: int | None) -> list[dict[str, Any]]:
    """A random interleaving of a random prefix of each key's events, keeping each key's own order."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_key.setdefault(event_key(e), []).append(e)
    queues = [q[: rng.randint(0, len(q))] for q in by_key.values()]
    order: list[dict[str, Any]] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        order.append(q.pop(0))
    return order[:limit] if limit is not None else order


# -- faults --------------------------------------------------------------------------------------

_ERRORS = {
    # service: kind -> (status, error code)
    "s3": {"throttle": (503, "SlowDown"), "5xx": (500, "InternalError")},
    "dynamodb": {"throttle": (400, "ProvisionedThroughputExceededException"), "5xx": (500, "InternalServerError")},
    "sqs": {"throttle": (400, "ThrottlingException"), "5xx": (500, "InternalError")},
}


class LambdaDied(BaseException):
    """The function's process ends mid-invocation (timeout, out of memory): no response at all."""


@dataclass
class Fault:
    service: str  # s3, dynamodb, sqs
    operation: str  # botocore operation name, or "*"
    kind: str  # throttle, 5xx, timeout, connect, lost-response, die
    times: int = 1  # how many calls fail (each SDK retry attempt is a call)
    skip: int = 0  # let this many matching calls through first
    match: str | None = None  # only requests whose URL or body holds this text (a key, a user)

    def matches(self, service: str, operation: str, request: Any) -> bool:
        if self.service != service or self.operation not in ("*", operation):
            return False
        if self.match is None:
            return True
        body = request.body or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return self.match in request.url or self.match in text or quote(self.match) in request.url


class Faults:
    """Injects faults into the handlers' clients through botocore's `before-send` hook.

    * throttle / 5xx: the service answers with that error and does nothing;
    * timeout / connect: the request never gets an answer (botocore's own exceptions);
    * lost-response: the service does the work, then the answer is lost (a read
      timeout after the fact), the hardest case for conditional writes.

    botocore's retry handler sees these exactly as it would see AWS's, so its
    backoff runs; `time.sleep` is virtual in these tests (see `VirtualTime`).
    """

    def __init__(self) -> None:
        self.plan: list[Fault] = []
        self.injected: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.waited = 0.0  # seconds the client would have waited on injected timeouts
        self._clients: list[Any] = []

    def install(self, clients: Sequence[Any]) -> None:
        for client in clients:
            if client in self._clients:
                continue
            client.meta.events.register_first("before-send", self._before)
            client.meta.events.register_last("before-send", self._after)
            self._clients.append(client)

    def uninstall(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-send", self._before)
            client.meta.events.unregister("before-send", self._after)
        self._clients.clear()

    def add(self, *faults: Fault) -> None:
        self.plan.extend(faults)

    def clear(self) -> None:
        self.plan.clear()

    def _take(self, event_name: str, when: str, request: Any) -> Fault | None:
        _source, service, operation = event_name.split(".", 2)
        for fault in self.plan:
            if (fault.kind == "lost-response") != (when == "after") or not fault.matches(service, operation, request):
                continue
            if fault.skip:
                fault.skip -= 1
                return None
            if fault.times <= 0:
                continue
            fault.times -= 1
            self.injected[f"{service}.{operation}.{fault.kind}"] += 1
            return fault
        return None

    def _before(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _source, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1
        fault = self._take(event_name, "before", request)
        if fault is None:
            return None
        if fault.kind == "die":
            raise LambdaDied(f"{service}.{operation}")
        if fault.kind == "timeout":
            self.waited += READ_TIMEOUT  # the client waited this long for an answer
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault.kind == "connect":
            self.waited += CONNECT_TIMEOUT
            raise ConnectTimeoutError(endpoint_url=request.url)
        status, code = _ERRORS[service][fault.kind]
        url = request.url
        # moto answers every request it recognises; this one was refused before reaching the service.
        request.url = "http://fault-injected.invalid/"
        return error_response(service, url, status, code)

    def _after(self, request: Any, event_name: str, **_: Any) -> None:
        if self._take(event_name, "after", request) is not None:
            self.waited += READ_TIMEOUT
            raise ReadTimeoutError(endpoint_url=request.url)


def error_response(service: str, url: str, status: int, code: str) -> AWSResponse:
    message = f"injected {code}"
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    elif service == "dynamodb":
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    else:
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}
    return AWSResponse(url, status, HTTPHeaders.from_dict(headers), _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body

    def read(self, *_: Any) -> bytes:
        body, self.body = self.body, b""
        return body


class VirtualTime:
    """`time.sleep` that only adds up: botocore's backoff and ours are measured, not waited."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(float(seconds))

    @property
    def total(self) -> float:
        return sum(self.slept)


class WriteCounter:
    """Counts the state changes the handlers make: successful calls of WRITE_OPERATIONS (botocore `after-call`).

    A conditional write the service refused changed nothing and is not counted.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._clients: list[Any] = []

    def install(self, clients: Sequence[Any]) -> None:
        for client in clients:
            if client not in self._clients:
                client.meta.events.register("after-call", self._count)
                self._clients.append(client)

    def uninstall(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("after-call", self._count)
        self._clients.clear()

    def _count(self, model: Any, http_response: Any, **_: Any) -> None:
        if model.name in WRITE_OPERATIONS and http_response is not None and http_response.status_code < 300:
            self.counts[model.name] += 1

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        before = Counter(self.counts)
        result: Counter[str] = Counter()
        yield result
        result.update(self.counts - before)


class EveryFunction:
    """One service's clients of every function, as one: hooks registered here go on each of them.

    Under IAM parity each function has its own clients (its own credentials); without it they share one.
    """

    def __init__(self, clients: Sequence[Any]) -> None:
        self.clients = tuple(clients)
        self.meta = self  # `client.meta.events.register(...)`, as on a boto3 client
        self.events = self
        self.config = self.clients[0].meta.config  # the same BOTO_CONFIG for all

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EveryFunction) and [id(c) for c in other.clients] == [id(c) for c in self.clients]

    def __hash__(self) -> int:
        return hash(tuple(id(c) for c in self.clients))

    def register(self, *args: Any, **kwargs: Any) -> None:
        for client in self.clients:
            client.meta.events.register(*args, **kwargs)

    def register_first(self, *args: Any, **kwargs: Any) -> None:
        for client in self.clients:
            client.meta.events.register_first(*args, **kwargs)

    def register_last(self, *args: Any, **kwargs: Any) -> None:
        for client in self.clients:
            client.meta.events.register_last(*args, **kwargs)

    def unregister(self, *args: Any, **kwargs: Any) -> None:
        for client in self.clients:
            client.meta.events.unregister(*args, **kwargs)


def handler_clients() -> list[Any]:
    """The boto3 clients the handlers use, by service (s3, dynamodb, sqs, s3_once), each spanning every function."""
    from parity.iam import ACTIVE

    sets = ACTIVE[-1].runtime.handler_clients() if ACTIVE else [settings.current()[1]]
    services = ("s3", "dynamodb", "sqs", "s3_once")  # s3_once: the S3 client without SDK retries (delete markers)
    return [EveryFunction([getattr(c, service) for c in sets]) for service in services]


# -- log lines and metrics ---------------------------------------------------------------------


class LogCapture(logging.Handler):
    """The package logger's records (Powertools' JSON logger is a stdlib logger named `consentry`)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def clear(self) -> None:
        self.records.clear()

    def with_field(self, name: str, value: Any, level: int = logging.WARNING) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= level and getattr(r, name, None) == value]


def emf_metrics(text: str) -> Counter[str]:
    """Metric values summed by name from the EMF blobs Powertools printed (one JSON object per line)."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"].get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                value = blob.get(metric["Name"])
                found[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    return found


def consentry_logger() -> logging.Logger:
    return logging.getLogger("consentry")


def s3_clock_patch(clock: FakeS3Clock) -> tuple[Any, str, Callable[[], datetime]]:
    return (moto.s3.models, "utcnow", clock)
