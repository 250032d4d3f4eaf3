"""The figures a run prints at its end: IAM parity, the stack, reliability figures, the exploration table.

`make test` runs the suite on pytest-xdist workers, and a worker holds the figures of the tests it ran.
At the end of its session each worker sends them, as data, to the controller in xdist's `workeroutput`;
the controller merges them (counts add up, an action one worker never called may have been called on
the other, the exploration's flows come from both) and prints one report. Without xdist the one
process does both. Figures are read from the modules that hold them only if a test imported them:
summarizing never starts CDK or moto.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from typing import Any

import pytest

RECEIVED: list[dict[str, Any]] = []  # what each worker sent (on the controller)


def _loaded(name: str) -> Any:
    return sys.modules.get(name)


def collect() -> dict[str, Any]:
    """This process's figures, as JSON-able data."""
    data: dict[str, Any] = {}
    iam, template = _loaded("parity.iam"), _loaded("parity.template")
    if iam is not None and iam.SESSION.runs:
        data["iam"] = {
            "runs": iam.SESSION.runs,
            "granted": {name: sorted(actions) for name, actions in iam.SESSION.granted.items()},
            "called": {name: sorted(actions) for name, actions in iam.SESSION.actions.items()},
            "synth": template.TIMES.get("synth") if template is not None else None,
        }
    synthesis = _loaded("infrastructure.synthesis")
    if synthesis is not None and synthesis.SUMMARY:
        data["infrastructure"] = dict(synthesis.SUMMARY)
    figures = _loaded("reliability.figures")
    if figures is not None and figures.FIGURES.touched:
        data["figures"] = {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(figures.FIGURES).items()}
    exploration = _loaded("reliability.test_exploration")
    if exploration is not None and exploration.TABLE.points:
        data["exploration"] = exploration.TABLE.to_json()
    side = _loaded("reliability.test_side_by_side")
    if side is not None and side.TABLE.rows:
        data["side_by_side"] = side.TABLE.to_json()
    return data


def send(config: pytest.Config) -> None:
    """On a worker: the figures go to the controller."""
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output["consentry"] = json.dumps(collect())


def receive(node: Any) -> None:
    """On the controller: keep what a worker sent."""
    sent = getattr(node, "workeroutput", {}).get("consentry")
    if sent:
        RECEIVED.append(json.loads(sent))


def _iam(parts: list[dict[str, Any]]) -> list[str]:
    granted: dict[str, set[str]] = defaultdict(set)
    called: dict[str, set[str]] = defaultdict(set)
    lines = [f"stack synthesized for parity in {p['synth']:.1f} s (then cached)" for p in parts if p["synth"]]
    for part in parts:
        for name, actions in part["granted"].items():
            granted[name].update(actions)
        for name, actions in part["called"].items():
            called[name].update(actions)
    lines.append(f"{sum(p['runs'] for p in parts)} deployments under the stack's IAM policies")
    for name in sorted(granted):
        idle = sorted(granted[name] - called[name])
        lines.append(f"{name}: granted, not called this session: {', '.join(idle) or '-'}")
    return lines


def _infrastructure(parts: list[dict[str, str]]) -> list[str]:
    return [f"{name}: {value}" for part in parts for name, value in part.items()]


def _figures(parts: list[dict[str, Any]]) -> list[str]:
    from reliability.figures import Figures

    total = Figures()
    for part in parts:
        for name, value in part.items():
            if isinstance(value, dict):
                getattr(total, name).update(value)
            else:
                setattr(total, name, getattr(total, name) + value)
    return total.lines()


def _exploration(parts: list[dict[str, Any]]) -> list[str]:
    from reliability.explore import Table

    table = Table()
    for part in parts:
        table.merge(part)
    return table.lines()


def _side_by_side(parts: list[dict[str, Any]]) -> list[str]:
    from reliability.sidebyside import SideTable

    table = SideTable()
    for part in parts:
        table.merge(part)
    return table.lines()


SECTIONS = (
    ("iam", "IAM parity", _iam),
    ("infrastructure", "infrastructure", _infrastructure),
    ("figures", "reliability figures", _figures),
    ("exploration", "exploration: every flow x call point x crash or interleaved event", _exploration),
    ("side_by_side", "flows side by side: world x actors x schedules x crashes x outcomes", _side_by_side),
)


def print_summary(config: pytest.Config, reporter: pytest.TerminalReporter) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker: the controller prints
    received = RECEIVED or [collect()]
    for key, title, render in SECTIONS:
        parts = [data[key] for data in received if key in data]
        if parts:
            reporter.write_sep("-", title)
            for line in render(parts):
                reporter.write_line(line)
