"""Planted bugs: each plants a plausible mistake in a flow, and the scheduler must report a violation.

A test that cannot fail is a defect: these show that the side-by-side
exploration (`test_side_by_side.py`) catches each kind of mistake its
invariants are about. Each plants one bug by monkeypatching the flow and
explores every schedule within one preemption of one small world until a
violation is found.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import pytest

from consentry.service import settings
from consentry.service.aws.chat_store import ObjectVersion
from consentry.service.flows import lifecycle
from consentry.service.flows.enforcer import Enforcer
from consentry.service.policy import Decision, Reason, decision_tags
from consentry.service.records import ChatRecord

from .fidelity import S3Fidelity
from .harness import Deployment, handler_clients
from .schedule import Scheduler
from .sidebyside import first_violation


@pytest.fixture
def scheduler(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler]:
    monkeypatch.setenv("CONSENTRY_THREADS", "1")
    settings.current.cache_clear()
    s = Scheduler()
    with s.installed(), S3Fidelity().installed(handler_clients()[0::3]):
        yield s
    settings.current.cache_clear()


def test_a_purge_by_what_is_stored_now_is_caught(
    deployment: Deployment, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: a deletion's purge removes every version it lists, not only those of the deleted life."""

    def everything(
        versions: Sequence[ObjectVersion], record: ChatRecord, at: datetime, by_life: bool
    ) -> list[ObjectVersion]:
        return list(versions)

    monkeypatch.setattr(lifecycle, "_of_life", everything)
    found = first_violation(deployment, scheduler, "base", ("delete", "write>D"))
    assert found is not None, "a purge that removes a new life went unnoticed"
    assert any("a version of a new life was removed" in p for p in found.problems), found.problems


def test_a_hold_on_the_listed_versions_only_is_caught(
    deployment: Deployment, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: a hold locks the versions it listed, and never looks again after recording itself."""
    monkeypatch.setattr(lifecycle, "hold_every_version", lambda enforcer, user_id, key, on: None)
    found = first_violation(deployment, scheduler, "base", ("hold", "write>D"))
    assert found is not None, "a version written while the hold was placed, left unlocked, went unnoticed"
    assert any("not held" in p for p in found.problems), found.problems


def test_a_retag_of_the_current_version_only_after_a_refused_purge_is_caught(
    deployment: Deployment, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: after a purge a lock partly refused, only the version now current is retagged."""

    def current_only(enforcer: Enforcer, ended: datetime, key: str, versions: Sequence[ObjectVersion]) -> str | None:
        facts = enforcer.chats.head(key)
        if facts is None or facts.version_id is None:
            return None
        deleted = decision_tags(Decision(False, Reason.DELETED, 0, ended), enforcer.policy)
        tags = {**(enforcer.chats.tags(key, facts.version_id) or {}), **deleted}
        enforcer.chats.put_tags(key, tags, facts.version_id)
        return facts.version_id

    monkeypatch.setattr(lifecycle, "retag_survivors", current_only)
    found = first_violation(deployment, scheduler, "two console", ("delete", "write<D"))
    assert found is not None, "an older version of the deleted life left eligible went unnoticed"
    assert any("deleted life tagged eligible" in p for p in found.problems), found.problems
