"""Branches of one run, each taken in a child process (`os.fork`): the moment they share is reached once.

A branch point is a moment in the middle of a run: a world set up, say, or
a handler about to make its k-th AWS call. `split()` forks there. The child
is the whole process as it was at that moment (moto's backends, the
handler's stack, the queues), takes its branch, runs the history to its
end, judges it and sends a JSON answer back (`end`); the parent waits for
it and goes on from the very same moment, untouched by anything the child
did. Nothing is replayed or written back, so a branch starts from the state
its prefix really left (version ids and all), for the price of a fork
(about 12 ms here) instead of a reset, a setup and the prefix's calls.

A child never returns to pytest: `end` leaves the process with `os._exit`,
and `guard()` turns anything a child raises into an answer the parent
raises (`BranchFailed`; a child that hangs is ended by an alarm, and its
parent raises that too). What IAM parity (tests/parity/iam.py) noted of the
child's calls, the actions called and the refusals, comes back with the
answer: the parent reports them, and fails the test on a refusal, as if it
had made the calls. POSIX only (the suite runs on Linux).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from parity.iam import ACTIVE, SESSION

BRANCH_SECONDS = 600  # a safety net for a deadlock, far above any branch (a fraction of a second)


class BranchFailed(AssertionError):
    """A child raised: its traceback, raised again in the parent."""


class Branches:
    def __init__(self) -> None:
        self._answer_to: int | None = None  # in a child: the pipe to its parent
        self.forks = 0

    @property
    def in_child(self) -> bool:
        return self._answer_to is not None

    def split(self, label: str) -> Any:
        """In the parent: the child's answer, once it has ended. In the child: None (take the branch)."""
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            self._answer_to = write
            signal.alarm(BRANCH_SECONDS)  # a branch that hangs ends (SIGALRM): its parent reports it
            return None
        self.forks += 1
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not data:
            raise BranchFailed(f"branch {label!r} ended without an answer (wait status {status})")
        answer = json.loads(data)
        _parity_noted(answer.get("parity"))
        if "error" in answer:
            raise BranchFailed(f"branch {label!r} raised:\n{answer['error']}")
        return answer["answer"]

    def end(self, answer: Any) -> NoReturn:
        """In a child: send `answer` (never None: None is what `split` returns to the child) to the parent
        and leave the process (no exit handlers, no pytest)."""
        assert answer is not None, "None is the child's own return of split()"
        self._send({"answer": answer})

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Whatever a child raises in the block is sent to its parent, which raises it; a parent's raises."""
        try:
            yield
        except BaseException:
            if not self.in_child:
                raise
            self._send({"error": traceback.format_exc()})

    def _send(self, message: dict[str, Any]) -> NoReturn:
        assert self._answer_to is not None, "only a child ends"
        try:
            message["parity"] = _parity_seen()
            with os.fdopen(self._answer_to, "wb") as pipe:
                pipe.write(json.dumps(message, default=str).encode())
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def _parity_seen() -> dict[str, Any] | None:
    """In a child: the actions its deployment under IAM parity called, and what IAM refused (None: no parity)."""
    if not ACTIVE:
        return None
    refused = ACTIVE[-1].problems()  # notes each call's actions in SESSION
    return {"refused": refused, "actions": {name: sorted(got) for name, got in SESSION.actions.items()}}


def _parity_noted(seen: dict[str, Any] | None) -> None:
    """In the parent: a child's calls, as if made here (the end of the test reports and fails on refusals)."""
    if seen is None or not ACTIVE:
        return
    ACTIVE[-1].recorder.refused.extend(seen["refused"])
    for name, got in seen["actions"].items():
        SESSION.actions[name].update(got)
