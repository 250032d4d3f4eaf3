"""The entry points as Lambda runs them: what a sweep's heartbeat counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consentry.local import LocalRuntime
from consentry.service.flows import sweep
from support import set_consent, t


def emitted(printed: str, name: str) -> list[float]:
    """Every value of metric `name` in the EMF documents the handlers printed."""
    values: list[float] = []
    for line in printed.splitlines():
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "_aws" in document and name in document:
            found = document[name]
            values += found if isinstance(found, list) else [found]
    return values


def test_the_heartbeat_counts_a_sweep_that_queued_its_shards_once(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    set_consent(runtime, "u1", "denied", t("2025-09-01"))
    runtime.put_chat("chats/u1/c1.json", at=t("2025-10-01"))
    runtime.settle()
    capsys.readouterr()
    summary = runtime.sweep(t("2025-12-01"))
    assert summary["shards"] > 0
    assert emitted(capsys.readouterr().out, "SweepStarted") == [1]


def test_a_sweep_that_raises_emits_no_heartbeat(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessageBatch")

    monkeypatch.setattr(sweep, "start_sweep", throttled)
    capsys.readouterr()
    with pytest.raises(Exception, match="ThrottlingException"):
        runtime.sweep(t("2025-12-01"))
    assert emitted(capsys.readouterr().out, "SweepStarted") == []
