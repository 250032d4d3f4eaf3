"""The numbers commands report match what happened: holds, erasure status, consent simulations, dead letters.

Each runs on a local deployment of the test's own (`server`), as a user runs
the command, and checks the figure against what S3, the ledger and the
queues hold afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import Result, local

from consentry.local import LocalRuntime
from support import exists, record, set_consent, t, tags

Cli = Callable[..., Result]
CHATS = ("chats/u1/a.json", "code-sessions/u1/s.jsonl")


@pytest.fixture
def world(server: LocalRuntime) -> LocalRuntime:
    """u1 opted in on 2025-09-01 and wrote two chats since."""
    set_consent(server, "u1", "granted", t("2025-09-01"), tier="pro")
    server.put_chat(CHATS[0], at=t("2025-09-10"))
    server.put_chat(CHATS[1], at=t("2025-10-10"))
    server.settle()
    return server


def test_a_hold_on_a_user_with_no_stored_chat_is_an_error_not_a_silent_success(world: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(world), "hold", "place", "--user", "nobody")

    assert result.code == 1
    assert "no stored chat of user 'nobody' in the ledger" in result.err
    entries = json.loads(cli(*local(world), "audit", "--json").out)["entries"]
    assert [(e["command"], e["status"]) for e in entries] == [("hold", "failed")]  # as reported: not done


def test_erase_status_counts_the_held_chats_still_stored_and_release_counts_what_it_released(
    world: LocalRuntime, cli: Cli
) -> None:
    assert cli(*local(world), "hold", "place", "--user", "u1").code == 0
    assert cli(*local(world), "erase", "--user", "u1").code == 0
    assert all(exists(world, key) for key in CHATS)  # the hold keeps them

    status = json.loads(cli(*local(world), "erase", "status", "--user", "u1", "--json").out)
    text = cli(*local(world), "erase", "status", "--user", "u1").out

    assert (status["remaining"], status["held"]) == (2, 2)
    assert "2 chat(s) covered by the latest request are still stored, 2 of them under legal hold" in text

    released = json.loads(cli(*local(world), "hold", "release", "--user", "u1", "--json").out)

    assert released["chats"] == 2
    assert not any(exists(world, key) for key in CHATS)  # released, the erasure removed them
    after = json.loads(cli(*local(world), "erase", "status", "--user", "u1", "--json").out)
    assert (after["remaining"], after["held"]) == (0, 0)
    entries = json.loads(cli(*local(world), "audit", "--json").out)["entries"]
    assert [(e["command"], e["arguments"]["action"], e["changed"]) for e in entries if e["command"] == "hold"] == [
        ("hold", "place", {"chats": 2}),
        ("hold", "release", {"chats": 2}),
    ]


def test_consent_simulate_judges_due_at_once_at_the_changes_instant_not_the_wall_clock(
    world: LocalRuntime, cli: Cli
) -> None:
    early = json.loads(cli(*local(world), "consent", "simulate", "u1", "--denied", "--at", "2025-10-11", "--json").out)
    late = json.loads(cli(*local(world), "consent", "simulate", "u1", "--denied", "--at", "2027-01-01", "--json").out)

    assert early["now"] == early["at"] == "2025-10-11T00:00:00Z"
    assert early["due_at_once"] == 1  # denied, 30 days: a.json (2025-09-10) is due then, s.jsonl (10-10) not yet
    assert late["due_at_once"] == 2  # long after: both are
    assert record(world, "u1", CHATS[0]) is not None and exists(world, CHATS[0])  # nothing written


def dead_letter_queue(rt: LocalRuntime, queue: str) -> str:
    name = rt.env[queue].rsplit("/", 1)[1]
    return str(rt.sqs.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"])


def test_dlq_redrive_keeps_a_letter_that_is_not_json_and_replays_the_rest(world: LocalRuntime, cli: Cli) -> None:
    work_dlq = dead_letter_queue(world, "WORK_QUEUE_URL")
    world.sqs.send_message(QueueUrl=work_dlq, MessageBody=json.dumps({"type": "retag", "user_id": "u1"}))
    world.sqs.send_message(QueueUrl=work_dlq, MessageBody="this is not json")
    world.sqs.send_message(QueueUrl=work_dlq, MessageBody="[1, 2]")

    dry = json.loads(cli(*local(world), "dlq", "redrive", "--dry-run", "--json").out)
    result = cli(*local(world), "dlq", "redrive", "--json")

    assert dry["queues"]["work"] == {"replayed": 1, "dropped": 0, "superseded": 0, "kept": 2}
    assert result.code == 0, result.err
    assert json.loads(result.out)["queues"]["work"] == {"replayed": 1, "dropped": 0, "superseded": 0, "kept": 2}
    left = world.sqs.receive_message(QueueUrl=work_dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert sorted(m["Body"] for m in left) == ["[1, 2]", "this is not json"]


# -- driving a local server from the shell ------------------------------------------------------------------


def test_consent_set_and_chat_events_drive_a_local_server(world: LocalRuntime, cli: Cli) -> None:
    assert tags(world, CHATS[0])["training-eligible"] == "true"

    denied = cli(*local(world), "consent", "set", "u1", "--denied", "--at", "2025-10-20", "--json")
    world.settle()  # the serve loop's part: the consent stream

    assert denied.code == 0, denied.err
    assert json.loads(denied.out)["record"]["version"] == 2
    assert tags(world, CHATS[0])["training-eligible"] == "false"
    reopened = json.loads(cli(*local(world), "chat", "reopen", CHATS[1], "--at", "2025-10-21", "--json").out)
    assert (reopened["event"], reopened["state"], reopened["eligible"]) == ("Chat Reopened", "active", False)
    assert record(world, "u1", CHATS[1]).last_activity == t("2025-10-21")  # type: ignore[union-attr]
    deleted = cli(*local(world), "chat", "delete", CHATS[1], "--at", "2025-10-22")
    assert deleted.code == 0, deleted.err
    assert "Chat Deleted sent for code-sessions/u1/s.jsonl" in deleted.out
    assert record(world, "u1", CHATS[1]) is None or record(world, "u1", CHATS[1]).state != "active"  # type: ignore[union-attr]


def test_consent_set_for_a_new_user_needs_a_tier(world: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(world), "consent", "set", "newbie", "--granted")

    assert result.code == 1 and "give a tier to create one" in result.err


def test_driving_is_refused_where_the_chat_app_and_account_service_own_it(world: LocalRuntime, cli: Cli) -> None:
    from test_cli_place import plain_moto

    with plain_moto("127.0.0.1") as url:
        there = ("--endpoint-url", url, "--prefix", "test")
        consent = cli(*there, "consent", "set", "u1", "--denied")
        chat = cli(*there, "chat", "delete", CHATS[0])

    assert consent.code == 1 and "consent set is for a local `consentry serve` only" in consent.err
    assert chat.code == 1 and "chat delete is for a local `consentry serve` only" in chat.err
    world.settle()
    assert tags(world, CHATS[0])["training-eligible"] == "true" and exists(world, CHATS[0])


# -- plans applied again, reports into a missing folder, one error prefix ------------------------------------


def test_a_plan_applied_again_counts_what_was_removed_as_gone_not_skipped(
    world: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    set_consent(world, "u1", "denied", t("2025-10-15"), tier="pro", version=2)
    world.settle()
    plan = tmp_path / "plan.json"
    assert cli(*local(world), "sweep", "--now", "2026-06-01", "--plan", str(plan)).code == 0

    first = json.loads(cli(*local(world), "sweep", "--apply", str(plan), "--json").out)["summary"]
    again = json.loads(cli(*local(world), "sweep", "--apply", str(plan), "--json").out)["summary"]

    assert (first["removed"], first["gone"], first["skipped"]) == (2, 0, 0)
    assert (again["removed"], again["gone"], again["skipped"]) == (0, 2, 0)
    assert not any(exists(world, key) for key in CHATS)


def test_report_into_a_missing_folder_names_the_folder_before_any_work(
    world: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "nowhere" / "x.html"

    result = cli(*local(world), "report", "--out", str(out))

    assert result.code == 2
    [line] = result.err.splitlines()
    assert line.startswith(f"consentry report: error: --out {out}: the folder {out.parent} does not exist")
    assert not out.parent.exists()


def test_every_error_line_names_its_command(world: LocalRuntime, cli: Cli) -> None:
    usage = cli(*local(world), "explain")  # a usage error
    failed = cli(*local(world), "explain", "chats/nobody/x.json", "--prefix", "other")  # an error
    assert usage.err.startswith("consentry explain: error: ")
    assert failed.code == 1 and failed.err.startswith("consentry explain: error: ")


def test_a_second_sweep_while_one_deletes_refuses_and_reports_nothing_removed(
    world: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    from consentry.cli import sweep as sweep_command
    from consentry.cli.target import connect

    set_consent(world, "u1", "denied", t("2025-10-15"), tier="pro", version=2)
    world.settle()
    assert world.endpoint_url is not None
    with connect(endpoint_url=world.endpoint_url, prefix="test") as target:
        with sweep_command.one_at_a_time(target, "the-first-sweep"):  # a sweep deleting right now
            second = cli(*local(world), "sweep", "--now", "2026-06-01", "--json")
            assert all(exists(world, key) for key in CHATS)
        after = cli(*local(world), "sweep", "--now", "2026-06-01", "--json")  # the lease ended with it

    assert second.code == 1 and second.out == ""
    assert "another sweep is deleting" in second.err and "the-first-sweep" in second.err
    assert json.loads(after.out)["summary"]["removed"] == 2
    statuses = [e["status"] for e in json.loads(cli(*local(world), "audit", "--json").out)["entries"]]
    assert sorted(statuses) == ["done", "failed"]  # as each reported
