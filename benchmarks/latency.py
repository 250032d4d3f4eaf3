"""How long an opt-out and an erasure take on AWS: a discrete-event simulation on a virtual clock.

moto answers in microseconds and never throttles, so the time to the last
chat retagged on AWS cannot be measured here. It is simulated instead, call
by call, from the code's own structure and counts:

- **What each message calls.** `retag_page` and `erase_page` below are the
  calls of one work message of `consentry.service.flows.fanout.retag` and
  `consentry.service.flows.erasure.erase`, in the order the code makes them, with the
  chats of a page spread over the per-invocation thread pool
  (`consentry.service.settings.DEFAULT_THREADS`). `expected_ops` turns a page into
  its call counts, and the benchmark checks them against the calls the real
  handlers made on moto for the same pages (`check_against`): the model
  cannot drift from the code unnoticed.
- **What AWS does with them** (`Aws`, every figure stated): a latency per
  call; one DynamoDB partition for the user's records (1,000 WCU/s, 3,000
  RCU/s) and one per `due` index shard; S3's per-prefix rates (3,500
  PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second, `chats/<user>/` being
  one prefix); a throttled call is retried as botocore's standard mode does
  (4 attempts, jittered backoff of up to 1, 2, 4 s, a retry quota of 500 per
  client at 5 per throttled retry); a page with a call that failed every
  attempt fails, and SQS redelivers it after the queue's visibility timeout.
- **Lambda** (`consentry.service.deployment.WORK_QUEUE`): at most `max_concurrency`
  workers, `batch_size` messages per invocation run one after another; the
  SQS poller starts at 5 concurrent invocations and adds up to 300 a minute;
  a new execution environment pays a cold start.

Time is virtual (a heap of events): nothing sleeps. Random jitter comes from
a seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from consentry.service.aws.ledger import RANGES
from consentry.service.deployment import WORK_QUEUE
from consentry.service.flows.erasure import ERASE_PAGE
from consentry.service.flows.fanout import RETAG_PAGE
from consentry.service.settings import DEFAULT_RANGE_THREADS, DEFAULT_THREADS

BATCH_GET = 100  # keys per BatchGetItem (consentry.service.aws.dynamo.BATCH_GET_LIMIT)
SEND_BATCH = 10  # messages per SendMessageBatch


@dataclass(frozen=True)
class Aws:
    """AWS's figures, as assumed (sources in docs/cost.md, "Opt-out latency")."""

    # Latency of one call from Lambda in the same region, in seconds. DynamoDB: "single-digit milliseconds";
    # S3: tens of milliseconds for small requests (first byte of a small object 100-200 ms is the documented
    # ceiling for GETs of data; tagging calls carry no data).
    dynamodb_item: float = 0.005  # GetItem, PutItem, UpdateItem
    dynamodb_batch: float = 0.012  # BatchGetItem of up to 100 items
    dynamodb_query: float = 0.010  # a Query, plus per MB returned:
    dynamodb_query_per_mb: float = 0.020
    throttled: float = 0.005  # a refused DynamoDB call answers quickly
    s3_get_tagging: float = 0.030
    s3_put_tagging: float = 0.050
    s3_list: float = 0.040
    s3_delete_objects: float = 0.100
    s3_throttled: float = 0.020  # 503 SlowDown
    sqs_send: float = 0.010
    # Limits.
    partition_wcu: float = 1000.0  # one partition: a user's item collection, or one `due` shard of the index
    partition_rcu: float = 3000.0
    prefix_put: float = 3500.0  # S3 per prefix: PUT/COPY/POST/DELETE (each key of a DeleteObjects counted)
    prefix_get: float = 5500.0  # GET/HEAD (GetObjectTagging, ListObjectVersions)
    # SDK (consentry.service.settings.BOTO_CONFIG, botocore's standard mode).
    attempts: int = 4
    backoff_base: float = 1.0  # throttling errors: rand * min(1 s * 2**i, 20 s)
    retry_quota: int = 500
    throttle_retry_cost: int = 5
    # Lambda and the queues.
    stream_delay: float = 0.5  # consent table write -> consent_changed invoked (the stream poller)
    hop: float = 0.1  # a message sent -> picked up by the SQS poller and invoked
    cold_start: float = 1.0  # init of a new worker environment (imports, the hash key, clients)
    poller_start: int = 5  # concurrent invocations the SQS poller starts with
    poller_per_second: float = 300 / 60  # and adds at most this many per second
    max_concurrency: int = WORK_QUEUE.max_concurrency
    batch_size: int = WORK_QUEUE.batch_size
    visibility_timeout: float = WORK_QUEUE.visibility_timeout_seconds
    threads: int = DEFAULT_THREADS
    range_threads: int = DEFAULT_RANGE_THREADS  # a page of one of a user's hash ranges


# -- what one page calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    service: str
    op: str
    latency: float
    units: tuple[tuple[str, float], ...] = ()  # (bucket, units) taken from AWS's limits


@dataclass(frozen=True)
class Map:
    """The chats of a page over the thread pool: `each(i)` is the calls of chat i, in order."""

    count: int
    each: Callable[[int], list[Call]]
    threads: int


@dataclass(frozen=True)
class Shape:
    """Sizes of the records and the units one chat's writes take (from the measured pages)."""

    record_kb: float = 0.75  # a ledger record as a Query returns it
    wru: float = 1.0  # base-table write units of one record write (measured)
    index_wru: float = 2.0  # `due` index units of one retag write (the entry moves: delete + insert)
    tombstone_kb: float = 0.25


Step = Call | Map
Page = list[Step]


def _item(op: str, aws: Aws, units: tuple[tuple[str, float], ...] = ()) -> Call:
    return Call("dynamodb", op, aws.dynamodb_item, units)


def _query(aws: Aws, kb: float, bucket: str = "user") -> Call:
    return Call(
        "dynamodb",
        "Query",
        aws.dynamodb_query + aws.dynamodb_query_per_mb * kb / 1024,
        ((f"{bucket}:rcu", max(1.0, math.ceil(kb / 4))),),
    )


def _batch_gets(aws: Aws, n: int, bucket: str | None) -> list[Call]:
    units = ((f"{bucket}:rcu", 1.0),) if bucket else ()
    return [
        Call("dynamodb", "BatchGetItem", aws.dynamodb_batch, tuple((b, u * min(BATCH_GET, n - k)) for b, u in units))
        for k in range(0, n, BATCH_GET)
    ]


def _sends(aws: Aws, messages: int) -> list[Call]:
    return [Call("sqs", "SendMessageBatch", aws.sqs_send)] * math.ceil(messages / SEND_BATCH)


def _shard(i: int) -> str:
    return f"shard{i % 16}:wcu"


def retag_page(
    aws: Aws, shape: Shape, n: int, *, root_fans_out: bool = False, following: bool = False, in_range: bool = False
) -> Page:
    """One message of `fanout.retag`: work record read, one Query, the settle of n chats, the next page, done.

    The settle of an opt-out: consents read once; per chat GetObjectTagging, the record written (conditional),
    PutObjectTagging; then the records and consents read again in batches (`Enforcer._moved`).
    """
    page: Page = [_item("GetItem", aws), _query(aws, shape.record_kb * (RETAG_PAGE if root_fans_out else n))]
    if root_fans_out:
        return [*page, *_sends(aws, len(RANGES)), _item("PutItem", aws)]

    def chat(i: int) -> list[Call]:
        write = (("user:wcu", shape.wru), (_shard(i), shape.index_wru))
        return [
            Call("s3", "GetObjectTagging", aws.s3_get_tagging, (("prefix:get", 1.0),)),
            _item("PutItem", aws, write),
            Call("s3", "PutObjectTagging", aws.s3_put_tagging, (("prefix:put", 1.0),)),
        ]

    threads = aws.range_threads if in_range else aws.threads
    page += [
        *_batch_gets(aws, 1, None),
        Map(n, chat, threads),
        *_batch_gets(aws, n, "user"),
        *_batch_gets(aws, 1, None),
    ]
    return [*page, *(_sends(aws, 1) if following else []), _item("PutItem", aws)]


def erase_page(
    aws: Aws,
    shape: Shape,
    n: int,
    *,
    root_fans_out: bool = False,
    following: bool = False,
    last: bool = False,
    sends_listing: bool = False,
    in_range: bool = True,
) -> Page:
    """One range page of `erasure.erase`: Query, list each chat's versions, delete (ledger, tags), purge, record.

    The delete is a settle like a retag's; the purge removes every version in one DeleteObjects per 1,000
    and writes each chat's tombstone (not re-read). The last page of a range notes the range done
    (UpdateItem); the one that finds every range done sends the S3 listing pass (`sends_listing`: one
    SQS send, left out of the simulation, which cannot know which range ends last).
    """
    page: Page = [_item("GetItem", aws), _query(aws, shape.record_kb * (ERASE_PAGE if root_fans_out else n))]
    if root_fans_out:
        return [*page, *_sends(aws, len(RANGES)), _item("PutItem", aws)]

    def listing(i: int) -> list[Call]:
        return [Call("s3", "ListObjectVersions", aws.s3_list, (("prefix:get", 1.0),))]

    def delete(i: int) -> list[Call]:
        write = (("user:wcu", shape.wru), (_shard(i), shape.index_wru))
        return [
            Call("s3", "GetObjectTagging", aws.s3_get_tagging, (("prefix:get", 1.0),)),
            _item("PutItem", aws, write),
            Call("s3", "PutObjectTagging", aws.s3_put_tagging, (("prefix:put", 1.0),)),
        ]

    def tombstone(i: int) -> list[Call]:
        return [_item("PutItem", aws, (("user:wcu", 1.0), (_shard(i), 1.0)))]  # leaves the index: one delete

    threads = aws.range_threads if in_range else aws.threads
    page += [Map(n, listing, threads), *_batch_gets(aws, 1, None), Map(n, delete, threads)]
    page += [*_batch_gets(aws, n, "user"), *_batch_gets(aws, 1, None)]
    page += [
        Call("s3", "DeleteObjects", aws.s3_delete_objects, (("prefix:put", float(min(1000, n - k))),))
        for k in range(0, n, 1000)
    ]
    page.append(Map(n, tombstone, threads))
    if last:
        page.append(_item("UpdateItem", aws, (("user:wcu", 1.0),)))
    return [*page, *(_sends(aws, 1) if following or sends_listing else []), _item("PutItem", aws)]


def erase_listing(aws: Aws, shape: Shape, chats: int, last: bool = True) -> Page:
    """The erasure's S3 pass after the ranges, one message per key pattern of the policy: nothing left to
    list; the next pattern's page sent, or on the last one the counts from the ledger and the request closed."""
    if not last:
        return [
            _item("GetItem", aws),
            Call("s3", "ListObjectVersions", aws.s3_list, (("prefix:get", 1.0),)),
            *_sends(aws, 1),
            _item("PutItem", aws),
        ]
    mb = chats * shape.tombstone_kb / 1024
    queries = [_query(aws, min(1024.0, chats * shape.tombstone_kb - k * 1024)) for k in range(max(1, math.ceil(mb)))]
    return [
        _item("GetItem", aws),
        Call("s3", "ListObjectVersions", aws.s3_list, (("prefix:get", 1.0),)),
        *queries,
        _item("UpdateItem", aws, (("user:wcu", 1.0),)),
        _item("PutItem", aws),
    ]


def expected_ops(page: Page) -> Counter[str]:
    """The call counts of a page, as `benchmarks.calls.Tally.ops` names them."""
    ops: Counter[str] = Counter()
    for step in page:
        calls = [step] if isinstance(step, Call) else [c for i in range(step.count) for c in step.each(i)]
        ops.update(f"{c.service}:{c.op}" for c in calls)
    return ops


def check_against(page: Page, measured: Counter[str], what: str) -> None:
    """The model's calls of a page are the ones the handler made on moto for the same page."""
    expected = expected_ops(page)
    if expected != measured:
        raise AssertionError(
            f"the latency model of {what} drifted from the code: model {expected}, measured {measured}"
        )


# -- the simulation --------------------------------------------------------------------------------------------


class _Bucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.at = rate, rate, 0.0  # a second's worth of burst

    def take(self, now: float, units: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= units:
            self.tokens -= units
            return True
        return False


@dataclass
class Message:
    pages: Callable[[], Page]  # the page (built when run: a redelivered page runs again whole)
    name: str
    then: Callable[[float], list[Message]] = lambda at: []  # what it sends, when its last call returns
    tries: int = 0


@dataclass
class Outcome:
    """What a simulated run gives: when the last chat was done, and what held it back."""

    done_at: float  # seconds after the triggering event
    last_chat_at: float
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    failed_pages: int = 0
    peak_workers: int = 0
    used: dict[str, float] = field(default_factory=dict)  # units taken per limit, to compare with the rates


class Simulation:
    def __init__(self, aws: Aws, seed: int = 16) -> None:
        self.aws = aws
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.random = random.Random(seed)
        rates = {
            "user:wcu": aws.partition_wcu,
            "user:rcu": aws.partition_rcu,
            "prefix:put": aws.prefix_put,
            "prefix:get": aws.prefix_get,
            **{f"shard{k}:wcu": aws.partition_wcu for k in range(16)},
        }
        self.buckets = {name: _Bucket(rate) for name, rate in rates.items()}
        self.queue: list[tuple[float, int, Message]] = []  # (visible at, seq, message)
        self.warm: list[dict[str, float]] = []  # idle execution environments (their retry quota)
        self.running = 0
        self.first_message_at: float | None = None
        self.out = Outcome(0.0, 0.0)

    # events
    def at(self, when: float, action: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, action))

    def run(self) -> Outcome:
        while self.events:
            self.now, _, action = heapq.heappop(self.events)
            action()
        return self.out

    # the queue and Lambda
    def send(self, messages: list[Message], visible_at: float) -> None:
        for message in messages:
            self.seq += 1
            heapq.heappush(self.queue, (visible_at, self.seq, message))
        self.at(visible_at + self.aws.hop, self.poll)

    def _capacity(self) -> int:
        if self.first_message_at is None:
            self.first_message_at = self.now
        grown = self.aws.poller_start + self.aws.poller_per_second * (self.now - self.first_message_at)
        return min(self.aws.max_concurrency, int(grown))

    def poll(self) -> None:
        while self.queue and self.queue[0][0] + self.aws.hop <= self.now + 1e-9:
            capacity = self._capacity()
            if self.running >= capacity:
                self.at(self.now + 1.0 / self.aws.poller_per_second, self.poll)  # when the poller has grown
                return
            batch = []
            while self.queue and len(batch) < self.aws.batch_size and self.queue[0][0] + self.aws.hop <= self.now:
                batch.append(heapq.heappop(self.queue)[2])
            self.running += 1
            self.out.peak_workers = max(self.out.peak_workers, self.running)
            env = self.warm.pop() if self.warm else None
            start = self.now if env is not None else self.now + self.aws.cold_start
            env = env or {"quota": float(self.aws.retry_quota)}
            self.at(start, lambda b=batch, e=env: self._invoke(b, e))

    def _invoke(self, batch: list[Message], env: dict[str, float]) -> None:
        def next_message(k: int) -> None:
            if k == len(batch):
                self.running -= 1
                self.warm.append(env)
                self.poll()
                return
            message = batch[k]
            self._page(message, env, lambda ok: self._settled(message, ok, lambda: next_message(k + 1)))

        next_message(0)

    def _settled(self, message: Message, ok: bool, go_on: Callable[[], None]) -> None:
        if ok:
            self.out.done_at = max(self.out.done_at, self.now)
            following = message.then(self.now)
            if following:
                self.send(following, self.now)
        else:  # the batch item fails: SQS makes it visible again after the visibility timeout
            self.out.failed_pages += 1
            message.tries += 1
            self.send([message], self.now + self.aws.visibility_timeout)
        go_on()

    # one page: its steps in order, a Map over the thread pool
    def _page(self, message: Message, env: dict[str, float], done: Callable[[bool], None]) -> None:
        steps: Iterator[Step] = iter(message.pages())
        failed = [False]

        def step() -> None:
            current = next(steps, None)
            if current is None:
                done(not failed[0])
            elif isinstance(current, Call):
                self._call(current, env, 1, lambda ok: (failed.__setitem__(0, failed[0] or not ok), step()))
            else:
                self._map(current, env, failed, step)

        step()

    def _map(self, m: Map, env: dict[str, float], failed: list[bool], done: Callable[[], None]) -> None:
        pending = iter(range(m.count))
        active = [0]

        def worker() -> None:
            i = next(pending, None)
            if i is None:
                active[0] -= 1
                if active[0] == 0:
                    done()
                return
            calls = iter(m.each(i))

            def chat_step(ok: bool = True) -> None:
                if not ok:
                    failed[0] = True  # the chat's outcome carries the error; the others go on
                    worker()
                    return
                call = next(calls, None)
                if call is None:
                    self.out.last_chat_at = max(self.out.last_chat_at, self.now)
                    worker()
                    return
                self._call(call, env, 1, chat_step)

            chat_step()

        threads = min(m.threads, m.count)
        if threads == 0:
            done()
            return
        active[0] = threads
        for _ in range(threads):
            worker()

    def _call(self, call: Call, env: dict[str, float], attempt: int, done: Callable[[bool], None]) -> None:
        self.out.calls[f"{call.service}:{call.op}"] += 1
        if all(
            self.buckets[b].tokens + (self.now - self.buckets[b].at) * self.buckets[b].rate >= u for b, u in call.units
        ):
            for bucket, units in call.units:
                self.buckets[bucket].take(self.now, units)
                self.out.used[bucket] = self.out.used.get(bucket, 0.0) + units
            env["quota"] = min(
                self.aws.retry_quota, env["quota"] + (1 if attempt == 1 else self.aws.throttle_retry_cost)
            )
            self.at(self.now + call.latency, lambda: done(True))
            return
        self.out.throttled[f"{call.service}:{call.op}"] += 1
        answer = self.aws.throttled if call.service == "dynamodb" else self.aws.s3_throttled
        if attempt >= self.aws.attempts or env["quota"] < self.aws.throttle_retry_cost:
            self.at(self.now + answer, lambda: done(False))
            return
        env["quota"] -= self.aws.throttle_retry_cost
        delay = self.random.random() * min(self.aws.backoff_base * 2 ** (attempt - 1), 20.0)
        self.at(self.now + answer + delay, lambda: self._call(call, env, attempt + 1, done))


# -- the scenarios -----------------------------------------------------------------------------------------------


def _range_sizes(chats: int) -> list[int]:
    """Chats per hash range: the keyed hashes spread them evenly (16 near-equal ranges)."""
    base, extra = divmod(chats, len(RANGES))
    return [base + (1 if k < extra else 0) for k in range(len(RANGES))]


def _chain(
    build: Callable[..., Page],
    aws: Aws,
    shape: Shape,
    size: int,
    page: int,
    name: str,
    last: Callable[[], list[Message]],
) -> Message:
    """The pages of one range, each sending the next when done; the last sends what `last` gives."""
    sizes = [min(page, size - k) for k in range(0, size, page)] or [0]

    def message(k: int) -> Message:
        more = k + 1 < len(sizes)
        kwargs: dict[str, Any] = {"following": more, "in_range": True}
        if build is erase_page:
            kwargs["last"] = not more
        return Message(
            lambda: build(aws, shape, sizes[k], **kwargs),
            f"{name} page {k}",
            lambda at: [message(k + 1)] if more else last(),
        )

    return message(0)


def opt_out(chats: int, aws: Aws | None = None, shape: Shape | None = None) -> Outcome:
    """An opt-out of a user with `chats` chats: stream -> consent_changed -> root -> 16 range chains."""
    aws, shape = aws or Aws(), shape or Shape()
    sim = Simulation(aws)
    if chats <= RETAG_PAGE:
        root = Message(lambda: retag_page(aws, shape, chats), "root")
    else:
        chains = [
            _chain(retag_page, aws, shape, n, RETAG_PAGE, f"range {r}", list)
            for r, n in zip(RANGES, _range_sizes(chats), strict=True)
        ]
        root = Message(lambda: retag_page(aws, shape, RETAG_PAGE, root_fans_out=True), "root", lambda at: chains)
    # consent_changed: one SendMessageBatch after the stream delivers the record.
    sim.send([root], aws.stream_delay + aws.sqs_send)
    return sim.run()


def erasure(chats: int, aws: Aws | None = None, shape: Shape | None = None) -> Outcome:
    """An erasure of a user with `chats` chats: chat_events -> root -> 16 range chains -> the S3 listing pass."""
    aws, shape = aws or Aws(), shape or Shape()
    sim = Simulation(aws)
    remaining = [len(RANGES)]

    def after_range() -> list[Message]:
        remaining[0] -= 1
        if remaining[0]:
            return []
        # One listing page per key pattern (the bundled policy's chats/ and code-sessions/), one after another.
        final = Message(lambda: erase_listing(aws, shape, chats), "listing, last pattern")
        return [Message(lambda: erase_listing(aws, shape, chats, last=False), "listing", lambda at: [final])]

    chains = [
        _chain(erase_page, aws, shape, n, ERASE_PAGE, f"range {r}", after_range)
        for r, n in zip(RANGES, _range_sizes(chats), strict=True)
    ]
    root = Message(lambda: erase_page(aws, shape, ERASE_PAGE, root_fans_out=True), "root", lambda at: chains)
    # chat_events: the erasure recorded (PutItem), then the root message sent.
    sim.send([root], aws.dynamodb_item + aws.sqs_send)
    return sim.run()


def floors(chats: int, aws: Aws, shape: Shape, writes_per_chat: float) -> dict[str, float]:
    """The least time each limit allows for `chats` chats, in seconds."""
    return {
        "DynamoDB partition (user's records)": chats * writes_per_chat / aws.partition_wcu,
        "S3 prefix PUT": chats / aws.prefix_put,
        "S3 prefix GET": chats / aws.prefix_get,
    }


def busiest(outcome: Outcome, duration: float) -> list[tuple[str, float]]:
    """Average use of each limit over `duration`, as a share of its rate, busiest first."""
    aws = Aws()
    rates = {
        "user:wcu": aws.partition_wcu,
        "user:rcu": aws.partition_rcu,
        "prefix:put": aws.prefix_put,
        "prefix:get": aws.prefix_get,
    }
    shares = [(name, used / duration / rates[name]) for name, used in outcome.used.items() if name in rates]
    return sorted(shares, key=lambda kv: -kv[1])


__all__ = [
    "Aws",
    "Outcome",
    "Shape",
    "Simulation",
    "check_against",
    "erase_listing",
    "erase_page",
    "erasure",
    "expected_ops",
    "floors",
    "opt_out",
    "retag_page",
]
