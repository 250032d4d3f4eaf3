"""`consentry dlq list|redrive`: the dead-letter queues, and replaying what they hold.

Four dead-letter queues: the work queue's and the write queue's (found from
each queue's redrive policy), the consent stream's on-failure queue and the
chat events' (the stack's outputs `ConsentStreamDlqUrl` and `EventsDlqUrl`,
read from CONSENT_STREAM_DLQ_URL and EVENTS_DLQ_URL; a local server has
neither: its runtime calls the handlers directly).

Replaying (`redrive`): a work or write message goes back to its queue as it
is; a chat event is invoked again on the chat_events function; a consent
stream failure names a range of stream records, whose users are retagged
(while the stream still holds them: 24 hours). A message older than the
policy's shortest retention (`default_days`, counted from the earliest time
it carries: when SQS first received it, or the event's own time) is dropped
and counted, never replayed: what it would redo concerns data that may no
longer be kept. Messages are listed without user ids or keys:
their keyed hashes stand in.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from consentry.cli.handoff import Handoff
from consentry.cli.output import table
from consentry.cli.target import Target
from consentry.service.flows.messages import BadMessage, RetagUser, from_wire
from consentry.service.policy import parse_instant
from consentry.service.pseudonyms import Pseudonyms

ENVIRONMENT = {"consent-stream": "CONSENT_STREAM_DLQ_URL", "events": "EVENTS_DLQ_URL"}
PEEK_SECONDS = 60  # long enough to read a queue through without seeing a message twice


@dataclass
class Letter:
    """One dead-lettered message, described without user ids or keys."""

    queue: str
    message_id: str
    receipt: str
    body: str
    sent_at: datetime
    oldest: datetime  # the earliest time it carries
    kind: str
    about: dict[str, Any] = field(default_factory=dict)

    def age_days(self, now: datetime) -> int:
        return (now - self.oldest).days


@dataclass
class DeadLetters:
    queue: str
    url: str | None
    source: str  # what a replay goes to
    letters: list[Letter] = field(default_factory=list)
    note: str = ""


def _dlq_of(target: Target, queue_url: str) -> str | None:
    if not queue_url.startswith(("http://", "https://")):
        return None
    sqs = target.clients.sqs
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    redrive = attributes.get("RedrivePolicy")
    if not redrive:
        return None
    arn = json.loads(redrive)["deadLetterTargetArn"]
    _, _, _, _, account, name = arn.split(":", 5)
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def queues(target: Target) -> list[DeadLetters]:
    """The four dead-letter queues of the deployment (url None: not part of it, with a note saying why)."""
    found = [
        DeadLetters("work", _dlq_of(target, target.settings.work_queue_url), "the work queue"),
        DeadLetters("write", _dlq_of(target, target.write_queue_url), "the write queue"),
    ]
    for name, source in (("consent-stream", "retags of the users in the stream records"), ("events", "chat_events")):
        url = os.environ.get(ENVIRONMENT[name]) or None
        note = ""
        if url is None:
            note = (
                "not part of a local deployment (the local runtime calls the handlers directly)"
                if not target.real
                else f"set {ENVIRONMENT[name]} (the stack's output {_output(name)}) to see it"
            )
        found.append(DeadLetters(name, url, source, note=note))
    return found


def _output(name: str) -> str:
    return {"consent-stream": "ConsentStreamDlqUrl", "events": "EventsDlqUrl"}[name]


# -- reading letters ---------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    try:
        return parse_instant(str(value)) if value else None
    except ValueError:
        return None


def describe(queue: str, body: str, sent_at: datetime, names: Pseudonyms) -> tuple[str, dict[str, Any], datetime]:
    """(kind, what it is about with hashes for names, the earliest time it carries)."""
    times = [sent_at]
    about: dict[str, Any] = {}
    try:
        message = json.loads(body)
    except ValueError:
        return "not JSON", about, sent_at
    if not isinstance(message, dict):
        return "not a JSON object", about, sent_at
    if queue == "work":
        try:
            work = from_wire(message)
        except BadMessage:
            return "work:malformed", about, sent_at
        kind = f"work:{work.type}"
        user_id = getattr(work, "user_id", None)
        if user_id is not None:
            about["user_hash"] = names.user(user_id)
        times += [t for t in (getattr(work, "at", None), getattr(work, "now", None)) if t]
    elif queue == "write":
        found = message.get("Records")
        records: list[Any] = found if isinstance(found, list) else []
        kind = "s3:test" if message.get("Event") == "s3:TestEvent" else f"s3:{len(records)} write(s)"
        about["key_hashes"] = [names.key(str(r.get("s3", {}).get("object", {}).get("key", ""))) for r in records]
        times += [t for t in (_time(r.get("eventTime")) for r in records) if t]
    elif queue == "events":
        event = message.get("requestPayload", message)  # a Lambda on-failure record wraps the event
        event = event if isinstance(event, dict) else {}
        kind = f"event:{event.get('detail-type')}"
        given = event.get("detail")
        detail: dict[str, Any] = given if isinstance(given, dict) else {}
        if isinstance(detail.get("user_id"), str):
            about["user_hash"] = names.user(detail["user_id"])
        if isinstance(detail.get("key"), str):
            about["key_hash"] = names.key(detail["key"])
        times += [t for t in (_time(event.get("time")),) if t]
    else:
        info = message.get("DDBStreamBatchInfo", {})
        kind = "stream:batch"
        about = {k: info.get(k) for k in ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize")}
        times += [t for t in (_time(info.get("approximateArrivalOfFirstRecord")),) if t]
    return kind, about, min(times)


def read(target: Target, dead: DeadLetters, visibility: int = PEEK_SECONDS) -> list[Letter]:
    """Every message of a dead-letter queue, received (hidden for `visibility` seconds) but not deleted."""
    if dead.url is None:
        return []
    names = target.enforcer().names
    letters: list[Letter] = []
    while True:
        got = target.clients.sqs.receive_message(
            QueueUrl=dead.url, MaxNumberOfMessages=10, VisibilityTimeout=visibility, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return letters
        for m in got:
            sent_at = datetime.fromtimestamp(int(m["Attributes"]["SentTimestamp"]) / 1000, UTC)
            kind, about, oldest = describe(dead.queue, m["Body"], sent_at, names)
            letters.append(
                Letter(dead.queue, m["MessageId"], m["ReceiptHandle"], m["Body"], sent_at, oldest, kind, about)
            )


def release(target: Target, dead: DeadLetters, letters: Sequence[Letter]) -> None:
    """Make received messages visible again at once."""
    for letter in letters:
        with contextlib.suppress(ClientError):  # gone meanwhile: nothing to give back
            target.clients.sqs.change_message_visibility(
                QueueUrl=str(dead.url), ReceiptHandle=letter.receipt, VisibilityTimeout=0
            )


def listing(target: Target, now: datetime, only: str | None = None) -> list[DeadLetters]:
    found = [dead for dead in queues(target) if only is None or dead.queue == only]
    for dead in found:
        dead.letters = read(target, dead)
        release(target, dead, dead.letters)
    return found


def letter_json(letter: Letter, now: datetime, retention_days: int) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "kind": letter.kind,
        "sent_at": letter.sent_at,
        "oldest": letter.oldest,
        "age_days": letter.age_days(now),
        "replayable": letter.age_days(now) <= retention_days,
        **letter.about,
    }


def listing_json(found: Sequence[DeadLetters], now: datetime, retention_days: int) -> list[dict[str, Any]]:
    return [
        {
            "queue": d.queue,
            "url": d.url,
            "messages": len(d.letters),
            "note": d.note or None,
            "letters": [letter_json(letter, now, retention_days) for letter in d.letters],
        }
        for d in found
    ]


def render_listing(found: Sequence[DeadLetters], now: datetime, retention_days: int) -> str:
    lines = []
    for d in found:
        if d.url is None:
            lines.append(f"{d.queue}: {d.note}")
            continue
        old = sum(letter.age_days(now) > retention_days for letter in d.letters)
        head = f"{d.queue}: {len(d.letters)} message(s)"
        if old:
            head += f", {old} older than {retention_days} days (a redrive drops them)"
        lines.append(head)
        if d.letters:
            kinds = Counter(letter.kind for letter in d.letters)
            rows = [[k, n] for k, n in kinds.most_common()]
            lines.append(table(["kind", "messages"], rows, "    "))
    return "\n".join(lines)


# -- replaying them ------------------------------------------------------------------------------


def _stream_users(target: Target, message: Mapping[str, Any]) -> list[str]:
    """User ids of the stream records a consent-stream failure names (the stream keeps them 24 hours)."""
    info = message["DDBStreamBatchInfo"]
    streams = target.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    users: list[str] = []
    end = int(info["endSequenceNumber"])
    while iterator:
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in response.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return list(dict.fromkeys(users))
            users.append(record["dynamodb"]["Keys"]["user_id"]["S"])
        if not response.get("Records"):
            break
        iterator = response.get("NextShardIterator")
    return list(dict.fromkeys(users))


def unreadable(letter: Letter) -> str | None:
    """Why a letter cannot be replayed as it is (its body is not a JSON object), or None.

    A write letter is sent back as it came: the tag_on_write handler reports a body it cannot parse.
    """
    if letter.queue == "write":
        return None
    try:
        message = json.loads(letter.body)
    except ValueError:
        return "kept:not JSON"
    if not isinstance(message, dict):
        return "kept:not a JSON object"
    return None


def replay(target: Target, handoff: Handoff, letter: Letter) -> str:
    """Replay one letter; `replayed`, or `kept:<why>` when it cannot be (left in the queue)."""
    sqs = target.clients.sqs
    why = unreadable(letter)
    if why is not None:
        return why
    if letter.queue == "work":
        try:
            handoff.send_work([from_wire(json.loads(letter.body))])
        except BadMessage as err:
            return f"kept:not a work message ({err})"[:200]
    elif letter.queue == "write":
        sqs.send_message(QueueUrl=target.write_queue_url, MessageBody=letter.body)
    elif letter.queue == "events":
        message = json.loads(letter.body)
        event = message.get("requestPayload", message)
        if not isinstance(event, dict):
            return "kept:not an event"
        if event.get("source") == "aws.events":
            return "superseded"  # a nightly sweep's start: the next one catches up (the sweep is cumulative)
        handoff.chat_event(event)
    else:
        try:
            users = _stream_users(target, json.loads(letter.body))
        except ClientError as err:
            return f"kept:the stream no longer holds these records ({err.response['Error']['Code']}): retag --all"
        handoff.send_work([RetagUser(user_id=user) for user in users])
    return "replayed"


@dataclass
class Redrive:
    by_queue: dict[str, Counter[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for counter in self.by_queue.values():
            total.update(counter)
        return every_count(total)

    def queues(self) -> dict[str, dict[str, int]]:
        return {queue: every_count(counter) for queue, counter in self.by_queue.items()}


def every_count(counter: Counter[str]) -> dict[str, int]:
    """The four outcomes, zeros included: one shape whatever happened."""
    return {k: counter[k] for k in ("replayed", "dropped", "superseded", "kept")}


def redrive(
    target: Target, handoff: Handoff, now: datetime, retention_days: int, only: str | None, dry_run: bool
) -> Redrive:
    """Replay every dead letter younger than the retention, drop the older ones (each deleted from its DLQ)."""
    result = Redrive()
    for dead in queues(target):
        if dead.url is None or (only and dead.queue != only):
            continue
        counts: Counter[str] = Counter()
        letters = read(target, dead, visibility=PEEK_SECONDS if dry_run else 300)
        kept = []
        for letter in letters:
            if letter.age_days(now) > retention_days:
                outcome = "dropped"
            elif dry_run:
                outcome = unreadable(letter) or "replayed"
            else:
                outcome = replay(target, handoff, letter)
            counts[outcome.partition(":")[0]] += 1
            if dry_run or outcome.startswith("kept"):
                kept.append(letter)
                continue
            target.clients.sqs.delete_message(QueueUrl=dead.url, ReceiptHandle=letter.receipt)
        release(target, dead, kept)
        result.by_queue[dead.queue] = counts
    if not dry_run:
        handoff.drain()
    return result


def render_redrive(result: Redrive, dry_run: bool, retention_days: int) -> str:
    verb = "would be" if dry_run else "were"
    lines = []
    for queue, counts in result.by_queue.items():
        lines.append(
            f"{queue}: {counts['replayed']} {verb} replayed, {counts['dropped']} {verb} dropped (older than "
            f"{retention_days} days)"
            + (f", {counts['superseded']} superseded (a later sweep catches up)" if counts["superseded"] else "")
            + (f", {counts['kept']} kept (cannot be replayed; see `consentry dlq list`)" if counts["kept"] else "")
        )
    if not lines:
        lines.append("no dead-letter queue to redrive")
    if dry_run:
        lines.append("dry run: nothing sent, nothing deleted")
    return "\n".join(lines)
