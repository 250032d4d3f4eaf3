"""What a function imports at cold start, and the settings that size a page's work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from consentry.service import settings

ROOT = Path(__file__).resolve().parents[2]
# Imported on first use only: other functions' flows, Powertools' batch utilities and event data classes,
# the policy file's parser, the stack's deployment facts.
NOT_AT_IMPORT = (
    "consentry.service.flows.sweep",
    "consentry.service.flows.erasure",
    "consentry.service.flows.fanout",
    "consentry.service.flows.work",
    "consentry.service.deployment",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "tomllib",
)


@pytest.mark.parametrize("function", ["tag_on_write", "worker", "chat_events"])
def test_a_handler_imports_only_what_every_invocation_needs(function: str) -> None:
    code = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "functions" / function, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "consentry.service.handlers" in loaded
    assert sorted(loaded & set(NOT_AT_IMPORT)) == []


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> settings.Settings:
    for name in ("CHAT_BUCKET", "CONSENT_TABLE", "LEDGER_TABLE", "WORK_QUEUE_URL"):
        monkeypatch.setenv(name, "x")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return settings.Settings.from_env()


def test_due_shards_and_range_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    found = _env(monkeypatch, DUE_SHARDS="64", CONSENTRY_RANGE_THREADS="2")
    assert (found.due_shards, found.range_threads) == (64, 2)
    with pytest.raises(settings.SettingsError, match="DUE_SHARDS"):
        _env(monkeypatch, DUE_SHARDS="1001")  # shard names are three digits
