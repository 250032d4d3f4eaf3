"""The operations people need: consent show/simulate, holds, erasure, dead letters, retag --all, the audit trail.

Each command runs as a user runs it, on a deployment of the test's own: a
`server` (the local path: the local runtime plays Lambda) or, for the
real-account path, `runtime` with `--real` (moto in-process under IAM parity:
chat events invoke the chat_events function on moto's Lambda, work goes to
the work queue; `operator` signs the CLI's calls as a role that cannot tag,
delete or lock a chat).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import Result, local

from consentry.local import LocalRuntime
from consentry.service.policy import format_instant
from support import eligible, exists, record, set_consent, t, tags

REAL = ("--real", "--prefix", "test")
BUNDLED = Path(__file__).parents[2] / "shared/consentry/service/policies/consumer-terms-2025.toml"
Cli = Callable[..., Result]


def story(rt: LocalRuntime) -> LocalRuntime:
    """u1 opted in on 2025-09-01 and wrote two chats since; u2 never answered."""
    set_consent(rt, "u1", "granted", t("2025-09-01"), tier="pro")
    set_consent(rt, "u2", "pending", None, tier="free")
    rt.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    rt.put_chat("code-sessions/u1/s.jsonl", at=t("2025-10-10"))
    rt.put_chat("chats/u2/c.json", at=t("2025-10-01"))
    rt.settle()
    return rt


@pytest.fixture
def world(server: LocalRuntime) -> LocalRuntime:
    return story(server)


@pytest.fixture
def real_world(runtime: LocalRuntime) -> LocalRuntime:
    return story(runtime)


# -- consent -----------------------------------------------------------------------------------


def test_consent_show(world: LocalRuntime, cli: Cli) -> None:
    data = json.loads(cli(*local(world), "consent", "show", "u1", "--json").out)

    assert data["consent"]["training_consent"] == "granted" and data["consent"]["version"] == 1
    assert (data["chats"], data["eligible"], data["not_eligible"]) == (2, 2, 0)
    assert data["by_reason"] == {"consent-granted": 2}


def test_consent_simulate_denied_lists_what_would_change_and_writes_nothing(world: LocalRuntime, cli: Cli) -> None:
    before = world.dynamodb.scan(TableName=world.env["LEDGER_TABLE"])["Items"]

    result = cli(*local(world), "consent", "simulate", "u1", "--denied", "--at", "2025-11-01T00:00:00Z", "--json")

    data = json.loads(result.out)
    assert data["written"] is False
    assert data["consent_after"]["training_consent"] == "denied" and data["consent_after"]["version"] == 2
    assert data["changed"] == 2 and data["stop_being_eligible"] == 2
    change = {c["key"]: c for c in data["changes"]}["chats/u1/a.json"]
    assert (change["reason_before"], change["reason_after"]) == ("consent-granted", "consent-denied")
    assert change["expires_at_after"] == "2025-10-10T00:00:00Z" and change["due_after"] is True
    assert world.dynamodb.scan(TableName=world.env["LEDGER_TABLE"])["Items"] == before
    assert eligible(world, "chats/u1/a.json")
    text = cli(*local(world), "consent", "simulate", "u1", "--denied", "--at", "2025-11-01T00:00:00Z").out
    assert "2 of 2 stored chat(s) would change: 2 would stop being eligible" in text and "(nothing written)" in text


def test_consent_simulate_a_grant_and_a_tier(world: LocalRuntime, cli: Cli) -> None:
    granted = json.loads(
        cli(*local(world), "consent", "simulate", "u2", "--granted", "--at", "2025-09-15T00:00:00Z", "--json").out
    )
    assert [(c["key"], c["reason_after"]) for c in granted["changes"]] == [("chats/u2/c.json", "consent-granted")]

    team = json.loads(cli(*local(world), "consent", "simulate", "u1", "--tier", "team", "--json").out)
    assert {c["reason_after"] for c in team["changes"]} == {"commercial-tier"}
    assert cli(*local(world), "consent", "simulate", "u1").code == 2  # nothing to simulate
    assert "is not a tier" in cli(*local(world), "consent", "simulate", "u1", "--tier", "gold").err


# -- legal holds -----------------------------------------------------------------------------------


def test_hold_place_and_release_a_chat_through_the_deployment(world: LocalRuntime, cli: Cli) -> None:
    key = "chats/u1/a.json"
    placed = cli(*local(world), "hold", "place", key)

    assert placed.code == 0, placed.err
    assert f"legal hold placed on {key}" in placed.out and "held=yes" in placed.out
    version = world.s3.head_object(Bucket=world.bucket, Key=key)["VersionId"]
    hold = world.s3.get_object_legal_hold(Bucket=world.bucket, Key=key, VersionId=version)
    assert hold["LegalHold"]["Status"] == "ON"
    held = record(world, "u1", key)
    assert held is not None and held.held

    released = json.loads(cli(*local(world), "hold", "release", key, "--json").out)
    assert (released["held"], released["status"]) == (False, "applied")


def test_hold_every_chat_of_a_user(world: LocalRuntime, cli: Cli) -> None:
    result = json.loads(cli(*local(world), "hold", "place", "--user", "u1", "--json").out)

    assert (result["status"], result["chats"]) == ("applied", 2)
    held = [record(world, "u1", key) for key in ("chats/u1/a.json", "code-sessions/u1/s.jsonl")]
    assert all(r is not None and r.held for r in held)
    assert cli(*local(world), "hold", "place").code == 2
    assert "not a chat key of ours" in cli(*local(world), "hold", "place", "exports/u1/x.json").err


def test_hold_on_a_real_account_invokes_chat_events_signed_by_an_operator_who_cannot_lock(
    real_world: LocalRuntime, functions: dict[str, str], operator: str, cli: Cli
) -> None:
    result = cli(*REAL, "hold", "place", "chats/u1/a.json", "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["held"] is True  # the function placed it, synchronously
    held = record(real_world, "u1", "chats/u1/a.json")
    assert held is not None and held.held


def test_hold_on_a_real_account_without_the_function_says_what_to_set(real_world: LocalRuntime, cli: Cli) -> None:
    result = cli(*REAL, "hold", "place", "chats/u1/a.json")

    assert result.code == 1
    assert "set CHAT_EVENTS_FUNCTION to the stack's ChatEventsFunctionArn output" in result.err


# -- erasure ---------------------------------------------------------------------------------------


def test_erase_follows_the_erasure_to_its_end(world: LocalRuntime, cli: Cli) -> None:
    result = cli(*local(world), "erase", "--user", "u1")

    assert result.code == 0, result.err
    assert "erasure of user u1 requested at" in result.out and "2 chat(s) removed" in result.out
    assert "erase [" in result.err  # the progress bar, on stderr
    assert not exists(world, "chats/u1/a.json") and not exists(world, "code-sessions/u1/s.jsonl")
    assert exists(world, "chats/u2/c.json")
    status = json.loads(cli(*local(world), "erase", "status", "--user", "u1", "--json").out)
    [erasure] = status["erasures"]
    assert (erasure["status"], erasure["removed"], erasure["held"], status["remaining"]) == ("complete", 2, 0, 0)


def test_erase_keeps_held_chats_and_says_so(world: LocalRuntime, cli: Cli) -> None:
    cli(*local(world), "hold", "place", "chats/u1/a.json")

    data = json.loads(cli(*local(world), "erase", "--user", "u1", "--json").out)

    assert (data["status"], data["removed"], data["held"]) == ("complete", 1, 1)
    assert len(data["held_key_hashes"]) == 1 and "chats/u1/a.json" not in json.dumps(data["held_key_hashes"])
    assert exists(world, "chats/u1/a.json")


def test_erase_on_a_real_account_is_started_by_the_function_and_finished_by_the_worker(
    real_world: LocalRuntime, functions: dict[str, str], cli: Cli
) -> None:
    started = json.loads(cli(*REAL, "erase", "--user", "u1", "--json").out)

    assert started["status"] == "in progress" and started["remaining"] == 2
    real_world.settle()
    status = json.loads(cli(*REAL, "erase", "status", "--user", "u1", "--json").out)
    assert status["erasures"][0]["status"] == "complete" and status["remaining"] == 0


# -- dead letters ----------------------------------------------------------------------------------


def dead_letter_queue(rt: LocalRuntime, queue: str) -> str:
    name = rt.env[queue].rsplit("/", 1)[1]
    return str(rt.sqs.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"])


def test_dlq_redrive_replays_what_is_young_and_drops_what_is_older_than_the_retention(
    world: LocalRuntime, cli: Cli
) -> None:
    work_dlq = dead_letter_queue(world, "WORK_QUEUE_URL")
    set_consent(world, "u2", "granted", t("2025-09-01"), tier="free", version=2)  # its retag was lost:
    world.sqs.send_message(QueueUrl=work_dlq, MessageBody=json.dumps({"type": "retag", "user_id": "u2"}))
    old = {"type": "erase", "user_id": "u1", "at": format_instant(t("2025-01-01"))}  # stuck for two years
    world.sqs.send_message(QueueUrl=work_dlq, MessageBody=json.dumps(old))
    assert not eligible(world, "chats/u2/c.json")

    listed = json.loads(cli(*local(world), "dlq", "list", "--json").out)
    work = next(q for q in listed["queues"] if q["queue"] == "work")
    assert work["messages"] == 2
    assert sorted((letter["kind"], letter["replayable"]) for letter in work["letters"]) == [
        ("work:erase", False),
        ("work:retag", True),
    ]
    assert "u1" not in json.dumps(work["letters"]) and "u2" not in json.dumps(work["letters"])
    only = json.loads(cli(*local(world), "dlq", "list", "--queue", "write", "--json").out)["queues"]
    assert [q["queue"] for q in only] == ["write"]  # --queue: that queue alone
    with pytest.raises(SystemExit) as usage:  # argparse's usage error, as for any unknown choice
        cli(*local(world), "dlq", "list", "--queue", "nope")
    assert usage.value.code == 2
    dry = cli(*local(world), "dlq", "redrive", "--dry-run")
    assert "work: 1 would be replayed, 1 would be dropped (older than 30 days)" in dry.out

    result = cli(*local(world), "dlq", "redrive", "--json")

    data = json.loads(result.out)
    assert data["queues"]["work"] == {"replayed": 1, "dropped": 1, "superseded": 0, "kept": 0}  # zeros too
    assert eligible(world, "chats/u2/c.json")  # the retag ran
    assert exists(world, "chats/u1/a.json")  # the old erasure did not
    assert world.sqs.receive_message(QueueUrl=work_dlq).get("Messages") is None
    entries = json.loads(cli(*local(world), "audit", "--json").out)["entries"]
    assert [(e["command"], e["changed"]) for e in entries] == [
        ("dlq redrive", {"replayed": 1, "dropped": 1, "superseded": 0, "kept": 0})
    ]


# -- retag --all -----------------------------------------------------------------------------------


def test_retag_all_after_a_policy_change_decides_every_chat_again_through_the_backfill_function(
    world: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    bumped = tmp_path / "policy.toml"
    bumped.write_text(BUNDLED.read_text().replace("version = 1", "version = 2", 1))
    explained = cli(*local(world), "--policy", str(bumped), "explain", "chats/u1/a.json")
    assert "tags written under an older policy version (consumer-terms-2025@1)" in explained.out
    assert "DIFFER" not in explained.out

    result = cli(*local(world), "--policy", str(bumped), "retag", "--all", "--chunk", "2")

    assert result.code == 0, result.err
    assert "decided 3 chat object(s) again" in result.out and "under consumer-terms-2025@2" in result.out
    assert result.err.count("retag [") == 2  # a progress line per chunk of 2
    assert {tags(world, k)["policy-version"] for k in ("chats/u1/a.json", "chats/u2/c.json")} == {
        "consumer-terms-2025@2"
    }
    after = cli(*local(world), "--policy", str(bumped), "explain", "chats/u1/a.json").out
    assert "agree with the ledger: " in after and "older policy version" not in after


def test_retag_all_on_a_real_account_is_a_batch_operations_job(
    real_world: LocalRuntime, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = cli(*REAL, "retag", "--all")
    assert missing.code == 1 and "BACKFILL_FUNCTION_ARN (output BackfillFunctionArn)" in missing.err

    monkeypatch.setenv("BACKFILL_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:backfill")
    monkeypatch.setenv("BATCH_OPERATIONS_ROLE_ARN", "arn:aws:iam::123456789012:role/batch")
    monkeypatch.setenv("BATCH_OPERATIONS_BUCKET", "batch-ops")
    data = json.loads(cli(*REAL, "retag", "--all", "--dry-run", "--json").out)
    assert data["objects"] == 3 and data["job_id"] is None
    assert data["manifest"].startswith("s3://batch-ops/manifests/retag-")


# -- the audit trail -------------------------------------------------------------------------------------


def test_audit_lists_who_did_what_when_with_hashes_for_names(world: LocalRuntime, cli: Cli) -> None:
    cli(*local(world), "hold", "place", "chats/u1/a.json")
    cli(*local(world), "erase", "--user", "u2")
    cli(*local(world), "sweep", "--now", "2025-11-20")

    result = cli(*local(world), "audit")
    data = json.loads(cli(*local(world), "audit", "--json").out)

    assert [e["command"] for e in data["entries"]] == ["hold", "erase", "sweep"]
    hold, erase, sweep = data["entries"]
    assert hold["caller"] == "arn:aws:sts::123456789012:user/moto" and hold["status"] == "done"
    assert hold["arguments"]["key_hash"] and erase["arguments"]["user_hash"]
    assert erase["changed"] == {"removed": 1, "held": 0}
    assert sweep["arguments"]["now"] == "2025-11-20T00:00:00Z"
    assert all(e["started_at"].endswith("Z") and e["finished_at"].endswith("Z") for e in data["entries"])
    for plain in ("u1", "u2", "chats/"):
        assert plain not in json.dumps([e["arguments"] for e in data["entries"]])
        assert plain not in result.out.split("\n", 1)[1].replace("user/moto", "")
    assert "3 state-changing command(s) since" in result.out


def test_dlq_redrive_on_a_real_account_replays_chat_events_and_consent_stream_failures(
    real_world: LocalRuntime, functions: dict[str, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack's two other DLQs: a chat event (as EventBridge or as Lambda's on-failure record holds it) is
    invoked again; a consent-stream failure names stream records, whose users are retagged through the worker."""
    rt = real_world
    events_dlq = rt.sqs.create_queue(QueueName="test-events-dlq")["QueueUrl"]
    stream_dlq = rt.sqs.create_queue(QueueName="test-consent-stream-dlq")["QueueUrl"]
    monkeypatch.setenv("EVENTS_DLQ_URL", events_dlq)
    monkeypatch.setenv("CONSENT_STREAM_DLQ_URL", stream_dlq)

    def event(detail_type: str, key: str, time: str) -> dict[str, object]:
        return {
            "version": "0",
            "id": f"event-{key}",
            "detail-type": detail_type,
            "source": "chat.app",
            "account": "123456789012",
            "time": time,
            "region": "us-east-1",
            "resources": [],
            "detail": {"user_id": "u1", "key": key},
        }

    now = format_instant(datetime.now(UTC))[:19] + "Z"
    rt.sqs.send_message(QueueUrl=events_dlq, MessageBody=json.dumps(event("Legal Hold Placed", "chats/u1/a.json", now)))
    wrapped = {"version": "1.0", "requestPayload": event("Chat Deleted", "code-sessions/u1/s.jsonl", now)}
    rt.sqs.send_message(QueueUrl=events_dlq, MessageBody=json.dumps(wrapped))
    old = event("Chat Deleted", "chats/u1/a.json", "2025-01-01T00:00:00Z")
    rt.sqs.send_message(QueueUrl=events_dlq, MessageBody=json.dumps(old))
    set_consent(rt, "u2", "granted", t("2025-09-01"), tier="free", version=2)  # the record a failure points at
    table = rt.dynamodb.describe_table(TableName=rt.env["CONSENT_TABLE"])["Table"]
    shard = rt.streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]["Shards"][0]
    iterator = rt.streams.get_shard_iterator(
        StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    last = rt.streams.get_records(ShardIterator=iterator)["Records"][-1]
    sequence = last["dynamodb"]["SequenceNumber"]
    failure = {
        "version": "1.0",
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "DDBStreamBatchInfo": {
            "shardId": shard["ShardId"],
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "approximateArrivalOfFirstRecord": now,
            "batchSize": 1,
            "streamArn": table["LatestStreamArn"],
        },
    }
    rt.sqs.send_message(QueueUrl=stream_dlq, MessageBody=json.dumps(failure))

    data = json.loads(cli(*REAL, "dlq", "redrive", "--json").out)

    assert data["queues"]["events"] == {"replayed": 2, "dropped": 1, "superseded": 0, "kept": 0}
    assert data["queues"]["consent-stream"] == {"replayed": 1, "dropped": 0, "superseded": 0, "kept": 0}
    held = record(rt, "u1", "chats/u1/a.json")
    assert held is not None and held.held  # the hold event ran again; the old deletion did not
    assert not exists(rt, "code-sessions/u1/s.jsonl")
    queued = rt.sqs.receive_message(QueueUrl=rt.env["WORK_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert {"type": "retag", "user_id": "u2"} in [json.loads(m["Body"]) for m in queued["Messages"]]
