"""Every file the CLI writes, searched for a user's id and keys: only the files docs/privacy.md lists hold them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from clirun import Result, local

from consentry.local import LocalRuntime
from support import set_consent, t

USER = "jo-7f3a+z q"
Cli = Callable[..., Result]
KEYS = [f"chats/{USER}/trip-to-lisbon-4821.json", f"code-sessions/{USER}/refactor-7k2q.jsonl"]


def needles() -> set[str]:
    found = {USER, quote(USER), quote_plus(USER), quote(USER, safe="")}
    for key in KEYS:
        chat_id = key.rsplit("/", 1)[1]
        found |= {key, quote(key), quote_plus(key, safe="/"), quote(key, safe=""), chat_id}
    return found


def test_every_file_the_cli_writes_holds_keys_only_where_docs_privacy_allows(
    server: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    set_consent(server, USER, "denied", t("2025-09-01"))
    for key in KEYS:
        server.put_chat(key, at=t("2025-10-01"))
    server.settle()
    files = tmp_path / "files"
    files.mkdir()
    assert cli(*local(server), "sweep", "--now", "2025-12-01", "--plan", str(files / "plan.json")).code == 0
    assert cli(*local(server), "backfill", "--manifest", str(files / "manifest.csv")).code == 0
    assert cli(*local(server), "backfill", "--chunk", "1", "--checkpoint", str(files / "backfill.ckpt")).code == 0
    assert cli(*local(server), "report", "--out", str(files / "report.html")).code == 0
    written = {p.relative_to(files).as_posix(): p.read_bytes().decode(errors="replace") for p in files.rglob("*")
               if p.is_file()}  # fmt: skip
    assert "report.html" in written and "plan.json" in written
    holding = {name for name, text in written.items() if any(n in text for n in needles())}
    # docs/privacy.md: a plan is refused by `sweep --apply` after a day; a manifest is the operator's to delete; the
    # checkpoint is gone once the backfill finished; the report holds counts only.
    found = {name: sorted(n for n in needles() if n in written[name]) for name in holding}
    assert holding == {"plan.json", "manifest.csv"}, found


TRAINING = "s3://test-training-123456789012-us-east-1"  # the local server's training bucket (prefix `test`)


def eligible_chat(server: LocalRuntime) -> None:
    set_consent(server, USER, "granted", t("2025-09-01"))
    server.put_chat(KEYS[0], at=t("2025-10-01"))
    server.settle()


def test_a_snapshot_written_where_no_lifecycle_expires_it_warns_on_stderr(
    server: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    eligible_chat(server)
    folder = tmp_path / "snap"

    local_copy = cli(*local(server), "snapshot", "--out", str(folder))
    elsewhere = cli(*local(server), "snapshot", "--out", f"{TRAINING}/kept/run-1/")
    expiring = cli(*local(server), "snapshot", "--out", f"{TRAINING}/manifests/run-1/")

    assert local_copy.code == elsewhere.code == expiring.code == 0
    assert quote(KEYS[0]) in (folder / "manifest.csv").read_text(encoding="utf-8")  # the copy warned about
    for result, place in ((local_copy, str(folder)), (elsewhere, f"{TRAINING}/kept/run-1/")):
        assert f"WARNING: the manifest at {place} holds the keys and user ids of 1 eligible" in result.err
        assert "nothing expires it there: delete it" in result.err
        assert f"{TRAINING}/manifests/ after 30 days, exports/ after 7" in result.err
    assert "WARNING" not in expiring.err


def test_a_local_backfill_manifest_warns_to_upload_it_under_manifests_and_delete_it(
    server: LocalRuntime, cli: Cli, tmp_path: Path
) -> None:
    eligible_chat(server)
    manifest = tmp_path / "manifest.csv"

    result = cli(*local(server), "backfill", "--manifest", str(manifest))

    assert result.code == 0
    assert manifest.read_text(encoding="utf-8").count("\n") == 1  # written, one chat
    assert f"WARNING: {manifest} names 1 chat object(s)" in result.err
    assert "nothing expires it on this machine: upload it under the Batch Operations bucket's manifests/" in result.err
    assert "expires it after 30 days, then delete this copy: rm " in result.err
    assert "WARNING" not in cli(*local(server), "backfill", "--manifest").err  # stdout: the operator's pipe


def test_snapshot_help_gives_the_window_as_the_ledgers_recovery_period(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli("snapshot", "--help")
    text = " ".join(capsys.readouterr().out.split())
    period = "the ledger's point-in-time recovery period, a deployment setting: the stack's ledgerRecoveryDays"
    assert f"{period}, 7 days by default" in text
    assert "35 days" not in text


def test_athena_results_of_a_local_server_go_under_the_prefix_its_lifecycle_expires(
    server: LocalRuntime, cli: Cli
) -> None:
    from consentry.cli import snapshot
    from consentry.cli.target import connect
    from consentry.training.retention import ATHENA_RESULTS, expirations

    assert server.endpoint_url is not None
    with connect(endpoint_url=server.endpoint_url, prefix="test") as target:
        bucket = snapshot.training_bucket(target, None)
        runner = snapshot.athena_runner(target, bucket)
        group = target.client("athena").get_work_group(WorkGroup=runner.place.workgroup)["WorkGroup"]
        rules = target.clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]

    location = group["Configuration"]["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{bucket}/{ATHENA_RESULTS}"
    expiring = {r["Filter"].get("Prefix"): r["Expiration"]["Days"] for r in rules if "Expiration" in r}
    assert expiring[ATHENA_RESULTS] == expirations()[ATHENA_RESULTS]
