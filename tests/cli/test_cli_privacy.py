"""Every file the CLI writes, searched for a user's id and keys: only the files docs/privacy.md lists hold them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

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
