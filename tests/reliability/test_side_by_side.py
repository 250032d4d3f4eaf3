"""Flows side by side: every pair of the catalogue under the scheduler, judged per version.

See `schedule.py` (the scheduler), `sidebyside.py` (worlds, actors, the
table) and `observe.py` (the observer and the invariants). The CI profile
runs a fixed set: every schedule within two preemptions of the pairs whose
actors touch one another's versions, and seeded random (PCT) schedules with
crashes for every pair in every world; `CONSENTRY_EXPLORE=nightly` runs
twenty times as many random schedules. One table is printed at the end of
the run (tests/summaries.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import combinations_with_replacement

import pytest

from consentry import settings

from .fidelity import S3Fidelity
from .harness import Deployment, handler_clients
from .schedule import Scheduler
from .sidebyside import ACTORS, SCALE, WORLDS, SideTable, exhaustive, pct

TABLE = SideTable()
PAIRS = list(combinations_with_replacement(ACTORS, 2))
EXHAUSTIVE = [  # small worlds, every schedule within two preemptions
    ("base", ("delete", "write>D")),
    ("console", ("write<D", "delete")),
    ("base", ("hold", "write>D")),
]
SEEDS = range(2 * SCALE)
BOUND = int(os.environ.get("CONSENTRY_BOUND", "2"))


@pytest.fixture
def scheduler(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler]:
    monkeypatch.setenv("CONSENTRY_THREADS", "1")  # one call at a time: a schedule names the same calls each run
    monkeypatch.setenv("DUE_SHARDS", "2")
    settings.current.cache_clear()
    s = Scheduler()
    with s.installed(), S3Fidelity().installed(handler_clients()[0::3]):
        yield s
    settings.current.cache_clear()


def _check(results: list) -> None:  # type: ignore[type-arg]
    bad = [r for r in results if r.problems]
    assert not bad, f"{len(bad)} of {len(results)} histories:\n" + "\n".join(r.describe() for r in bad[:8])


@pytest.mark.parametrize(("world", "actors"), EXHAUSTIVE, ids=lambda v: v if isinstance(v, str) else "+".join(v))
def test_every_schedule_within_two_preemptions(
    deployment: Deployment, scheduler: Scheduler, world: str, actors: tuple[str, ...]
) -> None:
    results = []
    for result in exhaustive(deployment, scheduler, world, actors, bound=BOUND):
        TABLE.add(result, "exhaustive")
        results.append(result)
    _check(results)


@pytest.mark.parametrize("world", list(WORLDS))
def test_random_schedules_of_every_pair(deployment: Deployment, scheduler: Scheduler, world: str) -> None:
    results = []
    for n, actors in enumerate(PAIRS):
        for seed in SEEDS:
            result = pct(deployment, scheduler, world, actors, seed=1000 * n + seed)
            TABLE.add(result, "pct")
            results.append(result)
    _check(results)
