"""Synthesizes the stack once per test session in each mode: offline, no Docker, no layer bundling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .synthesis import ATTACH_CONTEXT, SUMMARY, Synth, synthesize


@pytest.fixture(scope="session")
def created(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    synth = synthesize(tmp_path_factory.mktemp("create"), {})
    SUMMARY["synth (create mode, first: includes jsii start-up)"] = f"{synth.seconds:.1f} s"
    return synth


@pytest.fixture(scope="session")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    synth = synthesize(tmp_path_factory.mktemp("attach"), ATTACH_CONTEXT)
    SUMMARY["synth (attach mode)"] = f"{synth.seconds:.1f} s"
    return synth


@pytest.fixture(params=["created", "attached"], scope="session")
def each_mode(request: pytest.FixtureRequest) -> Iterator[Synth]:
    yield request.getfixturevalue(request.param)
