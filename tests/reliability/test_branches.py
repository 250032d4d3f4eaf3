"""The branches of the exploration (branches.py): what a child finds reaches its parent, and so does its end."""

from __future__ import annotations

import os

import pytest
from parity.iam import ACTIVE

from .branches import Branches, BranchFailed
from .harness import Deployment


def test_a_child_answers_and_its_state_stays_its_own() -> None:
    b = Branches()
    seen = ["parent"]
    answer = b.split("ok")
    if answer is None:
        with b.guard():
            seen.append("child")
            b.end(seen)
    assert answer == ["parent", "child"]
    assert seen == ["parent"]  # what the child did is not the parent's
    assert b.forks == 1 and not b.in_child


def test_what_a_child_raises_is_raised_in_the_parent() -> None:
    b = Branches()
    with pytest.raises(BranchFailed, match="ValueError: lost in the branch"):
        if b.split("raises") is None:
            with b.guard():
                raise ValueError("lost in the branch")


def test_a_child_that_ends_without_answering_is_a_failure() -> None:
    b = Branches()
    with pytest.raises(BranchFailed, match="ended without an answer"):
        if b.split("silent") is None:
            os._exit(3)


def test_what_iam_refused_a_child_is_the_parents_to_report(deployment: Deployment) -> None:
    b = Branches()
    if b.split("refused") is None:
        with b.guard():
            ACTIVE[-1].recorder.refused.append("worker: a refusal planted in the child")
            b.end("answered")
    noted = ACTIVE[-1].problems()  # what the test's end would fail on (tests/conftest.py)
    assert noted == ["worker: a refusal planted in the child"]
