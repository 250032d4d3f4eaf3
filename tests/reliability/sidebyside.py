"""The flow catalogue for the scheduler, the small worlds it starts from, and one history run and judged.

Worlds (one user, `K1` the chat every actor acts on, `K2` a bystander):

* `base`: consent granted, `K1` and `K2` written on 10-01 and tagged eligible;
* `console`: `base`, and a legal operator held `K1`'s version from the S3 console (no event);
* `held`: `base`, and a `Legal Hold Placed` on `K1` recorded;
* `two console`: `K1` written twice, both versions held from the console.

Actors: the deletion of `K1` at D, the user's erasure at D, a write of `K1`
before D (a leftover of the deleted life, its notification late) and after D
(a new life), a legal hold placed and released by events (before D), a
console hold on the version current when the operator acts, and an opt-out.
Writes happen at the writer's step in the schedule, at their own event time:
before and after the other actors' event times, in either order of landing.
"""

from __future__ import annotations

import copy
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .explore import GRANTED, K1, K2, WRITTEN, U, consent
from .harness import Captured, Deployment, eventbridge_event
from .observe import Truth, judge, see
from .schedule import Picks, Scheduler, Step, explore_exhaustive, pct_picks, preemptions

D = datetime(2025, 11, 10, tzinfo=UTC)  # the deletion's (and the erasure's) time
BEFORE_D = D - timedelta(days=1)
AFTER_D = D + timedelta(days=1)
HOLD_ON = D - timedelta(days=3)
HOLD_OFF = D - timedelta(days=2)
OPT_OUT = consent("denied", D + timedelta(days=2), 7)
KEYS = (K1, K2)


@dataclass
class History:
    """The deployment, the scheduler and what the world did in this history."""

    d: Deployment
    scheduler: Scheduler
    truth: Truth


# -- worlds ---------------------------------------------------------------------------------------


def _base(h: History) -> None:
    d = h.d
    d.put_consent(GRANTED)
    for key in (K1, K2):
        _write(h, key, WRITTEN)
    d.settle()


def _console_hold(h: History, key: str = K1) -> None:
    """A legal hold from the S3 console: on the version current when the operator acts."""
    d = h.d
    listed = d.s3.list_object_versions(Bucket=d.bucket, Prefix=key).get("Versions", [])
    current = next((v for v in listed if v["Key"] == key and v.get("IsLatest")), None)
    if current is not None:
        d.s3.put_object_legal_hold(Bucket=d.bucket, Key=key, VersionId=current["VersionId"], LegalHold={"Status": "ON"})
        h.truth.console.setdefault(key, set()).add(current["VersionId"])


def _console(h: History) -> None:
    _base(h)
    _console_hold(h)


def _held(h: History) -> None:
    _base(h)
    at = WRITTEN + timedelta(days=14)
    h.d.chat_event("Legal Hold Placed", {"user_id": U, "key": K1}, at)
    h.truth.holds.setdefault(K1, []).append((at, True))
    h.d.settle()


def _two_console(h: History) -> None:
    _base(h)
    _console_hold(h)
    _write(h, K1, WRITTEN + timedelta(days=5))
    h.d.settle()
    _console_hold(h)


WORLDS: dict[str, Callable[[History], None]] = {
    "base": _base,
    "console": _console,
    "held": _held,
    "two console": _two_console,
}


# -- actors ---------------------------------------------------------------------------------------------


def _write(h: History, key: str, at: datetime) -> None:
    """A put at `at`, or just after the key's latest version: S3's clock gives a later put a later LastModified."""
    latest = max(h.truth.writes.get(key, {}).values(), default=None)
    if latest is not None and at <= latest:
        at = latest + timedelta(seconds=1)
    etag = h.d.put_chat(key, at)
    h.truth.writes.setdefault(key, {})[h.d.write_versions[etag]] = at


def _deliver_all(d: Deployment, url: str, kind: str) -> None:
    while d.deliver_sqs(url, limit=1, choose=lambda m: isinstance(m, dict) and m.get("type") == kind):
        pass


def _event_actor(detail_type: str, at: datetime, key: str | None = K1) -> Callable[[History], Callable[[], Any]]:
    def prepare(h: History) -> Callable[[], Any]:
        event = eventbridge_event(detail_type, {"user_id": U, **({"key": key} if key else {})}, at)
        if detail_type == "Chat Deleted":
            h.truth.deletions.setdefault(K1, []).append(at)
        elif detail_type.startswith("Legal Hold"):
            h.truth.holds.setdefault(K1, []).append((at, detail_type.endswith("Placed")))
        elif detail_type == "Erasure Requested":
            h.truth.erasures.append(at)

        def act() -> None:
            h.d._invoke_event(event)
            if detail_type == "Erasure Requested":
                _deliver_all(h.d, h.d.work_url, "erase")

        return act

    return prepare


def _write_actor(at: datetime) -> Callable[[History], Callable[[], Any]]:
    def prepare(h: History) -> Callable[[], Any]:
        def act() -> None:
            h.scheduler.point("world:PutObject")
            _write(h, K1, at)
            h.d.deliver_sqs(h.d.write_url, limit=1)

        return act

    return prepare


def _console_actor(h: History) -> Callable[[], Any]:
    def act() -> None:
        h.scheduler.point("world:console hold")
        _console_hold(h)

    return act


def _opt_out_actor(h: History) -> Callable[[], Any]:
    def act() -> None:
        h.scheduler.point("world:consent PutItem")
        h.d.put_consent(OPT_OUT)
        h.truth.consent = OPT_OUT
        h.d.deliver_stream()
        _deliver_all(h.d, h.d.work_url, "retag")

    return act


ACTORS: dict[str, Callable[[History], Callable[[], Any]]] = {
    "delete": _event_actor("Chat Deleted", D),
    "erasure": _event_actor("Erasure Requested", D, None),
    "write<D": _write_actor(BEFORE_D),
    "write>D": _write_actor(AFTER_D),
    "hold": _event_actor("Legal Hold Placed", HOLD_ON),
    "release": _event_actor("Legal Hold Released", HOLD_OFF),
    "console": _console_actor,
    "opt-out": _opt_out_actor,
}


# -- one history ----------------------------------------------------------------------------------------


@dataclass
class Result:
    world: str
    actors: tuple[str, ...]
    picks: list[str]
    steps: list[Step]
    outcome: str
    problems: list[str]

    @property
    def crashes(self) -> list[str]:  # what a crash hit, for the report
        return [f"{s.crash}@{s.actor}:{s.operation}" for s in self.steps if s.crash]

    def describe(self) -> str:
        order = " ".join(f"{s.actor}:{s.operation}" + (f"[{s.crash}]" if s.crash else "") for s in self.steps)
        return f"{self.world} | {' + '.join(self.actors)} | {order} => {'; '.join(self.problems)}"


Starts = dict[tuple[str, bool], tuple[Captured, Truth]]  # (world, notify versions) -> the world as set up once


def run_history(
    d: Deployment,
    scheduler: Scheduler,
    world: str,
    actors: tuple[str, ...],
    picks: Picks,
    versions: bool = True,
    starts: Starts | None = None,
) -> Result:
    h = _start(d, scheduler, world, versions, starts)
    named = [(f"{name}#{i}" if actors.count(name) > 1 else name, ACTORS[name](h)) for i, name in enumerate(actors)]
    steps = scheduler.run(named, picks)
    d.settle()
    h.truth.settle_erasures()
    seen = see(d)
    problems = judge(seen, h.truth, KEYS)
    return Result(world, actors, [s.actor for s in steps], list(steps), _outcome(seen), problems)


def _start(d: Deployment, scheduler: Scheduler, world: str, versions: bool, starts: Starts | None) -> History:
    """The world set up; with `starts`, set up once (per test: the settings and patches of one test) and put back."""
    taken = starts.get((world, versions)) if starts is not None else None
    d.reset(to=taken[0] if taken is not None else None)
    d.notify_versions = versions
    if taken is not None:
        return History(d, scheduler, copy.deepcopy(taken[1]))
    h = History(d, scheduler, Truth(GRANTED))
    WORLDS[world](h)
    if starts is not None:
        starts[(world, versions)] = (d.capture(), copy.deepcopy(h.truth))
    return h


def _outcome(seen: Any) -> str:
    current = seen.current(K1)
    if current is None:
        return "held" if seen.stored(K1) else "removed"
    if current.hold:
        return "held"
    return "eligible" if current.tags.get("training-eligible") == "true" else "kept, not eligible"


# -- profiles, and the table ----------------------------------------------------------------------------

PROFILE = os.environ.get("CONSENTRY_EXPLORE", "ci")
SCALE = 20 if PROFILE == "nightly" else 1


@dataclass
class SideTable:
    """Flow pairs x schedules x perturbations x outcomes."""

    rows: dict[str, Counter[str]] = field(default_factory=dict)  # "world | a + b" -> counts
    violations: list[str] = field(default_factory=list)

    def add(self, result: Result, mode: str) -> None:
        row = self.rows.setdefault(f"{result.world:<11} {' + '.join(result.actors)}", Counter())
        row[f"{mode} schedules"] += 1
        row["crashes"] += len(result.crashes)
        row["preemptions"] += preemptions(result.steps)
        row["violation" if result.problems else result.outcome] += 1
        if result.problems:
            self.violations.append(result.describe())

    def to_json(self) -> dict[str, Any]:
        return {"rows": {k: dict(v) for k, v in self.rows.items()}, "violations": self.violations}

    def merge(self, data: dict[str, Any]) -> None:
        for name, counts in data["rows"].items():
            self.rows.setdefault(name, Counter()).update(counts)
        self.violations.extend(data["violations"])

    def lines(self) -> list[str]:
        columns = ("exhaustive schedules", "pct schedules", "crashes", "preemptions")
        outcomes = sorted({o for row in self.rows.values() for o in row} - set(columns))
        head = f"{'world / actors':<36}" + "".join(f"{c.split()[0][:10]:>11}" for c in columns)
        rows = [head + "  outcomes"]
        for name in sorted(self.rows):
            row = self.rows[name]
            rows.append(
                f"{name:<36}"
                + "".join(f"{row.get(c, 0):>11}" for c in columns)
                + "  "
                + ", ".join(f"{o} {row[o]}" for o in outcomes if row.get(o))
            )
        total = Counter[str]()
        for row in self.rows.values():
            total.update(row)
        rows.append(
            f"{len(self.rows)} world x actor sets, {total['exhaustive schedules']} exhaustive + "
            f"{total['pct schedules']} random (PCT) schedules, {total['crashes']} crashes, "
            f"violations {len(self.violations)}"
        )
        return rows


def exhaustive(
    d: Deployment, scheduler: Scheduler, world: str, actors: tuple[str, ...], bound: int, starts: Starts | None = None
) -> Iterator[Result]:
    results: list[Result] = []

    def run(picks: Picks) -> list[Step]:
        result = run_history(d, scheduler, world, actors, picks, starts=starts)
        results.append(result)
        return result.steps

    for _ in explore_exhaustive(run, bound):
        yield results[-1]


def pct(
    d: Deployment,
    scheduler: Scheduler,
    world: str,
    actors: tuple[str, ...],
    seed: int,
    crashes: int = 2,
    starts: Starts | None = None,
) -> Result:
    rng = random.Random(seed)
    picks = pct_picks(rng, [f"{n}#{i}" if actors.count(n) > 1 else n for i, n in enumerate(actors)], 40, 3, crashes)
    return run_history(d, scheduler, world, actors, picks, versions=rng.random() < 0.75, starts=starts)


def first_violation(
    d: Deployment, scheduler: Scheduler, world: str, actors: tuple[str, ...], bound: int = 1
) -> Result | None:
    """The first history with a violation, exploring every schedule within `bound` preemptions; None if none."""
    for result in exhaustive(d, scheduler, world, actors, bound):
        if result.problems:
            return result
    return None
