"""Errors a person can act on: one line saying what and how to fix it, a non-zero status, never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clirun import Result, Served

from consentry.local import free_port

REAL = ("--real", "--prefix", "test")
BUNDLED = Path(__file__).parents[2] / "shared/consentry/policies/consumer-terms-2025.toml"


def one_line_error(result: Result, *needles: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("consentry: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_wrong_prefix_names_the_missing_bucket_and_the_fix(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "--prefix", "prod", "explain", "chats/u1/c1.json")

    one_line_error(result, "bucket 'prod-chat-logs-123456789012-us-east-1' does not exist", "check --prefix")


def test_missing_table_names_it(served: Served, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_BUCKET", "consentry-chat-logs-123456789012-us-east-1")
    monkeypatch.setenv("CONSENT_TABLE", "consentry-consent")
    monkeypatch.setenv("LEDGER_TABLE", "consentry-ledgr")

    result = cli("--endpoint-url", served.url, "report", "--json")

    one_line_error(result, "ledger table 'consentry-ledgr' does not exist", "LEDGER_TABLE")


def test_incomplete_contract_variables(
    served: Served, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_BUCKET", "consentry-chat-logs-123456789012-us-east-1")

    one_line_error(cli("--endpoint-url", served.url, "report"), "CONSENT_TABLE, LEDGER_TABLE is not")


def test_bad_policy_file(served: Served, cli: Callable[..., Result], tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text(BUNDLED.read_text().replace("eligible_days = 1825", "eligible_days = 0"))

    result = cli("--endpoint-url", served.url, "--policy", str(bad), "explain", "chats/ava/x.json")

    one_line_error(result, "bad policy file", "eligible_days must be from 1 to 36500", "consentry policy validate")


def test_no_credentials_for_the_real_account(script: Callable[..., Result], tmp_path: Path) -> None:
    keep = ("AWS_DEFAULT_REGION", "AWS_REGION")
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("AWS_") and name not in keep}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )

    result = script("--real", "report", env=env)

    one_line_error(result, "no AWS credentials found", "aws configure")


def test_rejected_credentials(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    import consentry.cli.commands.target as target

    def expired(*args: object, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity")

    monkeypatch.setattr(target, "_identity", expired)

    one_line_error(cli(*REAL, "report"), "AWS rejected the credentials (ExpiredToken)", "aws sso login")


def test_access_denied_names_the_operation(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    import consentry.cli.commands.target as target

    def denied(*args: object, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetCallerIdentity")

    monkeypatch.setattr(target, "_identity", denied)

    one_line_error(cli(*REAL, "report"), "access denied for GetCallerIdentity (not allowed)", "needs that permission")


def test_unreachable_endpoint(cli: Callable[..., Result]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    one_line_error(cli("--endpoint-url", url, "sweep", "--dry-run"), f"cannot reach {url}", "consentry serve")


def test_not_one_of_our_keys(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "explain", "exports/u1/dump.json")

    one_line_error(result, "not a chat key of ours", "chats/<user_id>/<id>.json")


def test_unknown_chat(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "explain", "chats/u9/none.json")

    one_line_error(result, "no chat 'chats/u9/none.json' in the ledger or in bucket")


def test_bad_time_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("sweep", "--dry-run", "--now", "next tuesday")

    assert result.code == 2
    assert result.err.strip() == (
        "consentry sweep: error: --now: not a time: 'next tuesday' (use 'now', a date like 2026-11-20 or an "
        "instant like 2026-11-20T09:00:00Z)"
    )


def test_usage_errors_exit_2(cli: Callable[..., Result]) -> None:
    assert cli("explain").code == 2
    assert cli("explain", "chats/a/b.json", "--user", "a").code == 2
    assert cli().code == 2
    with pytest.raises(SystemExit) as exited:
        cli("frobnicate")
    assert exited.value.code == 2


def test_snapshot_without_its_module(
    served: Served, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "consentry.training.snapshot", None)  # as if not installed

    result = cli("--endpoint-url", served.url, "snapshot", "--at", "2026-01-01")

    one_line_error(result, "consentry.training.snapshot", "upgrade consentry")


def test_snapshot_verify_of_a_missing_or_bad_file(served: Served, cli: Callable[..., Result], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n")

    url = ("--endpoint-url", served.url)
    one_line_error(cli(*url, "snapshot", "verify", str(tmp_path / "none.csv")), "no snapshot manifest")
    cli(*url, "snapshot", "--out", str(tmp_path / "good.csv"))  # the local server's one-time notes, if any
    one_line_error(cli(*url, "snapshot", "verify", str(bad)), "not a snapshot this version can read", "Line: 1")


def test_snapshot_at_an_instant_pitr_does_not_hold_is_a_usage_error(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "snapshot", "--at", "2020-01-01")

    assert result.code == 2
    last = result.err.splitlines()[-1]  # after the local server's one-time notes, if this ran first
    assert last.startswith("consentry snapshot: error: 2020-01-01T00:00:00Z is outside what point-in-time recovery")
    assert "Traceback" not in result.err


def test_debug_shows_the_traceback(cli: Callable[..., Result]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = cli("--endpoint-url", url, "report", "--debug")

    assert result.code == 1
    assert "Traceback" in result.err
