"""Safety at every call point: each flow crashed, answered late, or overtaken at each of its AWS calls.

See `explore.py` for what is generated and how it is judged. The table it
prints (pytest's terminal summary) gives flows x call points x interleaved
events x outcomes; every case is a history judged by the model, and the
cases the first review found by hand (an opt-out under a console hold met by
a sweep, a deleted held chat whose retry trusted the ledger, a reopen or a
hold between the sweep's check and its delete, stale hold events) are among
those generated here, not added by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consentry.service import settings

from .explore import CRASHES, EVENTS, FLOWS, CallPoints, Explorer, Flow, Table, first_destructive
from .harness import Deployment

pytestmark = pytest.mark.long  # minutes: collected first (tests/conftest.py)

TABLE = Table()


@pytest.fixture
def explorer(deployment: Deployment, two_due_shards: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Explorer]:
    # One call at a time: a call's index must name the same call in every run.
    monkeypatch.setenv("CONSENTRY_THREADS", "1")
    settings.current.cache_clear()
    points = CallPoints()
    with points.installed():
        yield Explorer(deployment, points)
    settings.current.cache_clear()


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name.replace(" ", "-"))
def test_every_call_point_of_the_flow_keeps_the_invariants(explorer: Explorer, flow: Flow) -> None:
    calls = explorer.calls_of(flow)
    assert calls, f"{flow.name}: no AWS call counted"
    TABLE.points[flow.name] = calls
    destructive = first_destructive(calls)
    kinds = [(kind, None) for kind in CRASHES] + [(f"E={e.name}", e) for e in EVENTS]
    violations = []
    for k, operation in enumerate(calls, start=1):
        for kind, event in kinds:
            case = explorer.run(flow, k, operation, kind, event, destructive)
            TABLE.outcomes[(flow.name, "violation" if case.problem else case.outcome)] += 1
            TABLE.kinds[kind] += 1
            if case.problem:
                violations.append(case)
                TABLE.violations.append(case)
    assert not violations, "\n".join(
        f"{v.flow} call {v.point} ({v.operation}) {v.kind}: {v.problem}" for v in violations[:20]
    )
