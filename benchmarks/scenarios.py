"""The measured stretches: each drives the handlers on a seeded deployment and returns its counts.

Every scenario checks the outcome too (tags in S3, objects gone), so that a
figure always belongs to a run that did its job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus

from benchmarks import seed
from benchmarks.calls import Tally
from benchmarks.deploy import Deployment, MessageRun
from consentry.service.aws.ledger import RANGES, Ledger
from consentry.service.flows.fanout import RETAG_PAGE
from consentry.service.policy import (
    Chat,
    Policy,
    decision_tags,
    format_instant,
    load_policy,
    parse_consent,
    parse_instant,
)
from consentry.service.pseudonyms import Pseudonyms
from consentry.service.records import State, evaluate

GRANT = "2025-09-01T00:00:00Z"
WRITE_AT = "2025-10-01T12:00:00Z"
OPT_OUT = "2025-11-01T00:00:00Z"
SWEEP_NOW = "2026-06-01T00:00:00Z"
BATCH_LIMIT = 100  # BatchGetItem keys per call


def policy() -> Policy:
    return load_policy()


def record_template(
    consent: str, at: str = WRITE_AT, version: int = 1, tier: str = "pro", changed: str | None = GRANT
) -> tuple[dict[str, Any], dict[str, str]]:
    """A ledger item (typed) and the S3 tags of a chat written at `at` and settled under that consent."""
    p = policy()
    values: dict[str, Any] = {"user_id": "template", "tier": tier, "training_consent": consent, "version": version}
    if changed:
        values["consent_changed_at"] = changed
    record_consent = parse_consent(values, p, "template")
    chat = Chat(key="chats/template/c.json", user_id="template", last_activity=parse_instant(at))
    record = evaluate(chat, record_consent, p, state=State.ACTIVE, held=False, version_id=None, revision=1)
    entry = {
        "event": "write",
        "at": format_instant(parse_instant(at)),
        "eligible": record.eligible,
        "reason": record.reason.value,
        "consent_version": version,
        "expires_on": record.expires_on,
        "state": "active",
    }
    record = replace(record, history=(entry,))
    # Keys and shard are replaced per chat when seeding (benchmarks.seed); any hash key serves the template.
    ledger = Ledger(None, "template", Pseudonyms(b"template-hash-key"), tombstone_days=p.tombstone_days)  # type: ignore[arg-type]
    return ledger.item(record), decision_tags(record.decision, p)


def s3_notification(bucket: str, key: str, at: str, version_id: str | None = None) -> str:
    """One S3 ObjectCreated notification as S3 sends it to SQS (one record per message)."""
    obj: dict[str, Any] = {"key": quote_plus(key), "size": 16, "eTag": "0" * 32, "sequencer": "0055AED6DCD90281E5"}
    if version_id:
        obj["versionId"] = version_id
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": at,
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                    "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "consentry-chat",
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": "EXAMPLE"},
                            "arn": f"arn:aws:s3:::{bucket}",
                        },
                        "object": obj,
                    },
                }
            ]
        }
    )


def tags_of(dep: Deployment, key: str) -> dict[str, str]:
    response = dep.runtime.s3.get_object_tagging(Bucket=dep.bucket, Key=key)
    return {t["Key"]: t["Value"] for t in response["TagSet"]}


# -- tagging a batch of new objects, and its redelivery ---------------------------------


@dataclass
class Tagging:
    objects: int
    users: int
    first: Tally
    again: Tally
    consent_table: str
    ledger_table: str
    tagged: Tally = field(default_factory=Tally)  # another batch as large, each object carrying its writer's tags

    @property
    def consent_read_calls(self) -> int:
        return self.first.dynamodb_reads(self.consent_table)

    @property
    def consent_batches(self) -> int:
        """Consent reads per pass: one per chunk of notifications the handler settles together (<= 100 users each)."""
        from consentry.service.handlers import WRITE_CHUNK

        return math.ceil(self.objects / WRITE_CHUNK) * math.ceil(min(WRITE_CHUNK, self.users) / BATCH_LIMIT)

    @property
    def consent_get_item(self) -> int:
        return self.first.count("dynamodb", "GetItem", self.consent_table)


def tagging(dep: Deployment, objects: int = 100, users: int = 100, incognito_every: int = 10) -> Tagging:
    """A batch of `objects` new chats of `users` users in one SQS event, then the same event again."""
    from consentry.local import LambdaContext
    from consentry.service import handlers

    per_user = math.ceil(objects / users)
    dep.seed_consents([dep.consent_item(f"t{u:04d}", "granted", GRANT) for u in range(users)])
    groups = []
    for n in range(objects):
        user, i = f"t{n // per_user:04d}", n % per_user
        meta = {"incognito": "true"} if incognito_every and n % incognito_every == 0 else {}
        groups.append(seed.group(user, i, 1, s3=[[i, i + 1]], metadata=meta))
    dep.seed({"op": "chats", "bucket": dep.bucket, "groups": groups})
    keys = list(seed.keys(groups))
    url = dep.runtime.env["WRITE_QUEUE_URL"]
    arn = dep.runtime.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = dep.sqs_event([s3_notification(dep.bucket, k, WRITE_AT) for k in keys], arn)

    with dep.counter.measure() as first:
        result = handlers.tag_on_write_handler(event, LambdaContext("tag_on_write"))
    assert not result["batchItemFailures"], result
    redelivered = dep.sqs_event([s3_notification(dep.bucket, k, WRITE_AT) for k in keys], arn, receive_count=2)
    with dep.counter.measure() as again:
        result = handlers.tag_on_write_handler(redelivered, LambdaContext("tag_on_write"))
    assert not result["batchItemFailures"], result

    assert tags_of(dep, keys[1])["training-eligible"] == "true"
    assert tags_of(dep, keys[0])["training-reason"] == "incognito"

    # The same batch for other chats of the same users, written with a tag of their writer's (kept).
    writer = {"team": "support"}
    others = [{**g, "pattern": "chats/{user}/w{i:07d}.json"} for g in groups]
    dep.seed({"op": "chats", "bucket": dep.bucket, "groups": others, "tags": writer})
    tagged_keys = list(seed.keys(others))
    event = dep.sqs_event([s3_notification(dep.bucket, k, WRITE_AT) for k in tagged_keys], arn)
    with dep.counter.measure() as tagged:
        result = handlers.tag_on_write_handler(event, LambdaContext("tag_on_write"))
    assert not result["batchItemFailures"], result
    assert tags_of(dep, tagged_keys[1])["team"] == "support"
    assert tags_of(dep, tagged_keys[1])["training-eligible"] == "true"
    return Tagging(objects, users, first, again, dep.consent_table, dep.ledger_table, tagged)


# -- retag of a user after an opt-out ----------------------------------------------------------


@dataclass
class Retag:
    chats: int
    full: bool
    runs: list[MessageRun]  # the work messages delivered (all of them, or the sampled pages)
    stream: Tally  # the consent_changed handler
    changed: int  # chats whose tags changed in the delivered messages
    unchanged_runs: list[MessageRun] = field(default_factory=list)  # a later retag with nothing to change
    unchanged_chats: int = 0

    @property
    def work(self) -> Tally:
        return sum((r.calls for r in self.runs), Tally())

    @property
    def unchanged(self) -> Tally:
        return sum((r.calls for r in self.unchanged_runs), Tally())

    @property
    def peak_bytes(self) -> int:
        return max((r.peak_bytes or 0) for r in self.runs)

    @property
    def full_page(self) -> MessageRun:
        """A message that processed a full page and enqueued its successor (the fan-out profile)."""
        return next(r for r in self.runs if r.enqueue_at is not None)

    @property
    def query_calls(self) -> int:
        return self.work.count("dynamodb", "Query")

    @property
    def max_page(self) -> int:
        return max((c.keys for c in self.work.calls if c.op == "Query"), default=0)


HEAVY = "heavy"


def _retag_key(i: int) -> str:
    return seed.chat_key("chats/{user}/c{i:07d}.json", HEAVY, i)


def warm_up(dep: Deployment) -> None:
    """One small retag first: loads botocore models and caches before memory is measured."""
    ledger, tags = record_template("granted")
    dep.seed_consents([dep.consent_item("warm", "granted", GRANT)])
    dep.seed_chats(ledger, [seed.group("warm", 0, 3, s3=[[0, 3]])], tags)
    dep.change_consent(dep.consent_item("warm", "denied", OPT_OUT, version=2))
    dep.deliver_stream()
    dep.drain_work(memory=lambda i: True)


def retag(
    dep: Deployment,
    chats: int,
    sample: tuple[str, int] | None = None,
    memory_pages: Sequence[int] = (0,),
    then_unchanged: bool = False,
) -> Retag:
    """Opt-out of a user with `chats` eligible chats; every message delivered, or one sampled page.

    A user with more than a page of chats is retagged in the 16 hash ranges
    of their ledger sort keys (`consentry.service.flows.fanout`). With `sample =
    (range, k)`, the whole ledger is seeded but S3 objects only for page k of
    that range; the root message runs, then page k is delivered as the
    message that page k-1 of the range would have sent (ExclusiveStartKey =
    the last record of page k-1 in sort-key order). Memory (tracemalloc peak)
    is measured on the delivered messages in `memory_pages` (the sampled page
    when sampling).
    """
    warm_up(dep)
    ledger, tags = record_template("granted")
    keyed = dep.ledger
    group = seed.group(HEAVY, 0, chats, s3=[[0, chats]])
    page_keys: list[int] = list(range(chats))
    if sample is not None:
        hash_range, k = sample
        in_range = sorted((keyed.chat_sk(_retag_key(i)), i) for i in range(chats))
        in_range = [(sk, i) for sk, i in in_range if sk.startswith(f"chat#{hash_range}")]
        assert len(in_range) > k * RETAG_PAGE, (len(in_range), k)
        page_keys = [i for _, i in in_range[k * RETAG_PAGE : (k + 1) * RETAG_PAGE]]
        start = in_range[k * RETAG_PAGE - 1][0] if k else None
        group = seed.group(HEAVY, 0, chats, s3_indices=page_keys)
    dep.seed_consents([dep.consent_item(HEAVY, "granted", GRANT)])
    dep.seed_chats(ledger, [group], tags)

    dep.change_consent(dep.consent_item(HEAVY, "denied", OPT_OUT, version=2))
    with dep.counter.measure() as stream:
        dep.deliver_stream()
    if sample is None:
        runs = dep.drain_work(memory=lambda i: i in memory_pages)
        changed = chats
    else:
        (root,) = dep.receive_work()
        assert root["type"] == "retag", root
        runs = [dep.work_message(root)]
        ranges = dep.receive_work()
        assert {m.get("range") for m in ranges} <= set(RANGES), ranges
        while more := dep.receive_work():  # SQS hands out at most 10 at a time
            ranges += more
        assert len(ranges) == len(RANGES), ranges
        body = {**root, "range": sample[0]}
        if start:
            body["start"] = {"pk": {"S": keyed.user_pk(HEAVY)}, "sk": {"S": start}}
        runs.append(dep.work_message(body, memory=True))
        dep.receive_work()  # the page it sent after itself: not delivered
        changed = len(page_keys)
    assert not any(r.failed for r in runs)
    probe = _retag_key(page_keys[-1])
    assert tags_of(dep, probe)["training-reason"] == "consent-denied", tags_of(dep, probe)
    result = Retag(chats, sample is None, runs, stream, changed)

    if then_unchanged:
        # A tier change between consumer tiers while opted out: every chat is already right.
        dep.change_consent(dep.consent_item(HEAVY, "denied", OPT_OUT, tier="max", version=3))
        dep.deliver_stream()
        result.unchanged_runs = dep.drain_work()
        result.unchanged_chats = chats
    return result


# -- the retention sweep -----------------------------------------------------------------------


@dataclass
class Sweep:
    total: int
    due: int
    calls: Tally
    removed: int


def sweep(dep: Deployment, total: int, due: int, per_user: int = 100) -> Sweep:
    """`due` due chats (with S3 objects) in a ledger of `total` records; one nightly sweep."""
    due_ledger, due_tags = record_template("denied", changed=None)  # 30 days: due long before SWEEP_NOW
    live_ledger, _ = record_template("granted")  # 1825 days: not due
    due_groups = [seed.group(f"d{u:04d}", 0, min(10, due - u * 10), s3=[[0, 10]]) for u in range(math.ceil(due / 10))]
    dep.seed_chats(due_ledger, due_groups, due_tags)
    rest = total - due
    live_groups = [
        seed.group(f"f{u:05d}", 0, min(per_user, rest - u * per_user)) for u in range(math.ceil(rest / per_user))
    ]
    dep.seed_chats(live_ledger, live_groups)

    with dep.counter.measure() as calls:
        dep.runtime.sweep(parse_instant(SWEEP_NOW))
        runs = dep.drain_work()
    removed = 0
    for g in due_groups:
        listed = dep.runtime.s3.list_object_versions(Bucket=dep.bucket, Prefix=f"chats/{g['user']}/")
        assert not listed.get("Versions") and not listed.get("DeleteMarkers"), g["user"]
        removed += g["count"]
    assert runs, "the sweep queued no work"
    return Sweep(total, due, calls, removed)


# -- an erasure of a user ------------------------------------------------------------------------


@dataclass
class Erasure:
    chats: int
    runs: list[MessageRun]

    @property
    def calls(self) -> Tally:
        return sum((r.calls for r in self.runs), Tally())


ERASED = "erased"


def erasure(dep: Deployment, chats: int) -> Erasure:
    """`Erasure Requested` for a user with `chats` chats (ledger and S3): every message delivered, all gone."""
    from consentry.local import LambdaContext
    from consentry.service import handlers

    ledger, tags = record_template("granted")
    dep.seed_consents([dep.consent_item(ERASED, "granted", GRANT)])
    group = seed.group(ERASED, 0, chats, s3=[[0, chats]])
    dep.seed_chats(ledger, [group], tags)
    event = {
        "version": "0",
        "id": "erasure-bench",
        "detail-type": "Erasure Requested",
        "source": "chat.app",
        "account": "123456789012",
        "time": OPT_OUT,
        "region": "us-east-1",
        "resources": [],
        "detail": {"user_id": ERASED},
    }
    handlers.chat_events_handler(event, LambdaContext("chat_events"))
    runs = dep.drain_work()
    listed = dep.runtime.s3.list_object_versions(Bucket=dep.bucket, Prefix=f"chats/{ERASED}/")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers"), "the erasure left objects"
    return Erasure(chats, runs)
