"""Flows side by side: a deterministic scheduler that switches between handler invocations only at AWS calls.

Each *actor* (a handler invocation, or the outside world acting: a writer's
put, a legal operator's console hold) runs in its own thread, but only one
runs at a time: at every AWS call of the handlers' clients (botocore's
`before-call`) the actor parks and the scheduler picks who goes next. A
schedule is the list of those picks, so a history replays exactly from it
(stateless model checking, as in AWS ShardStore's lightweight formal methods).

Two ways to pick:

* `exhaustive`: every schedule with at most `bound` preemptions (switching
  away from an actor that could go on), by depth-first search over the
  picks, re-running from the start for each schedule;
* `pct`: random priorities, lowered at a few random steps (probabilistic
  concurrency testing), seeded, with crashes (`die-before`, `die-after`,
  `lost-answer`) at random calls, possibly more than one per history.

A crash acts as the existing exploration's: the handler dies before a call,
dies after it (the answer lost with the process), or only the answer is lost
(the SDK retries the request). Lambda redelivers what died; `Deployment.settle`
then delivers everything until quiet and the observer (`observe.py`) judges.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ReadTimeoutError

from .harness import LambdaDied, handler_clients

CRASHES = ("die-before", "die-after", "lost-answer")


@dataclass
class Step:
    actor: str
    operation: str
    enabled: tuple[str, ...]
    crash: str | None = None


@dataclass
class Picks:
    """What a strategy decides at each step: who goes, and whether its call crashes."""

    prefix: list[str] = field(default_factory=list)  # exhaustive: the forced picks, then the default
    priorities: dict[str, float] = field(default_factory=dict)  # pct
    changes: set[int] = field(default_factory=set)  # pct: steps where the running actor's priority drops
    crashes: dict[int, str] = field(default_factory=dict)  # step index -> crash kind


class Scheduler:
    """Threads that take turns at AWS calls."""

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.local = threading.local()
        self.parked: dict[str, str] = {}
        self.done: set[str] = set()
        self.turn: str | None = None
        self.crash: dict[str, str] = {}  # actor -> crash kind for the call it is about to make
        self.lose: set[str] = set()
        self.die_after: set[str] = set()
        self.steps: list[Step] = []

    # -- inside an actor's thread -----------------------------------------------------------

    def point(self, operation: str) -> None:
        """Park until the scheduler picks this actor; then act out a crash planned for this call."""
        me = getattr(self.local, "actor", None)
        if me is None:
            return  # the test's own thread (setup, settle, observe): not scheduled
        with self.cv:
            self.parked[me] = operation
            if self.turn == me:
                self.turn = None
            self.cv.notify_all()
            while self.turn != me:
                self.cv.wait()
            del self.parked[me]
            crash = self.crash.pop(me, None)
        if crash == "die-before":
            raise LambdaDied(operation)
        if crash == "die-after":
            self.die_after.add(me)
        elif crash == "lost-answer":
            self.lose.add(me)

    def _before_call(self, event_name: str, **_: Any) -> None:
        self.point(event_name.rsplit(".", 1)[1])

    def _after_call(self, event_name: str, **_: Any) -> None:
        me = getattr(self.local, "actor", None)
        if me is not None and me in self.die_after:
            self.die_after.discard(me)
            raise LambdaDied(event_name.rsplit(".", 1)[1])

    def _send(self, request: Any, **_: Any) -> None:
        # Registered last: moto has answered (the work is done), then the answer is lost; the SDK retries.
        me = getattr(self.local, "actor", None)
        if me is not None and me in self.lose:
            self.lose.discard(me)
            raise ReadTimeoutError(endpoint_url=request.url)

    @contextmanager
    def installed(self) -> Iterator[Scheduler]:
        clients = handler_clients()
        for client in clients:
            client.meta.events.register("before-call", self._before_call)
            client.meta.events.register("after-call", self._after_call)
            client.meta.events.register_last("before-send", self._send)
        try:
            yield self
        finally:
            for client in clients:
                client.meta.events.unregister("before-call", self._before_call)
                client.meta.events.unregister("after-call", self._after_call)
                client.meta.events.unregister("before-send", self._send)

    # -- the test's thread ------------------------------------------------------------------------

    def run(self, actors: Sequence[tuple[str, Callable[[], Any]]], picks: Picks, limit: int = 400) -> list[Step]:
        """Run the actors to their end under `picks`; the steps taken."""
        self.parked, self.done, self.turn, self.steps = {}, set(), None, []
        self.crash, self.lose, self.die_after = {}, set(), set()
        failures: list[BaseException] = []

        def body(name: str, fn: Callable[[], Any]) -> None:
            self.local.actor = name
            try:
                self.point("start")
                fn()
            except LambdaDied:
                pass  # a crash outside a delivery the harness catches: the world acts once, it does not retry
            except BaseException as err:
                failures.append(err)
            finally:
                self.local.actor = None
                with self.cv:
                    self.done.add(name)
                    if self.turn == name:
                        self.turn = None
                    self.cv.notify_all()

        threads = [threading.Thread(target=body, args=actor, daemon=True) for actor in actors]
        for thread in threads:
            thread.start()
        names = [name for name, _ in actors]
        current: str | None = None
        while True:
            with self.cv:
                while not (self.turn is None and all(n in self.parked or n in self.done for n in names)):
                    self.cv.wait()
                enabled = tuple(n for n in names if n in self.parked)
                if not enabled:
                    break
                index = len(self.steps)
                pick = self._pick(picks, index, enabled, current)
                crash = picks.crashes.get(index)
                operation = self.parked[pick]
                if crash is not None and operation != "start" and not operation.startswith("world:"):
                    self.crash[pick] = crash
                else:
                    crash = None
                self.steps.append(Step(pick, operation, enabled, crash))
                current = pick
                self.turn = pick
                self.cv.notify_all()
            if len(self.steps) > limit:
                raise AssertionError(f"more than {limit} steps: a loop that never settles")
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return self.steps

    def _pick(self, picks: Picks, index: int, enabled: tuple[str, ...], current: str | None) -> str:
        if index < len(picks.prefix):
            return picks.prefix[index]
        if picks.priorities:
            if index in picks.changes and current in picks.priorities:
                picks.priorities[current] = -index  # lower than every initial priority
            return max(enabled, key=lambda n: picks.priorities[n])
        return current if current in enabled else enabled[0]


def preemptions(steps: Sequence[Step], upto: int | None = None) -> int:
    """Switches away from an actor that could have gone on."""
    count = 0
    for before, step in zip(steps, steps[1:upto] if upto is not None else steps[1:], strict=False):
        if step.actor != before.actor and before.actor in step.enabled:
            count += 1
    return count


def alternatives(steps: Sequence[Step], prefix: Sequence[str], bound: int) -> list[list[str]]:
    """The schedules that first differ from `steps` after `prefix`, within `bound` preemptions (DFS children)."""
    found = []
    for i in range(len(prefix), len(steps)):
        before = steps[i - 1].actor if i else None
        used = preemptions(steps, i)
        for other in steps[i].enabled:
            if other == steps[i].actor:
                continue
            cost = 1 if before in steps[i].enabled and other != before else 0
            if used + cost <= bound:
                found.append([s.actor for s in steps[:i]] + [other])
    return found


def pct_picks(rng: random.Random, names: Sequence[str], length: int, depth: int, crashes: int) -> Picks:
    """PCT: distinct random priorities, `depth - 1` change points, and up to `crashes` crashes."""
    order = list(names)
    rng.shuffle(order)
    priorities = {name: float(len(order) + i) for i, name in enumerate(order)}
    changes = {rng.randrange(length) for _ in range(depth - 1)} if length else set()
    planned = {rng.randrange(length): rng.choice(CRASHES) for _ in range(rng.randint(0, crashes))} if length else {}
    return Picks(priorities=priorities, changes=changes, crashes=planned)


def explore_exhaustive(run: Callable[[Picks], list[Step]], bound: int) -> Iterator[tuple[list[str], list[Step]]]:
    """Every schedule within `bound` preemptions, each run once: (its picks, its steps)."""
    stack: list[list[str]] = [[]]
    while stack:
        prefix = stack.pop()
        steps = run(Picks(prefix=list(prefix)))
        yield prefix, steps
        stack.extend(reversed(alternatives(steps, prefix, bound)))
