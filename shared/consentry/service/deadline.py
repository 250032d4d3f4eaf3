"""The invocation's deadline: no AWS call, and no new piece of work, starts without the time to finish it.

Lambda stops a function at its timeout, wherever it is; the batch then comes
back whole, and its innocent records count a receive towards the DLQ. So the
handler sets the deadline of its invocation (`running(context)`), a botocore
hook refuses to start a request that the remaining time cannot cover (connect
plus read timeout), and the batch handlers stop taking records when the
remaining time will not cover the next one: the rest go back to the queue.

Stopping before a call is a crash at that point, which every flow survives
(its retry finishes the work: tests/reliability/test_exploration.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from consentry.service.observability import count


class OutOfTime(Exception):
    """Not enough of the invocation is left for the next call or step."""


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


MIN_STEP_SECONDS = 3.0  # a record is not started with less than this left
STEP_MARGIN = 2.0  # nor with less than twice the longest record so far in this invocation

_current: Deadline | None = None  # one invocation at a time per process (Lambda's model)


class Deadline:
    def __init__(self, context: RemainingTime) -> None:
        self.context = context
        self.longest_step = 0.0

    def remaining(self) -> float:
        return self.context.get_remaining_time_in_millis() / 1000

    def ensure(self, seconds: float, what: str) -> None:
        left = self.remaining()
        if left < seconds:
            raise OutOfTime(f"{what}: {left:.1f} s left, {seconds:.1f} s needed")

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """One record (or chunk) of a batch: refused when it may not finish, timed to size the next."""
        self.ensure(max(MIN_STEP_SECONDS, STEP_MARGIN * self.longest_step), what)
        started = time.monotonic()
        try:
            yield
        finally:
            self.longest_step = max(self.longest_step, time.monotonic() - started)


@contextmanager
def running(context: Any) -> Iterator[Deadline | None]:
    """The deadline of this invocation, for the call hook and the batch loops (None: no context given)."""
    global _current
    previous = _current
    _current = Deadline(context) if hasattr(context, "get_remaining_time_in_millis") else None
    try:
        yield _current
    finally:
        _current = previous


def current() -> Deadline | None:
    return _current


def refuse_late_calls(call_budget: float) -> Any:
    """A botocore `before-send` hook: refuse a request (each retry attempt too) that may outlive the invocation."""

    def hook(**_: Any) -> None:
        deadline = _current
        if deadline is not None and deadline.remaining() < call_budget:
            count("DeadlineStops")
            raise OutOfTime(f"an AWS request needs up to {call_budget:.0f} s, {deadline.remaining():.1f} s left")

    return hook
