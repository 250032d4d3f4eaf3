"""The operator commands against `consentry serve --seed`: the demo story up to its erasure step (2025-11-22).

Read-only: nothing here changes the served data (see test_cli_operations for
the commands that delete and tag).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
from clirun import Result, Served

NOVEL = "chats/chen/2025-09-20-novel-outline.json"
TOAST = "chats/ben/2025-10-11-wedding-toast.json"
AT = "2025-11-23"  # the day after the story's erasure: what is due then is known


def test_serve_announces_itself_and_how_to_use_it(served: Served) -> None:
    banner = "\n".join(served.banner)
    assert f"embedded AWS (moto) at {served.url}" in banner
    assert "seeded 38 chat objects of 14 users, 34 stored" in banner
    assert f"export AWS_ENDPOINT_URL={served.url}" in banner
    assert served.banner[-1].startswith("ready")


def test_commands_use_a_running_serve_by_default(served: Served, script: Callable[..., Result]) -> None:
    result = script("explain", NOVEL, env={"CONSENTRY_SERVE_URL": served.url})

    assert result.code == 0, result.err
    assert "ELIGIBLE  consent-granted" in result.out
    assert result.err == ""  # no "fresh embedded server" note: it found the served data


def test_explain_key_gives_decision_versions_expiry_and_history(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "explain", NOVEL, "--now", AT)

    assert result.code == 0, result.err
    out = result.out
    assert "ELIGIBLE  consent-granted" in out
    assert "decided on      consent version 2 (tier max); policy consumer-terms-2025@1" in out
    assert "last activity   2025-11-14T21:00:00Z" in out
    assert "1825 days -> expires 2030-11-13" in out
    assert "due at 2025-11-23T00:00:00Z: no" in out
    assert "S3 tags         agree with the ledger" in out
    assert "same decision under the current consent record" in out
    events = [re.split(r"\s{2,}", line.strip())[1] for line in out.split("history")[1].splitlines()[3:]]
    assert events == ["write", "archive", "retag", "reopen"]


def test_explain_key_as_json(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("explain", NOVEL, "--json", "--endpoint-url", served.url)

    data = json.loads(result.out)
    assert data["eligible"] is True
    assert data["reason"] == "consent-granted"
    assert data["consent_version"] == 2
    assert data["policy_version"] == "consumer-terms-2025@1"
    assert data["last_activity"] == "2025-11-14T21:00:00Z"
    assert data["expires_on"] == "2030-11-13"
    assert data["tags_agree"] is True
    assert [h["event"] for h in data["history"]] == ["write", "archive", "retag", "reopen"]
    assert data["history"][-1]["at"].startswith("2025-11-14T21:00:00")


def test_explain_held_deleted_chat_says_it_is_kept(served: Served, cli: Callable[..., Result]) -> None:
    out = cli("--endpoint-url", served.url, "explain", TOAST).out

    assert "NOT ELIGIBLE  deleted" in out
    assert "state           deleted (deleted 2025-11-20T16:00:00Z), under legal hold: kept until released" in out


def test_explain_user_lists_chats_and_erasure_requests(served: Served, cli: Callable[..., Result]) -> None:
    text = cli("--endpoint-url", served.url, "explain", "--user", "jo").out
    data = json.loads(cli("--endpoint-url", served.url, "explain", "--user", "jo", "--json").out)

    assert data["counts"] == {"chats": 3, "eligible": 0, "not_eligible": 0, "removed": 3, "held": 0, "due": 0}
    assert data["chats"] == [], "removed chats keep no key: explain shows their count and the erasure, nothing else"
    [erasure] = data["erasures"]
    assert erasure["requested_at"] == "2025-11-22T09:00:00Z"
    assert erasure["completed_at"] is not None
    assert (erasure["removed"], erasure["held"]) == (3, 0)
    assert "erasure requests (1)" in text
    assert re.search(r"2025-11-22T09:00:00Z\s+\S+Z\s+3\s+0", text)


def test_explain_user_of_an_opted_out_user(served: Served, cli: Callable[..., Result]) -> None:
    data = json.loads(cli("--endpoint-url", served.url, "explain", "--user", "ava", "--json", "--now", AT).out)

    assert data["consent"]["training_consent"] == "denied"
    assert data["consent"]["version"] == 2
    assert data["counts"]["eligible"] == 0
    assert {c["reason"] for c in data["chats"]} == {"consent-denied"}
    assert data["erasures"] == []


def test_sweep_dry_run_lists_what_is_due_and_deletes_nothing(served: Served, cli: Callable[..., Result]) -> None:
    first = json.loads(cli("--endpoint-url", served.url, "sweep", "--dry-run", "--now", AT, "--json").out)
    text = cli("--endpoint-url", served.url, "sweep", "--dry-run", "--now", AT)
    again = json.loads(cli("--endpoint-url", served.url, "sweep", "--dry-run", "--now", AT, "--json").out)

    due = {row["key"] for row in first["due"]}
    assert len(due) == 16
    assert "chats/ava/2025-02-14-valentines-dinner-ideas.json" in due
    assert TOAST not in due  # under legal hold: never due
    assert NOVEL not in due
    assert again["due"] == first["due"]
    assert text.out.startswith("16 chat object(s) due at 2025-11-23T00:00:00Z")
    assert "dry run: nothing deleted" in text.out


class Page(HTMLParser):
    """What a test needs of the report: charts, bars, tables, the embedded numbers, every URL-ish attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, str | None]] = []
        self.bars: dict[str, list[dict[str, str | None]]] = {}
        self.chart: str | None = None
        self.tables: dict[str, list[list[str]]] = {}
        self.table: str | None = None
        self.cell: list[str] | None = None
        self.row: list[str] = []
        self.script = ""
        self.in_script = False
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        if tag == "svg":
            self.svgs.append(a)
            self.chart = a.get("id")
        if tag == "g" and self.chart and "class" in a:
            self.bars.setdefault(self.chart, []).append(a)
        if tag == "table":
            self.table = a.get("id")
            self.tables[str(self.table)] = []
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.cell = []
        if tag == "script" and a.get("id") == "report-data":
            self.in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None
        if tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr" and self.table:
            self.tables[self.table].append(self.row)
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self.in_script:
            self.script += data


def report(cli: Callable[..., Result], url: str, tmp_path: Path) -> tuple[str, Page, Result]:
    out = tmp_path / "report.html"
    result = cli("--endpoint-url", url, "report", "--out", str(out), "--now", AT)
    text = out.read_text()
    page = Page()
    page.feed(text)
    return text, page, result


def test_report_counts_by_eligibility_reason_tier_and_month(
    served: Served, cli: Callable[..., Result], tmp_path: Path
) -> None:
    _, page, result = report(cli, served.url, tmp_path)

    assert result.code == 0
    assert result.out.startswith(f"wrote {tmp_path / 'report.html'}: 34 stored chat objects, 8 eligible, 16 due")
    data: dict[str, Any] = json.loads(page.script)
    assert (data["objects"], data["eligible"], data["not_eligible"]) == (34, 8, 26)
    assert (data["removed"], data["held"], data["due"], data["tag_errors"], data["users"]) == (4, 1, 16, 0, 13)
    assert data["by_reason"] == {
        "deleted": 1,
        "consent-pending": 5,
        "invalid-consent-record": 1,
        "commercial-tier": 8,
        "consent-denied": 7,
        "before-consent": 4,
        "consent-granted": 8,
    }
    tiers = {t["label"]: (t["eligible"], t["not_eligible"]) for t in data["by_tier"]}
    assert tiers == {
        "free": (5, 4),
        "max": (2, 3),
        "pro": (1, 8),
        "api": (0, 1),
        "education": (0, 1),
        "enterprise": (0, 2),
        "government": (0, 1),
        "team": (0, 3),
        "(no consent record)": (0, 2),
        "platinum (unknown tier)": (0, 1),
    }
    months = {m["label"]: (m["eligible"], m["not_eligible"]) for m in data["by_month"]}
    assert months["2030-11"] == (4, 0)
    assert months["2025-11"] == (0, 8)
    assert months["2025-12"] == (0, 4)
    assert sum(e + n for e, n in months.values()) == 34
    assert list(months) == sorted(months)  # consecutive months, gaps included
    assert months["2028-06"] == (0, 0)
    # the tables say the same as the data
    assert page.tables["table-eligibility"][1:] == [
        ["eligible", "8", "24%"],
        ["not eligible", "26", "76%"],
        ["total", "34", ""],
    ]
    assert ["consent-denied", "7", "21%"] in page.tables["table-reasons"]
    assert ["team", "0", "3", "3"] in page.tables["table-tiers"]


def test_report_charts_are_inline_svg_with_the_same_numbers(
    served: Served, cli: Callable[..., Result], tmp_path: Path
) -> None:
    text, page, _ = report(cli, served.url, tmp_path)

    ids = [svg.get("id") for svg in page.svgs]
    assert ids == ["chart-eligibility", "chart-reasons", "chart-tiers", "chart-expiry"]
    assert all(svg.get("role") == "img" and svg.get("aria-label") for svg in page.svgs)
    assert "8 of 34 stored chat objects eligible" in str(page.svgs[0].get("aria-label"))
    reasons = {b["data-label"]: b["data-value"] for b in page.bars["chart-reasons"]}
    assert reasons["consent-granted"] == "8" and reasons["commercial-tier"] == "8" and reasons["deleted"] == "1"
    tiers = {b["data-label"]: (b["data-eligible"], b["data-not-eligible"]) for b in page.bars["chart-tiers"]}
    assert tiers["free"] == ("5", "4")
    columns = page.bars["chart-expiry"]
    assert columns[0]["data-label"] == "2025-03" and columns[-1]["data-label"] == "2032-10"
    assert sum(int(str(c["data-eligible"])) for c in columns) == 8
    # self-contained: nothing to fetch
    assert page.urls == []
    for needle in ("@import", "url(", "<link", "<img", "<iframe", "<object", "<script src"):
        assert needle not in text


def test_report_json_prints_the_numbers(served: Served, cli: Callable[..., Result], tmp_path: Path) -> None:
    data = json.loads(cli("--endpoint-url", served.url, "report", "--json", "--now", AT).out)

    assert (data["objects"], data["eligible"], data["due"]) == (34, 8, 16)


def test_backfill_dry_run_finds_nothing_untracked(served: Served, cli: Callable[..., Result]) -> None:
    data = json.loads(cli("--endpoint-url", served.url, "backfill", "--dry-run", "--json").out)

    assert (data["objects"], data["tracked"], data["untracked"], data["not_ours"]) == (34, 34, 0, 0)


def test_backfill_manifest_lists_every_chat_object(served: Served, cli: Callable[..., Result]) -> None:
    result = cli("--endpoint-url", served.url, "backfill", "--manifest")

    rows = list(csv.reader(io.StringIO(result.out)))
    assert len(rows) == 34
    assert {bucket for bucket, _ in rows} == {"consentry-chat-logs-123456789012-us-east-1"}
    assert ["consentry-chat-logs-123456789012-us-east-1", NOVEL] in rows
    assert "nothing tagged" in result.err


def test_snapshot_is_the_ledger_exported_at_the_latest_instant_and_verify_anti_joins_it(
    served: Served, cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.csv"
    taken = cli("--endpoint-url", served.url, "snapshot", "--out", str(path), "--json")
    fine = cli("--endpoint-url", served.url, "snapshot", "verify", str(path))
    late = cli(
        "--endpoint-url",
        served.url,
        "snapshot",
        "verify",
        str(tmp_path / "snapshot.parquet"),
        "--now",
        "2031-01-01",
        "--json",
    )

    assert taken.code == 0, taken.err
    data = json.loads(taken.out)
    keys = [row[1] for row in csv.reader(path.open())]
    # The story's eligible chats expire from 2030-11 (five years after their activity): 8 until then.
    assert len(keys) == data["entries"] == 8 and NOVEL in keys
    assert data["parquet"] == str(tmp_path / "snapshot.parquet") and (tmp_path / "snapshot.parquet").exists()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["at"])
    assert data["export"]["location"].startswith("s3://consentry-training-123456789012-us-east-1/exports/ledger-")
    assert fine.code == 0 and "all 8 entries may still be read; nothing to revoke" in fine.out
    assert late.code == 3
    result = json.loads(late.out)
    assert (result["checked"], result["revoked"], result["by_reason"]) == (8, 8, {"expired": 8})
    assert {r["reason"] for r in result["revocations"]} == {"expired"}


def test_snapshot_goes_to_the_export_bucket_by_default(served: Served, cli: Callable[..., Result]) -> None:
    data = json.loads(cli("--endpoint-url", served.url, "snapshot", "--json").out)

    bucket, _, key = data["csv"][len("s3://") :].partition("/")
    assert bucket == "consentry-training-123456789012-us-east-1"
    assert key.startswith("manifests/ledger-") and key.endswith("/manifest.csv")
    assert data["parquet"].endswith("/parquet/manifest.parquet")
    s3 = boto3.client("s3", endpoint_url=served.url, region_name="us-east-1")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert len(body.splitlines()) == data["entries"] == 8


def test_report_writes_its_numbers_beside_the_html(served: Served, cli: Callable[..., Result], tmp_path: Path) -> None:
    _, page, _ = report(cli, served.url, tmp_path)

    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers == json.loads(page.script)
    assert (tmp_path / "report.parquet").read_bytes()[:4] == b"PAR1"
