"""`consentry sweep`: guard rails on deletion, saved plans applied exactly, held chats reported, the worker's hands.

Two worlds: `server` (a moto server of the test's own, reached with
--endpoint-url: the local path, where the local runtime delivers the work
queue) and `runtime` (moto in-process under IAM parity: to the CLI an AWS
account, `--real`, where the plan goes to the work queue and the worker
runs when the test delivers it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import Result, local

from consentry.cli import sweep as sweep_command
from consentry.local import LocalRuntime
from support import exists, record, set_consent, t, versions

REAL = ("--real", "--prefix", "test")
Cli = Callable[..., Result]


def story(rt: LocalRuntime) -> LocalRuntime:
    """u1 opted out long ago (a.json, b.json and a held session of u1 due by 2025-11-20); u2 opted in (c.json)."""
    set_consent(rt, "u1", "denied", t("2025-09-01"), tier="free")
    set_consent(rt, "u2", "granted", t("2025-09-01"), tier="pro")
    rt.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    rt.put_chat("chats/u1/a.json", b"{}\n", at=t("2025-09-11"))  # two versions
    rt.put_chat("chats/u1/b.json", at=t("2025-10-10"))
    rt.put_chat("code-sessions/u1/held.jsonl", at=t("2025-09-12"))
    rt.put_chat("chats/u2/c.json", at=t("2025-10-01"))
    rt.settle()
    rt.chat_event("Legal Hold Placed", {"user_id": "u1", "key": "code-sessions/u1/held.jsonl"}, t("2025-09-20"))
    rt.settle()
    return rt


@pytest.fixture
def served_story(server: LocalRuntime) -> LocalRuntime:
    return story(server)


@pytest.fixture
def real_story(runtime: LocalRuntime) -> LocalRuntime:
    return story(runtime)


# -- a --now later than the clock ----------------------------------------------------------------------


def test_a_future_now_is_refused_on_a_real_account_before_anything_is_asked_of_aws(
    script: Callable[..., Result],
) -> None:
    result = script("--real", "sweep", "--now", "2099-01-01", "--yes")

    assert result.code == 2
    [line] = result.err.splitlines()
    assert line.startswith("consentry sweep: error: --now 2099-01-01T00:00:00Z is later than the clock ("), line
    assert line.endswith(
        "): on a real account the sweep never runs ahead of time, it would delete chats that are not due yet"
    )


def test_a_future_now_is_refused_when_applying_a_plan_made_for_it_too(
    real_story: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert cli(*REAL, "sweep", "--plan", str(plan), "--now", "2099-01-01").code == 0  # planning deletes nothing

    result = cli(*REAL, "sweep", "--apply", str(plan), "--yes")

    assert result.code == 2 and "is later than the clock" in result.err
    assert exists(real_story, "chats/u2/c.json")


def test_a_future_now_is_warned_about_loudly_on_a_local_server(served_story: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(served_story), "sweep", "--now", "2099-01-01")

    assert result.code == 0, result.err
    assert "WARNING: --now 2099-01-01T00:00:00Z is later than the clock" in result.err
    assert "deleted for good (allowed on a local server only)" in result.err
    assert not exists(served_story, "chats/u2/c.json")  # eligible for 5 years, yet due in 2099: gone


# -- what is due, and what a hold keeps ---------------------------------------------------------------


def test_dry_run_lists_every_version_and_the_held_due_chat_it_skips(served_story: LocalRuntime, cli: Cli) -> None:
    text = cli(*local(served_story), "sweep", "--dry-run", "--now", "2025-11-20")
    data = json.loads(cli(*local(served_story), "sweep", "--dry-run", "--now", "2025-11-20", "--json").out)

    assert [(d["key"], len(d["versions"])) for d in data["due"]] == [("chats/u1/a.json", 2), ("chats/u1/b.json", 1)]
    [a, _] = data["due"]
    assert a["bytes"] == sum(v["size"] for v in a["versions"]) == 5  # "{}" then "{}\n"
    assert {v["version_id"] for v in a["versions"]} == {v["VersionId"] for v in versions(served_story, a["key"])}
    assert [h["key"] for h in data["held"]] == ["code-sessions/u1/held.jsonl"]
    assert data["totals"] == {"chats": 2, "versions": 3, "bytes": 7, "held": 1}
    assert "1 due chat(s) under legal hold, skipped (kept until released): code-sessions/u1/held.jsonl" in text.out
    assert exists(served_story, "chats/u1/a.json")


def test_sweep_reports_the_held_due_chat_it_skipped(served_story: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(served_story), "sweep", "--now", "2025-11-20")

    assert result.code == 0, result.err
    assert "2 removed (7 B), 0 already gone, 1 kept under legal hold, 0 taken back, 0 skipped on re-check" in result.out
    assert not exists(served_story, "chats/u1/a.json") and not exists(served_story, "chats/u1/b.json")
    assert exists(served_story, "code-sessions/u1/held.jsonl")
    again = json.loads(cli(*local(served_story), "sweep", "--now", "2025-11-20", "--json").out)
    assert again["results"] == [] and again["summary"]["held"] == 1


# -- --max-delete ----------------------------------------------------------------------------------------


def test_max_delete_stops_before_the_first_deletion(served_story: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(served_story), "sweep", "--now", "2025-11-20", "--max-delete", "1")

    assert result.code == 1
    assert result.err.strip() == (
        "consentry sweep: error: the plan deletes 2 chat(s), more than --max-delete 1: nothing deleted. Review it "
        "(`consentry sweep --plan FILE`), then raise --max-delete if it is right"
    )
    assert exists(served_story, "chats/u1/a.json") and exists(served_story, "chats/u1/b.json")
    assert json.loads(cli(*local(served_story), "audit", "--json").out)["entries"] == []  # nothing to record


def test_a_real_account_has_a_default_maximum(
    real_story: LocalRuntime, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_command, "REAL_MAX_DELETE", 1)

    result = cli(*REAL, "sweep", "--now", "2025-11-20", "--yes")

    assert result.code == 1 and "more than --max-delete 1: nothing deleted" in result.err
    assert exists(real_story, "chats/u1/a.json")


# -- a saved plan, applied exactly ---------------------------------------------------------------------------


def test_plan_then_apply_deletes_exactly_the_plan_and_says_what_it_skipped(
    served_story: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    rt = served_story
    rt.put_chat("chats/u1/d.json", at=t("2025-09-15"))
    rt.put_chat("chats/u1/e.json", at=t("2025-09-16"))
    rt.put_chat("chats/u1/f.json", at=t("2025-09-17"))
    rt.settle()
    plan = tmp_path / "plan.json"
    made = cli(*local(rt), "sweep", "--now", "2025-11-20", "--plan", str(plan))
    assert made.code == 0 and f"plan written to {plan}" in made.out
    planned = json.loads(plan.read_text())
    assert [d["key"] for d in planned["due"]] == [
        "chats/u1/a.json",
        "chats/u1/d.json",
        "chats/u1/e.json",
        "chats/u1/f.json",
        "chats/u1/b.json",
    ]
    # Between the plan and its application: a reopen, a hold, a version no event announced (a lost notification).
    rt.chat_event("Chat Reopened", {"user_id": "u1", "key": "chats/u1/d.json"}, t("2025-11-21"))
    rt.chat_event("Legal Hold Placed", {"user_id": "u1", "key": "chats/u1/e.json"}, t("2025-11-21"))
    rt.settle()
    rt.s3.put_object(Bucket=rt.bucket, Key="chats/u1/f.json", Body=b"{}")
    rt.sqs.purge_queue(QueueUrl=rt.env["WRITE_QUEUE_URL"])
    rt.put_chat("chats/u1/g.json", at=t("2025-09-18"))  # due too, but not in the plan
    rt.settle()

    result = cli(*local(rt), "sweep", "--apply", str(plan), "--json")

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {r["key"]: r["result"] for r in data["results"]} == {
        "chats/u1/a.json": "removed",
        "chats/u1/d.json": "skipped:not-due",
        "chats/u1/e.json": "skipped:held",
        "chats/u1/f.json": "skipped:versions-changed",
        "chats/u1/b.json": "removed",
    }
    assert data["summary"]["removed"] == 2 and data["summary"]["skipped"] == 2 and data["summary"]["held"] == 2
    assert [exists(rt, f"chats/u1/{n}.json") for n in "abdefg"] == [False, False, True, True, True, True]
    text = cli(*local(rt), "sweep", "--apply", str(plan)).out  # applied again: nothing left to do, and said so
    assert "skipped: removed since the plan" in text and "skipped: its versions changed since the plan" in text
    moved = cli(*local(rt), "sweep", "--apply", str(plan), "--now", "2030-01-01")  # a plan keeps its instant
    assert moved.code == 2 and "--now with --apply" in moved.err


def test_apply_refuses_a_plan_of_another_deployment(served_story: LocalRuntime, cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    cli(*local(served_story), "sweep", "--now", "2025-11-20", "--plan", str(plan))
    data = json.loads(plan.read_text())
    plan.write_text(json.dumps({**data, "bucket": "prod-chat-logs"}))

    result = cli(*local(served_story), "sweep", "--apply", str(plan))

    assert result.code == 2
    assert "was planned for bucket 'prod-chat-logs'" in result.err and "check --prefix" in result.err
    not_a_plan = tmp_path / "other.json"
    not_a_plan.write_text("{}")
    assert "is not a sweep plan" in cli(*local(served_story), "sweep", "--apply", str(not_a_plan)).err


def test_apply_refuses_a_plan_older_than_a_day(served_story: LocalRuntime, cli: Cli, tmp_path: Path) -> None:
    """A plan names users and chats in the clear: it is applied soon or made again, never kept (docs/privacy.md)."""
    plan = tmp_path / "plan.json"
    cli(*local(served_story), "sweep", "--now", "2025-11-20", "--plan", str(plan))
    data = json.loads(plan.read_text())
    plan.write_text(json.dumps({**data, "created_at": "2020-01-01T00:00:00Z"}))

    result = cli(*local(served_story), "sweep", "--apply", str(plan))

    assert result.code == 2
    assert "more than 1 day ago" in result.err and "make a new one" in result.err
    assert exists(served_story, data["due"][0]["key"])  # nothing deleted


# -- on a real account: the worker deletes, never the operator ---------------------------------------------------


def test_on_a_real_account_the_plan_goes_to_the_worker_signed_by_an_operator_who_cannot_delete(
    real_story: LocalRuntime, operator: str, cli: Cli, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert cli(*REAL, "sweep", "--now", "2025-11-20", "--plan", str(plan)).code == 0

    result = cli(*REAL, "sweep", "--apply", str(plan), "--yes", "--json")

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "queued"
    assert {r["result"] for r in data["results"]} == {"pending"}
    assert exists(real_story, "chats/u1/a.json")  # handed over: nothing deleted by the operator's credentials
    real_story.settle()  # the worker's turn (under its own IAM identity)

    assert not exists(real_story, "chats/u1/a.json") and not exists(real_story, "chats/u1/b.json")
    removed = record(real_story, "u1", "chats/u1/a.json")
    assert removed is not None and removed.state == "removed"
    entry = json.loads(cli(*REAL, "audit", "--id", data["audit_id"], "--json").out)
    assert entry["caller"] == operator
    assert entry["pages"] == {"0": {"removed": 2, "not_removed": {}}}


def test_wait_follows_the_worker_until_its_results_are_in(
    real_story: LocalRuntime, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_command, "pause", lambda seconds: real_story.settle())  # the worker, between two looks

    result = cli(*REAL, "sweep", "--now", "2025-11-20", "--yes", "--wait", "600")

    assert result.code == 0, result.err
    assert "2 removed (7 B), 0 already gone, 1 kept under legal hold" in result.out


def test_a_real_account_needs_yes(real_story: LocalRuntime, cli: Cli) -> None:
    result = cli(*REAL, "sweep", "--now", "2025-11-20")

    assert result.code == 1 and "add --yes" in result.err
    assert exists(real_story, "chats/u1/a.json")


def test_the_plan_is_made_at_the_clock_by_default(served_story: LocalRuntime, cli: Cli) -> None:
    data = json.loads(cli(*local(served_story), "sweep", "--dry-run", "--json").out)

    assert abs(datetime.fromisoformat(data["now"]).timestamp() - datetime.now(UTC).timestamp()) < 600
    assert len(data["due"]) == 2  # 2025's chats of an opted-out user are long due by the clock


def test_every_skip_the_sweep_flow_reports_has_a_label_in_the_table() -> None:
    from consentry.cli.sweep import SKIPPED
    from consentry.service.flows import lifecycle, sweep

    sources = "".join(Path(module.__file__ or "").read_text() for module in (sweep, lifecycle))
    reported = set(re.findall(r"\"(skipped:[a-z-]+)\"", sources))
    assert reported and reported <= set(SKIPPED), reported - set(SKIPPED)
