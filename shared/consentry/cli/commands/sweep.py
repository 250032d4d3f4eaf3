"""`consentry sweep`: what is due, and its deletion through the worker's own code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consentry import flows
from consentry.aws.ledger import DueChat
from consentry.cli.commands.output import Style, instant, table
from consentry.cli.commands.target import Target


def due(target: Target, now: datetime) -> list[dict[str, Any]]:
    """Every chat due at `now` (as `flows.due` lists them for the nightly sweep); nothing is changed."""
    return [
        {
            "key": r.key,
            "user_id": r.user_id,
            "reason": r.reason.value,
            "state": r.state,
            "expires_at": r.expires_at,
            "last_activity": r.last_activity,
        }
        for r in flows.due(target.enforcer(), now)
    ]


def sweep(target: Target, now: datetime) -> list[dict[str, Any]]:
    """Delete what is due at `now`, record by record as `flows.sweep_page` does; one result per candidate.

    Results: `removed` (every version and delete marker), `gone` (already
    absent from S3; the ledger now says removed), `held` (a legal hold in S3
    refused; kept) or `skipped` (no longer due on a fresh read).
    """
    enforcer = target.enforcer()
    candidates = flows.due(enforcer, now)
    ledger = enforcer.ledger
    found = flows.sweep_chats(
        enforcer, [DueChat(ledger.user_pk(c.user_id), ledger.chat_sk(c.key), c.expires_at) for c in candidates], now
    )
    return [
        {
            "key": candidate.key,
            "user_id": candidate.user_id,
            "reason": candidate.reason.value,
            "expires_at": candidate.expires_at,
            "result": {"kept": "skipped"}.get(
                found.by_key.get(candidate.key, "skipped"), found.by_key.get(candidate.key, "skipped")
            ),
        }
        for candidate in candidates
    ]


def render_due(rows: list[dict[str, Any]], now: datetime, where: str) -> str:
    if not rows:
        return f"nothing is due at {instant(now)} {where}"
    head = f"{len(rows)} chat object(s) due at {instant(now)} {where} (dry run: nothing deleted)"
    body = table(
        ["key", "reason", "state", "expired"],
        [[r["key"], r["reason"], r["state"], instant(r["expires_at"])] for r in rows],
    )
    return f"{head}\n{body}\nrun without --dry-run to delete them (every version and delete marker)"


def render_sweep(rows: list[dict[str, Any]], now: datetime, where: str, style: Style) -> str:
    if not rows:
        return f"nothing was due at {instant(now)} {where}: nothing deleted"
    labels = {
        "removed": style.good("removed"),
        "gone": "already gone",
        "held": style.warn("kept: legal hold"),
        "skipped": style.dim("skipped: no longer due"),
    }
    body = table(
        ["key", "result", "reason", "expired"],
        [[r["key"], labels.get(r["result"], r["result"]), r["reason"], instant(r["expires_at"])] for r in rows],
    )
    counts = summary(rows)
    tail = (
        f"swept at {instant(now)} {where}: {counts['removed']} removed, {counts['gone']} already gone, "
        f"{counts['held']} kept under legal hold, {counts['skipped']} skipped"
    )
    return f"{body}\n{tail}"


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"removed": 0, "gone": 0, "held": 0, "skipped": 0}
    for row in rows:
        counts[row["result"]] = counts.get(row["result"], 0) + 1
    return counts
