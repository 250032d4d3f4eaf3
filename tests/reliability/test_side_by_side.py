"""Flows side by side: every pair of the catalogue under the scheduler, judged per version.

See `schedule.py` (the scheduler), `sidebyside.py` (worlds, actors, the
table) and `observe.py` (the observer and the invariants). The CI profile
runs a fixed set: every schedule within two preemptions of the two pairs of
the issue's examples (a deletion and a write after it; a write before it
and the deletion under a console hold) and of a hold beside its release,
and within one of a hold beside a write, then one seeded random (PCT)
schedule, with up to two crashes, of every pair of the catalogue in each
world. `CONSENTRY_EXPLORE=nightly` runs
twenty random schedules per pair and world and four more pairs
exhaustively. One table is printed at the end of the run (tests/summaries.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations_with_replacement

import pytest

from consentry.service import settings

from .fidelity import S3Fidelity
from .harness import Deployment, handler_clients
from .schedule import Scheduler
from .sidebyside import ACTORS, SCALE, WORLDS, SideTable, Starts, exhaustive, pct

pytestmark = pytest.mark.long  # minutes: collected first (tests/conftest.py)

TABLE = SideTable()
PAIRS = list(combinations_with_replacement(ACTORS, 2))
# Small worlds, every schedule within `bound` preemptions: the pairs that meet on one key's versions.
EXHAUSTIVE = [
    ("base", ("delete", "write>D"), 2),
    ("console", ("write<D", "delete"), 2),
    ("base", ("hold", "write>D"), 1 if SCALE == 1 else 2),
    ("base", ("hold", "release"), 2),
]
if SCALE > 1:
    EXHAUSTIVE += [
        ("held", ("delete", "write>D"), 2),
        ("two console", ("delete", "write<D"), 2),
        ("base", ("erasure", "write>D"), 2),
        ("base", ("release", "write<D"), 2),
    ]
SEEDS = range(SCALE)  # random schedules per pair and world: 1 in CI, 20 nightly


@pytest.fixture
def scheduler(deployment: Deployment, two_due_shards: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler]:
    monkeypatch.setenv("CONSENTRY_THREADS", "1")  # one call at a time: a schedule names the same calls each run
    settings.current.cache_clear()
    s = Scheduler()
    with s.installed(), S3Fidelity().installed(handler_clients()[0::3]):
        yield s
    settings.current.cache_clear()


def _check(results: list) -> None:  # type: ignore[type-arg]
    bad = [r for r in results if r.problems]
    assert not bad, f"{len(bad)} of {len(results)} histories:\n" + "\n".join(r.describe() for r in bad[:8])


@pytest.mark.parametrize(
    ("world", "actors", "bound"), EXHAUSTIVE, ids=lambda v: "+".join(v) if isinstance(v, tuple) else str(v)
)
def test_every_schedule_within_two_preemptions(
    deployment: Deployment, scheduler: Scheduler, world: str, actors: tuple[str, ...], bound: int
) -> None:
    results = []
    for result in exhaustive(deployment, scheduler, world, actors, bound=bound, starts={}):
        TABLE.add(result, "exhaustive")
        results.append(result)
    _check(results)


@pytest.mark.parametrize("world", list(WORLDS))
def test_random_schedules_of_every_pair(deployment: Deployment, scheduler: Scheduler, world: str) -> None:
    results = []
    starts: Starts = {}  # the world set up once, put back for every pair and seed
    for n, actors in enumerate(PAIRS):
        for seed in SEEDS:
            result = pct(deployment, scheduler, world, actors, seed=1000 * n + seed, starts=starts)
            TABLE.add(result, "pct")
            results.append(result)
    _check(results)
