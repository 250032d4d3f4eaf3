"""`--json` on every command: one JSON document on stdout, the same types everywhere.

Integers are JSON integers (never "1"), instants are `YYYY-MM-DDTHH:MM:SSZ`,
and a command given `--out FILE` still prints its JSON on stdout.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import SCRIPT, Result, local

from consentry.local import LocalRuntime, free_port
from support import set_consent, t

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
DIGITS = re.compile(r"^-?\d+$")


def problems(value: Any, path: str = "$") -> Iterator[str]:
    """Values whose type is not what the README promises: numbers as text, instants in another form.

    S3's tags are text in S3 (`retention-days` = "30"): `s3_tags` shows them as S3 holds them; an AWS
    account id is text (12 digits, leading zeros kept).
    """
    if isinstance(value, dict):
        for name, item in value.items():
            yield from problems(item, f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from problems(item, f"{path}[{i}]")
    elif isinstance(value, str):
        if DIGITS.match(value) and not path.endswith(("version_id", "key", "account")) and ".s3_tags." not in path:
            yield f"{path}: a number as text: {value!r}"
        if LOOKS_LIKE_A_TIME.match(value) and not INSTANT.match(value) and "#" not in value:
            yield f"{path}: an instant not in the ...Z form: {value!r}"


def document(result: Result) -> Any:
    assert result.code in (0, 3), result
    data = json.loads(result.out)  # one document, nothing else on stdout
    found = list(problems(data))
    assert not found, found
    return data


@pytest.fixture
def world(server: LocalRuntime) -> LocalRuntime:
    set_consent(server, "u1", "granted", t("2025-09-01"), tier="pro")
    set_consent(server, "u2", "denied", t("2025-09-01"), tier="free", version=3)
    server.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    server.put_chat("chats/u2/b.json", at=t("2025-09-10"))
    server.put_chat("chats/u2/c.json", at=t("2025-10-10"))
    server.settle()
    set_consent(server, "u1", "denied", t("2025-10-01"), tier="pro", version=2)  # a retag in the history
    server.settle()
    return server


def test_every_command_prints_one_json_document_with_consistent_types(
    world: LocalRuntime, cli: Callable[..., Result], tmp_path: Path
) -> None:
    at = local(world)
    explained = document(cli(*at, "explain", "chats/u1/a.json", "--json"))
    assert explained["consent_version"] == 2 and isinstance(explained["retention_days"], int)
    retag = [h for h in explained["history"] if h["event"] == "retag"]
    assert retag and retag[0]["at"] == "2025-10-01T00:00:00Z"  # a retag row has its time (the consent change)
    assert [h["consent_version"] for h in explained["history"]] == [1, 2]
    document(cli(*at, "explain", "--user", "u2", "--json"))
    document(cli(*at, "consent", "show", "u2", "--json"))
    document(cli(*at, "consent", "simulate", "u2", "--granted", "--json"))
    document(cli(*at, "sweep", "--dry-run", "--now", "2025-11-20", "--json"))
    planned = document(cli(*at, "sweep", "--now", "2025-11-20", "--plan", str(tmp_path / "plan.json"), "--json"))
    assert planned["file"] == str(tmp_path / "plan.json") and planned["totals"]["chats"] == 3
    swept = document(cli(*at, "sweep", "--apply", str(tmp_path / "plan.json"), "--json"))
    assert swept["summary"]["removed"] == 3 and isinstance(swept["summary"]["bytes_removed"], int)
    document(cli(*at, "backfill", "--dry-run", "--json"))
    manifest = document(cli(*at, "backfill", "--manifest", str(tmp_path / "m.csv"), "--json"))
    assert manifest["rows"] == 0 and (tmp_path / "m.csv").exists()  # --out style: the file, and JSON on stdout
    document(cli("policy", "validate", "--json"))
    report = document(cli(*at, "report", "--out", str(tmp_path / "r.html"), "--json", "--now", "2025-11-21"))
    assert report["file"] == str(tmp_path / "r.html") and isinstance(report["objects"], int)
    snap = document(cli(*at, "snapshot", "--out", str(tmp_path / "snap.csv"), "--json"))
    document(cli(*at, "snapshot", "verify", snap["csv"], "--json"))
    world.put_chat("chats/u1/d.json", at=t("2025-11-01"))
    world.settle()
    document(cli(*at, "hold", "place", "chats/u1/d.json", "--json"))
    document(cli(*at, "erase", "--user", "u1", "--json"))
    document(cli(*at, "erase", "status", "--user", "u1", "--json"))
    document(cli(*at, "retag", "--all", "--json"))
    document(cli(*at, "dlq", "list", "--json"))
    document(cli(*at, "dlq", "redrive", "--dry-run", "--json"))
    audit = document(cli(*at, "audit", "--json"))
    assert [e["command"] for e in audit["entries"]] == ["sweep", "hold", "erase", "retag"]
    document(cli(*at, "audit", "--id", audit["entries"][0]["id"], "--json"))


def test_demo_json(script: Callable[..., Result]) -> None:
    data = document(script("demo", "--json"))  # a process of its own: the demo's moto outlives its server

    assert [step["title"] for step in data["steps"]][:2] == ["Writes", "A new user, opted in by default"]
    assert data["summary"]["chat_objects"] == 38 and isinstance(data["summary"]["delivered"]["work_messages"], int)
    deleted = next(s for s in data["steps"] if s["title"] == "Deletion")
    assert deleted["at"] == "2025-11-18T12:00:00Z"
    assert [c["change"] for c in deleted["chats"]] == ["removed: every version"]


def test_serve_json_is_one_object_per_line() -> None:
    port = free_port()
    process = subprocess.Popen(
        [SCRIPT, "serve", "--json", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "ready":
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    events += [json.loads(line) for line in rest.splitlines()]

    names = [e["event"] for e in events]
    assert names[:2] == ["listening", "ready"] and names[-1] == "stopped"
    assert set(names[2:-1]) <= {"delivered"}  # S3's test notification of the new bucket, if it came in time
    assert events[0]["url"] == f"http://127.0.0.1:{port}" and events[1]["poll_seconds"] == 0.5
