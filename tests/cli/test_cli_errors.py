"""Errors a person can act on: one line saying what and how to fix it, a non-zero status, never a traceback."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clirun import Result, Served

from consentry.local import free_port

REAL = ("--real", "--prefix", "test")
BUNDLED = Path(__file__).parents[2] / "shared/consentry/service/policies/consumer-terms-2025.toml"


def one_line_error(result: Result, *needles: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert re.match(r"consentry [a-z]+: error: ", lines[0]), lines[0]
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
    import consentry.cli.target as target

    def expired(*args: object, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity")

    monkeypatch.setattr(target, "_identity", expired)

    one_line_error(cli(*REAL, "report"), "AWS rejected the credentials (ExpiredToken)", "aws sso login")


def test_access_denied_names_the_operation(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    import consentry.cli.target as target

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


def test_verify_now_before_the_exports_instant_is_a_usage_error(
    served: Served, cli: Callable[..., Result], tmp_path: Path
) -> None:
    url = ("--endpoint-url", served.url)
    assert cli(*url, "snapshot", "--out", str(tmp_path / "snap.csv")).code == 0
    result = cli(*url, "snapshot", "verify", str(tmp_path / "snap.csv"), "--now", "2020-01-01")

    assert result.code == 2, result
    assert "--now 2020-01-01T00:00:00Z is before the export's instant" in result.err.splitlines()[-1]
    assert "Traceback" not in result.err


def test_debug_shows_the_traceback(cli: Callable[..., Result]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = cli("--endpoint-url", url, "report", "--debug")

    assert result.code == 1
    assert "Traceback" in result.err


# -- usage errors: one line, exit status 2 ------------------------------------------------------------


def one_usage_line(result: Result, *needles: str) -> str:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_now_yesterday_is_a_usage_error(script: Callable[..., Result]) -> None:
    line = one_usage_line(script("sweep", "--dry-run", "--now", "yesterday"), "not a time: 'yesterday'")
    assert line.startswith("consentry sweep: error: --now: ")


def test_a_time_without_a_zone_is_refused(cli: Callable[..., Result]) -> None:
    line = one_usage_line(cli("sweep", "--dry-run", "--now", "2026-11-20T03:00:00"), "add Z or an offset")
    assert "'2026-11-20T03:00:00' has no time zone" in line
    offset = cli("--embedded", "sweep", "--dry-run", "--now", "2026-11-20T03:00:00+02:00", "--json")
    assert offset.code == 0  # an offset will do


def test_serve_on_a_port_that_cannot_be_is_a_usage_error(script: Callable[..., Result]) -> None:
    one_usage_line(script("serve", "--port", "99999"), "argument --port: '99999' is not a TCP port")


def test_an_endpoint_that_is_not_a_url_is_a_usage_error(script: Callable[..., Result]) -> None:
    one_usage_line(script("--endpoint-url", "notaurl", "report"), "--endpoint-url 'notaurl' is not a URL")


def test_an_unknown_aws_profile_is_a_usage_error(script: Callable[..., Result], tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = eu-west-1\n")
    env: dict[str, str | None] = {"AWS_PROFILE": "nonexistent", "AWS_CONFIG_FILE": str(config)}

    line = one_usage_line(script("--real", "report", env=env), "AWS_PROFILE", "(nonexistent) could not be found")
    assert "aws configure list-profiles" in line
    one_usage_line(script("--real", "--profile", "nonexistent", "report", env={"AWS_CONFIG_FILE": str(config)}))
    one_usage_line(script("--profile", "dev", "report"), "--profile names credentials of your AWS account: add --real")


def test_the_demo_is_refused_on_a_real_account(script: Callable[..., Result]) -> None:
    one_usage_line(script("--real", "demo"), "the demo runs on its own embedded server only")


def test_an_unreachable_aws_names_the_endpoint_and_the_region(script: Callable[..., Result]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env: dict[str, str | None] = {
        "AWS_ENDPOINT_URL_STS": closed,  # nothing listens there: as if AWS were out of reach
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "eu-west-3",
    }

    result = script("--real", "report", env=env)

    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert line == (
        f"consentry report: error: cannot reach AWS at {closed}/ (region eu-west-3): check the network, a proxy "
        "(HTTPS_PROXY) and --region / AWS_REGION"
    )
