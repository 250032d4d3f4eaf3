"""`consentry audit`: the audit trail of the state-changing commands, and how a command writes its entry.

Every command that changes anything (sweep, hold, erase, retag, backfill,
dlq redrive) records who ran it, when, with which arguments and what it
changed, through `consentry.service.aws.audit`. Arguments that name a user or a chat
are recorded as their keyed hashes (the deployment's `Pseudonyms`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consentry.cli.output import instant, table
from consentry.cli.target import Target
from consentry.service.aws.audit import AuditEntry


@dataclass
class Recording:
    """What a running command will record when it ends: its status and counts."""

    entry: AuditEntry
    status: str = "done"
    changed: dict[str, int] = field(default_factory=dict)


@contextmanager
def audited(
    target: Target, command: str, arguments: Mapping[str, Any], *, names_someone: bool = False
) -> Iterator[Recording]:
    """Record `command` before it runs and what it changed after (status `failed` if it raised)."""
    log = target.audit()
    entry = log.start(
        command, target.caller, datetime.now(UTC), target.where, arguments, names_someone=names_someone
    )  # the wall clock: when an operator acted is an operational fact
    recording = Recording(entry)
    try:
        yield recording
    except BaseException:
        log.finish(entry, "failed", recording.changed, datetime.now(UTC))
        raise
    log.finish(entry, recording.status, recording.changed, datetime.now(UTC))


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "command": entry.command,
        "caller": entry.caller,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "where": entry.where,
        "status": entry.status,
        "arguments": dict(entry.arguments),
        "changed": dict(entry.changed),
        "pages": {page: dict(result) for page, result in sorted(entry.pages.items(), key=lambda kv: int(kv[0]))},
    }


def _arguments(arguments: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in arguments.items() if v not in (None, False, "", [], {}))


def _changed(entry: AuditEntry) -> str:
    counts = dict(entry.changed)
    for page in entry.pages.values():  # the worker's pages (a planned sweep)
        for name, value in page.items():
            if name != "not_removed":
                counts[f"worker.{name}"] = counts.get(f"worker.{name}", 0) + int(value)
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def render(entries: list[AuditEntry], since: datetime, where: str) -> str:
    if not entries:
        return f"no state-changing command since {instant(since)} {where}"
    rows = [
        [instant(e.started_at), e.command, e.status, e.caller.rsplit(":", 1)[-1], _arguments(e.arguments), _changed(e)]
        for e in entries
    ]
    head = f"{len(entries)} state-changing command(s) since {instant(since)} {where} (oldest first)"
    return f"{head}\n{table(['started (UTC)', 'command', 'status', 'caller', 'arguments', 'changed'], rows)}"


def render_one(entry: AuditEntry) -> str:
    data = entry_json(entry)
    lines = [
        f"audit entry {entry.id}",
        f"  command   {entry.command} ({entry.status})",
        f"  caller    {entry.caller}",
        f"  started   {instant(entry.started_at)}; finished {instant(entry.finished_at)}",
        f"  where     {entry.where}",
        f"  arguments {_arguments(entry.arguments) or '-'}",
        f"  changed   {_changed(entry)}",
    ]
    for page, result in data["pages"].items():
        others = result.get("not_removed", {})
        counts = ", ".join(f"{k} {v}" for k, v in result.items() if k != "not_removed")
        lines.append(f"  worker page {page}: {counts}")
        lines += [f"    {key_hash}: {outcome}" for key_hash, outcome in others.items()]
    return "\n".join(lines)
