"""Systematic exploration at AWS-call granularity: every flow, every call point, every interleaved event.

For each flow F (its first invocation, on a small world), the harness counts
the AWS calls F's handler makes alone, then for every call index k:

* `die-before`: the handler dies just before its k-th call (no answer to
  Lambda: the event comes back and is redelivered as Lambda would);
* `die-after`: the k-th call succeeds and the handler dies before it sees the
  answer (redelivered likewise);
* `lost-answer`: the k-th call succeeds and its answer is lost on the way
  back (the SDK retries the very same request);
* `E=<event>`: another event is delivered and processed to completion just
  before the k-th call, then F goes on.

Then everything is delivered until nothing is pending, and the state S3, the
ledger and the queues hold is judged by the model of `model.World`: it must
be what POLICY.md requires after some order of F and E that the real timing
allows (F then E, or E then F; E then F only when E was over before F's first
destructive S3 call on the chat: invariant 3), with nothing dead-lettered
(invariant 2) and no chat left mid-removal. The oracle never imports
`consentry.service.policy`.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ReadTimeoutError

from consentry.local import LambdaContext
from consentry.service import handlers

from .harness import Captured, Deployment, LambdaDied, handler_clients
from .model import World

U = "u1"
K1 = "chats/u1/c1.json"  # the chat every flow acts on
K2 = "code-sessions/u1/s1.jsonl"  # a bystander of the same user
K3 = "chats/u1/c3.json"  # written before deployment: no event announced it (the backfill's)
WRITTEN = datetime(2025, 10, 1, tzinfo=UTC)
F_AT = datetime(2025, 11, 10, tzinfo=UTC)  # the time of F's event
E_AT = datetime(2025, 11, 9, tzinfo=UTC)  # the time of an interleaved event (older: it may arrive late)
HELD_AT = datetime(2025, 10, 15, tzinfo=UTC)
SWEEP_NOW = datetime(2025, 11, 15, tzinfo=UTC)  # K1 due when its user denied consent (30 days from 10-01)
LATE_SWEEP = datetime(2031, 1, 1, tzinfo=UTC)  # everything due, even 5-year chats
DESTRUCTIVE = frozenset({"DeleteObject", "DeleteObjects"})


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def consent(value: str, changed: datetime, version: int) -> dict[str, Any]:
    return {
        "user_id": U,
        "tier": "pro",
        "training_consent": value,
        "consent_changed_at": iso(changed),
        "version": version,
    }


GRANTED = consent("granted", datetime(2025, 9, 1, tzinfo=UTC), 1)
DENIED = consent("denied", datetime(2025, 9, 15, tzinfo=UTC), 2)


# -- the world before F -------------------------------------------------------------------------------


def base(d: Deployment, w: World, record: dict[str, Any] = GRANTED) -> None:
    d.put_consent(record)
    w.consent[U] = record
    for key in (K1, K2):
        d.put_chat(key, WRITTEN)
        w.write(key, WRITTEN, {}, {})
    d.settle()


def denied(d: Deployment, w: World) -> None:
    base(d, w, DENIED)


def held(d: Deployment, w: World) -> None:
    base(d, w)
    d.chat_event("Legal Hold Placed", {"user_id": U, "key": K1}, HELD_AT)
    w.hold(K1, True, HELD_AT)
    d.settle()


def unannounced(d: Deployment, w: World) -> None:
    """K3 stored without a notification reaching us (written before deployment)."""
    base(d, w)
    d.put_chat(K3, WRITTEN)
    w.write(K3, WRITTEN, {}, {})
    w.chats[K3].announced = False  # the ledger does not know it: no sweep finds it before the backfill
    for m in d.receive(d.write_url, 10):
        d.sqs.delete_message(QueueUrl=d.write_url, ReceiptHandle=m.receipt)


# -- F: the flow under exploration (its first invocation is `invoke`) ---------------------------------


def chat_event(detail_type: str, key: str | None = K1) -> Callable[[Deployment], Callable[[], Any]]:
    def start(d: Deployment) -> Callable[[], Any]:
        d.chat_event(detail_type, {"user_id": U, **({"key": key} if key else {})}, F_AT)
        return d.deliver_events

    return start


def write_start(d: Deployment) -> Callable[[], Any]:
    d.put_chat(K1, F_AT)
    return lambda: d.deliver_sqs(d.write_url)


def retag_start(d: Deployment) -> Callable[[], Any]:
    d.put_consent(consent("denied", F_AT, 3))
    d.deliver_stream()  # the stream record's retag is queued
    return lambda: d.deliver_sqs(d.work_url, limit=1, choose=d.page_of(K1))


def erasure_start(d: Deployment) -> Callable[[], Any]:
    d.chat_event("Erasure Requested", {"user_id": U}, F_AT)
    d.deliver_events()  # recorded; its first page is queued
    return lambda: d.deliver_sqs(d.work_url, limit=1, choose=d.page_of(K1))


def sweep_start(d: Deployment) -> Callable[[], Any]:
    d.schedule_sweep(SWEEP_NOW)
    d.deliver_events()  # one message per shard of the due index
    shard = d.shard_of(K1)
    return lambda: d.deliver_sqs(d.work_url, limit=1, choose=lambda m: m.get("shard") == shard)


def backfill_start(d: Deployment) -> Callable[[], Any]:
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "exploration",
        "job": {"id": "job", "userArguments": {}},
        "tasks": [{"taskId": "t1", "s3Bucket": d.bucket, "s3Key": K3, "s3VersionId": None}],
    }

    def invoke() -> Any:
        try:
            return handlers.backfill_handler(event, LambdaContext("backfill"))
        except LambdaDied:
            # S3 Batch Operations retries a task whose invocation failed.
            return handlers.backfill_handler(event, LambdaContext("backfill"))

    return invoke


@dataclass(frozen=True)
class Flow:
    name: str
    setup: Callable[[Deployment, World], None]
    start: Callable[[Deployment], Callable[[], Any]]
    model: Callable[[World], object]
    stored_first: bool = False  # F's fact is stored before any E (an S3 put, a consent item): F's model comes first


def _announce(w: World) -> None:
    w.chats[K3].announced = True


def _no_change(w: World) -> None:
    return None


FLOWS = (
    Flow("write", base, write_start, lambda w: w.write(K1, F_AT, {}, {}), stored_first=True),
    Flow(
        "retag page",
        base,
        retag_start,
        lambda w: w.consent.__setitem__(U, consent("denied", F_AT, 3)),
        stored_first=True,
    ),
    Flow("reopen", base, chat_event("Chat Reopened"), lambda w: w.reopen(K1, F_AT)),
    Flow("archive", base, chat_event("Chat Archived"), _no_change),
    Flow("delete", base, chat_event("Chat Deleted"), lambda w: w.delete(K1, F_AT)),
    Flow("delete, held", held, chat_event("Chat Deleted"), lambda w: w.delete(K1, F_AT)),
    Flow("erasure page", base, erasure_start, lambda w: w.erase(U, F_AT)),
    Flow("erasure, held", held, erasure_start, lambda w: w.erase(U, F_AT)),
    Flow("hold placed", base, chat_event("Legal Hold Placed"), lambda w: w.hold(K1, True, F_AT)),
    Flow("hold released", held, chat_event("Legal Hold Released"), lambda w: w.hold(K1, False, F_AT)),
    Flow("sweep page", denied, sweep_start, lambda w: w.sweep(SWEEP_NOW) and None),
    Flow("backfill task", unannounced, backfill_start, _announce),
)


# -- E: the events interleaved at a call point ------------------------------------------------------------


@dataclass(frozen=True)
class Interleaved:
    name: str
    run: Callable[[Deployment], object]
    model: Callable[[World], object]


def _event(detail_type: str, key: str | None = K1) -> Callable[[Deployment], None]:
    def run(d: Deployment) -> None:
        d.chat_event(detail_type, {"user_id": U, **({"key": key} if key else {})}, E_AT)

    return run


def _consent(value: str) -> Interleaved:
    record = consent(value, E_AT, 9)
    return Interleaved(
        f"opt-{'out' if value == 'denied' else 'in'}",
        lambda d: d.put_consent(record),
        lambda w: w.consent.__setitem__(U, record),
    )


def console_hold(d: Deployment) -> None:
    """A legal hold placed from the S3 console: every version locked, and no event says so."""
    for v in d.s3.list_object_versions(Bucket=d.bucket, Prefix=K1).get("Versions", []):
        if v["Key"] == K1:
            d.s3.put_object_legal_hold(Bucket=d.bucket, Key=K1, VersionId=v["VersionId"], LegalHold={"Status": "ON"})


EVENTS = (
    Interleaved("write", lambda d: d.put_chat(K1, E_AT) and None, lambda w: w.write(K1, E_AT, {}, {})),
    Interleaved("reopen", _event("Chat Reopened"), lambda w: w.reopen(K1, E_AT)),
    Interleaved("archive", _event("Chat Archived"), _no_change),
    Interleaved("delete", _event("Chat Deleted"), lambda w: w.delete(K1, E_AT)),
    Interleaved("erasure", _event("Erasure Requested", None), lambda w: w.erase(U, E_AT)),
    Interleaved("hold placed", _event("Legal Hold Placed"), lambda w: w.hold(K1, True, E_AT)),
    Interleaved("hold released", _event("Legal Hold Released"), lambda w: w.hold(K1, False, E_AT)),
    Interleaved("console hold", console_hold, lambda w: w.console_hold(K1)),
    _consent("denied"),
    _consent("granted"),
    Interleaved("sweep", lambda d: d.schedule_sweep(LATE_SWEEP) and None, lambda w: w.sweep(LATE_SWEEP) and None),
)
CRASHES = ("die-before", "die-after", "lost-answer")


# -- call points --------------------------------------------------------------------------------------


class CallPoints:
    """Counts the calls the handlers' clients make (while `counting`) and acts at the k-th one."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.counting = False
        self.at: int | None = None
        self.action: Callable[[str], None] | None = None
        self.when = "before"
        self.lose_next_send = False
        self.fired = False

    @contextmanager
    def installed(self) -> Iterator[CallPoints]:
        clients = handler_clients()
        for client in clients:
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
            client.meta.events.register_last("before-send", self._send)
        try:
            yield self
        finally:
            for client in clients:
                client.meta.events.unregister("before-call", self._before)
                client.meta.events.unregister("after-call", self._after)
                client.meta.events.unregister("before-send", self._send)

    def arm(self, at: int | None, when: str = "before", action: Callable[[str], None] | None = None) -> None:
        self.calls, self.at, self.when, self.action, self.fired = [], at, when, action, False
        self.counting = True

    def _before(self, event_name: str, **_: Any) -> None:
        if not self.counting:
            return
        operation = event_name.rsplit(".", 1)[1]
        self.calls.append(operation)
        if len(self.calls) == self.at and self.when == "before":
            self._fire(operation)
        elif len(self.calls) == self.at and self.when == "lose":
            self.fired = True
            self.lose_next_send = True

    def _after(self, event_name: str, **_: Any) -> None:
        if self.counting and len(self.calls) == self.at and self.when == "after" and not self.fired:
            self._fire(event_name.rsplit(".", 1)[1])

    def _send(self, request: Any, **_: Any) -> None:
        # Registered last: moto's own handler has answered (the work is done), then the answer is lost.
        if self.lose_next_send:
            self.lose_next_send = False
            raise ReadTimeoutError(endpoint_url=request.url)

    def _fire(self, operation: str) -> None:
        self.fired = True
        assert self.action is not None
        self.counting = False  # the interleaved event's own calls are not F's
        try:
            self.action(operation)
        finally:
            self.counting = True


def first_destructive(calls: list[str]) -> int:
    """1-based index of the first destructive S3 call (a large number: none)."""
    return next((i + 1 for i, op in enumerate(calls) if op in DESTRUCTIVE), 10**6)


def _die(operation: str) -> None:
    raise LambdaDied(operation)


# -- the world before F, captured once per flow and restored before each case -----------------------------


@dataclass
class Snapshot:
    """What setup left (queues and stream drained), as moto holds it, and the model's world.

    Restoring puts moto's records back in place (`Deployment.reset(to=...)`, no
    handler runs and no API call): each case starts from the same state,
    versions with the same ids, at a fraction of the cost of replaying the setup.
    """

    world: World
    captured: Captured

    @classmethod
    def take(cls, d: Deployment, world: World) -> Snapshot:
        return cls(copy.deepcopy(world), d.capture())

    def restore(self, d: Deployment) -> World:
        d.reset(to=self.captured)
        return copy.deepcopy(self.world)


# -- one case ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    flow: str
    point: int
    operation: str
    kind: str  # a crash kind, or E=<event>
    outcome: str = ""
    problem: str = ""


@dataclass
class Table:
    """Flows x call points x interleaved events x outcomes."""

    points: dict[str, list[str]] = field(default_factory=dict)  # flow -> its calls, in order
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (flow, outcome)
    kinds: Counter[str] = field(default_factory=Counter)
    violations: list[Case] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    def to_json(self) -> dict[str, Any]:
        """The table as data, to travel from a pytest-xdist worker (tests/summaries.py)."""
        return {
            "points": self.points,
            "outcomes": [[flow, outcome, n] for (flow, outcome), n in self.outcomes.items()],
            "kinds": dict(self.kinds),
            "violations": [vars(case) for case in self.violations],
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add the cases another worker explored."""
        self.points.update(data["points"])
        for flow, outcome, n in data["outcomes"]:
            self.outcomes[(flow, outcome)] += n
        self.kinds.update(data["kinds"])
        self.violations.extend(Case(**case) for case in data["violations"])

    def lines(self) -> list[str]:
        events = sorted({k for k in self.kinds if k.startswith("E=")})
        header = f"{'flow':<15}{'calls':>6}{'cases':>7}  outcomes"
        rows = [header]
        order = {flow.name: i for i, flow in enumerate(FLOWS)}
        for flow, calls in sorted(self.points.items(), key=lambda item: order.get(item[0], len(order))):
            got = {o: n for (f, o), n in self.outcomes.items() if f == flow}
            rows.append(
                f"{flow:<15}{len(calls):>6}{sum(got.values()):>7}  "
                + ", ".join(f"{o} {n}" for o, n in sorted(got.items()))
            )
        rows.append(
            f"{len(self.points)} flows, {sum(len(c) for c in self.points.values())} call points, "
            f"{len(CRASHES)} crash kinds + {len(events)} interleaved events, {self.cases} histories, "
            f"violations {len(self.violations)}"
        )
        return rows


class Explorer:
    def __init__(self, d: Deployment, points: CallPoints) -> None:
        self.d = d
        self.points = points
        self.snapshots: dict[str, Snapshot] = {}

    def calls_of(self, flow: Flow) -> list[str]:
        """The AWS calls F's first invocation makes when nothing interferes."""
        world = self._fresh(flow)
        invoke = flow.start(self.d)
        self.points.arm(None)
        invoke()
        self.points.counting = False
        calls = list(self.points.calls)
        self.d.settle()
        flow.model(world)
        case = Case(flow.name, 0, "-", "alone")
        self._judge(flow, [world], case)
        assert not case.problem, f"{flow.name} alone: {case.problem}"
        return calls

    def _fresh(self, flow: Flow) -> World:
        snapshot = self.snapshots.get(flow.name)
        if snapshot is not None:
            return snapshot.restore(self.d)
        self.d.reset()
        world = World((U,), (K1, K2, K3))
        flow.setup(self.d, world)
        self.snapshots[flow.name] = Snapshot.take(self.d, world)
        return world

    def run(
        self, flow: Flow, k: int, operation: str, kind: str, event: Interleaved | None = None, destructive: int = 10**6
    ) -> Case:
        """One case; `destructive`: the index of F's first destructive S3 call when nothing interferes."""
        case = Case(flow.name, k, operation, kind)
        world = self._fresh(flow)
        invoke = flow.start(self.d)
        if event is not None:

            def interleave(_: str) -> None:
                event.run(self.d)
                self.d.settle()

            self.points.arm(k, "before", interleave)
        elif kind == "lost-answer":
            self.points.arm(k, "lose")
        else:
            self.points.arm(k, "before" if kind == "die-before" else "after", _die)
        with contextlib.suppress(LambdaDied):  # the harness's delivery already counted it as a failed invocation
            invoke()
        self.points.counting = False
        assert self.points.fired, f"{flow.name}: call {k} ({operation}) never came"
        self.d.settle()
        worlds = self._orders(flow, world, event, k, destructive)
        self._judge(flow, worlds, case)
        return case

    def _orders(self, flow: Flow, world: World, event: Interleaved | None, k: int, destructive: int) -> list[World]:
        """The worlds POLICY.md allows after F overlapped by E.

        F's own fact first when it was stored before E began (a write's object, a consent item); else
        either order, except E first only when E was over before F's first call or before F's first
        destructive call (invariant 3: never lost to it).
        """
        if event is None:
            flow.model(world)
            return [world]
        if flow.stored_first:
            flow.model(world)
            event.model(world)
            return [world]
        e_first = copy.deepcopy(world)
        event.model(e_first)
        flow.model(e_first)
        if k == 1:
            return [e_first]  # E was over before F made any call
        if k <= destructive < 10**6:
            return [e_first]  # invariant 3: recorded before the first destructive call, never lost to it
        f_first = world
        flow.model(f_first)
        event.model(f_first)
        return [e_first, f_first]

    def _judge(self, flow: Flow, worlds: list[World], case: Case) -> None:
        d = self.d
        problems = []
        if d.event_dead_letters or d.stream_dead_letters:
            problems.append("an event was dead-lettered")
        for url in (d.write_url, d.work_url):
            dead = d.dead_letters(url)
            if dead:
                problems.append(f"dead letters: {[json.loads(b) if b.startswith('{') else b for b in dead]}")
        seen = d.observe()
        stuck = [r.key for r in seen.records.values() if r.state == "removing"]
        if stuck:
            problems.append(f"left mid-removal: {stuck}")
        if not problems:
            failures = []
            for world in worlds:
                try:
                    world.check(seen)
                    self._tombstones(world)
                except AssertionError as err:
                    failures.append(str(err))
                else:
                    break
            else:
                problems.extend(failures)
        if not problems:
            problems.extend(self._opt_out_reaches_everything(seen))
        case.outcome = self._outcome(seen)
        case.problem = " | ".join(problems)

    def _opt_out_reaches_everything(self, seen: Any) -> list[str]:
        """The probe after every case: an opt-out now makes every stored chat of the user not eligible.

        (A chat stuck where retags do not reach, the first review's opt-out ignored under a console
        hold, fails here whatever the case was.) A case that left no chat eligible has nothing for the
        opt-out to reach: it is not probed (an opt-out that makes a chat eligible is the policy's and
        the histories' to catch), which spares the retag in most cases of the deleting and holding flows.
        """
        if not any(obj.exists and obj.tags.get("training-eligible") == "true" for obj in seen.objects.values()):
            return []
        d = self.d
        d.put_consent(consent("denied", datetime(2026, 1, 1, tzinfo=UTC), 99))
        d.settle()
        seen = d.observe()
        return [
            f"{key}: still tagged eligible after an opt-out ({obj.tags})"
            for key, obj in seen.objects.items()
            if obj.exists and obj.tags.get("training-eligible") == "true"
        ]

    def _tombstones(self, world: World) -> None:
        """A chat removed for good has a tombstone (the proof of its deletion), and nothing else."""
        for chat in world.chats.values():
            if chat.ever_written and not world.exists(chat):
                found = self.d.ledger.get(chat.user, chat.key)
                assert found is not None and found.removed, f"{chat.key}: removed without a tombstone ({found})"

    def _outcome(self, seen: Any) -> str:
        obj = seen.objects.get(K1)
        if obj is None or not obj.exists:
            return "removed"
        record = seen.records.get(K1)
        if record is not None and record.held:
            return "held"
        return "eligible" if obj.tags.get("training-eligible") == "true" else "kept, not eligible"
