"""Commands that tag and explain (backfill, explain), on a deployment of their own.

The `runtime` fixture (tests/conftest.py) provisions prefix `test` under
moto's in-process mock: to the CLI that is an AWS account reached through the
default credential chain, so these tests run it with `--real --prefix test`.
Tagging goes through the deployment's functions: on an AWS account the backfill
refuses to tag with the operator's credentials, and the tests that tag run on
a `server` of their own (the local path, `--endpoint-url`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clirun import Result, local

from consentry.local import LocalRuntime
from consentry.service.flows import lifecycle
from support import eligible, exists, record, set_consent, t

REAL = ("--real", "--prefix", "test")


@pytest.fixture
def story(runtime: LocalRuntime) -> LocalRuntime:
    """u1 opted out long ago, u2 opted in; one of u1's chats is under legal hold."""
    set_consent(runtime, "u1", "denied", t("2025-09-01"), tier="free")
    set_consent(runtime, "u2", "granted", t("2025-09-01"), tier="pro")
    runtime.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    runtime.put_chat("chats/u1/b.json", at=t("2025-10-10"))
    runtime.put_chat("code-sessions/u1/held.jsonl", at=t("2025-09-12"))
    runtime.put_chat("chats/u2/c.json", at=t("2025-10-01"))
    runtime.settle()
    runtime.chat_event("Legal Hold Placed", {"user_id": "u1", "key": "code-sessions/u1/held.jsonl"}, t("2025-09-20"))
    runtime.settle()
    return runtime


def untracked(rt: LocalRuntime, keys: list[str]) -> None:
    """Objects no event announced: written before deployment (the write queue is drained unread)."""
    for key in keys:
        rt.s3.put_object(Bucket=rt.bucket, Key=key, Body=b"{}")
    while rt.sqs.receive_message(QueueUrl=rt.env["WRITE_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages"):
        rt.sqs.purge_queue(QueueUrl=rt.env["WRITE_QUEUE_URL"])


KEYS = [f"chats/u1/c{i}.json" for i in range(1, 6)]


@pytest.fixture
def old_bucket(runtime: LocalRuntime) -> LocalRuntime:
    set_consent(runtime, "u1", "granted", t("2025-09-01"), tier="pro")
    untracked(runtime, [*KEYS, "chats/u1/notes.txt", "exports/u1/dump.json"])
    return runtime


@pytest.fixture
def old_local_bucket(server: LocalRuntime) -> LocalRuntime:
    set_consent(server, "u1", "granted", t("2025-09-01"), tier="pro")
    untracked(server, [*KEYS, "chats/u1/notes.txt", "exports/u1/dump.json"])
    return server


def test_backfill_on_a_real_account_is_the_backfill_functions_job_never_the_operators_tagging(
    old_bucket: LocalRuntime, cli: Callable[..., Result]
) -> None:
    result = cli(*REAL, "backfill")

    assert result.code == 1
    assert (
        "the backfill function tags chats, run by an S3 Batch Operations job: set BACKFILL_FUNCTION_ARN" in result.err
    )
    assert record(old_bucket, "u1", KEYS[0]) is None and not eligible(old_bucket, KEYS[0])


def test_backfill_dry_run_counts_untagged_objects_and_writes_nothing(
    old_bucket: LocalRuntime, cli: Callable[..., Result]
) -> None:
    data = json.loads(cli(*REAL, "backfill", "--dry-run", "--json").out)

    assert (data["objects"], data["tracked"], data["untracked"], data["not_ours"]) == (5, 0, 5, 1)
    assert [u["key"] for u in data["untracked_keys"]] == KEYS
    assert record(old_bucket, "u1", KEYS[0]) is None
    assert not eligible(old_bucket, KEYS[0])


def test_backfill_tags_every_chat_in_chunks_with_progress(
    old_local_bucket: LocalRuntime, cli: Callable[..., Result], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "backfill.ckpt"
    result = cli(*local(old_local_bucket), "backfill", "--chunk", "2", "--checkpoint", str(checkpoint))

    assert result.code == 0, result.err
    assert all(eligible(old_local_bucket, key) for key in KEYS)
    assert "backfilled 5 chat object(s)" in result.out and "5 tagged or corrected" in result.out
    progress = [line for line in result.err.splitlines() if line.startswith("backfill [")]
    assert progress[-1].startswith("backfill [############################] 100% 5/5")
    assert len(progress) == 3  # a line per chunk of 2 (not a terminal: no redrawing)
    assert not checkpoint.exists()  # done: nothing to resume
    again = json.loads(cli(*local(old_local_bucket), "backfill", "--json").out)
    assert (again["tagged"], again["unchanged"]) == (0, 5)


def test_backfill_resumes_after_a_key_or_from_its_checkpoint(
    old_local_bucket: LocalRuntime, cli: Callable[..., Result], tmp_path: Path
) -> None:
    after = json.loads(cli(*local(old_local_bucket), "backfill", "--start-after", KEYS[2], "--json").out)
    assert after["objects"] == 2
    assert [eligible(old_local_bucket, key) for key in KEYS] == [False, False, False, True, True]

    checkpoint = tmp_path / "ckpt"
    checkpoint.write_text(KEYS[0] + "\n")
    resumed = cli(*local(old_local_bucket), "backfill", "--checkpoint", str(checkpoint), "--json")
    assert f"resuming after {KEYS[0]}" in resumed.err
    assert json.loads(resumed.out)["objects"] == 4
    assert [eligible(old_local_bucket, key) for key in KEYS] == [False, True, True, True, True]


def test_backfill_interrupted_says_how_to_resume(
    old_local_bucket: LocalRuntime, cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_backfill = lifecycle.backfill
    calls: list[int] = []

    def interrupted(enforcer: Any, keys: Any) -> Any:
        calls.append(len(keys))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_backfill(enforcer, keys)

    monkeypatch.setattr(lifecycle, "backfill", interrupted)
    checkpoint = tmp_path / "ckpt"
    result = cli(*local(old_local_bucket), "backfill", "--chunk", "2", "--checkpoint", str(checkpoint))

    assert result.code == 130
    assert f"resume with: consentry backfill --start-after '{KEYS[1]}'" in result.err
    assert checkpoint.read_text().strip() == KEYS[1]
    assert "Traceback" not in result.err


def test_backfill_manifest_is_s3_batch_operations_csv(runtime: LocalRuntime, cli: Callable[..., Result]) -> None:
    untracked(runtime, ["chats/u 1/c+1.json", "code-sessions/u2/s1.jsonl", "chats/u2/readme.md"])

    result = cli(*REAL, "backfill", "--manifest")

    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows == [[runtime.bucket, "chats/u%201/c%2B1.json"], [runtime.bucket, "code-sessions/u2/s1.jsonl"]]
    assert result.out.endswith("\r\n")
    assert record(runtime, "u2", "code-sessions/u2/s1.jsonl") is None  # a manifest tags nothing


def test_explain_untracked_object_points_at_backfill(old_bucket: LocalRuntime, cli: Callable[..., Result]) -> None:
    result = cli(*REAL, "explain", KEYS[0])

    assert result.code == 0
    assert "NOT ELIGIBLE  (no record in the ledger)" in result.out
    assert "`consentry backfill` tags it" in result.out


def test_explain_sees_a_retag_that_has_not_run(story: LocalRuntime, cli: Callable[..., Result]) -> None:
    set_consent(story, "u2", "denied", t("2025-10-15"), tier="pro", version=2)  # not settled: no retag yet

    out = cli(*REAL, "explain", "chats/u2/c.json").out

    assert "ELIGIBLE  consent-granted" in out
    assert "re-decided now  not eligible, consent-denied" in out
    assert "a retag is pending" in out


def test_explain_user_after_erasure_across_both_key_patterns(runtime: LocalRuntime, cli: Callable[..., Result]) -> None:
    """A user with chats and coding sessions: the erasure lists `chats/` then `code-sessions/` and removes both."""
    set_consent(runtime, "u1", "granted", t("2025-09-01"), tier="free")
    runtime.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    runtime.put_chat("code-sessions/u1/s.jsonl", at=t("2025-10-10"))
    runtime.settle()
    runtime.chat_event("Erasure Requested", {"user_id": "u1"}, t("2025-11-01"))
    runtime.settle()

    data = json.loads(cli(*REAL, "explain", "--user", "u1", "--json").out)

    assert data["counts"]["removed"] == 2
    [erasure] = data["erasures"]
    assert (erasure["removed"], erasure["held"]) == (2, 0) and erasure["completed_at"] is not None
    assert not exists(runtime, "chats/u1/a.json") and not exists(runtime, "code-sessions/u1/s.jsonl")
    # A removed chat is a tombstone: when and why it went, nothing of its life (once shown as facts).
    gone = json.loads(cli(*REAL, "explain", "chats/u1/a.json", "--json").out)
    assert (gone["state"], gone["reason"], gone["removed_at"]) == ("removed", "deleted", "2025-11-01T00:00:00Z")
    assert [gone[k] for k in ("last_activity", "retention_days", "expires_at", "consent_version", "tier")] == [None] * 5
    text = cli(*REAL, "explain", "chats/u1/a.json").out
    assert "tombstone" in text and "last activity" not in text and "retention" not in text
    about_user = cli(*REAL, "explain", "--user", "u1").out
    assert "ledger keeps only tombstones" in about_user and "knows no chat" not in about_user
