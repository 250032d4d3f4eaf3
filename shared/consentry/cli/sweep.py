"""`consentry sweep`: what is due, as a plan that can be saved, reviewed and applied exactly.

A *plan* lists each due chat as the nightly sweep finds it (the `due` index,
then the records), with every version of it stored in S3 (id, size, time)
and its bytes; beside it, the due chats a legal hold keeps (they are not in
the `due` index: a Scan of the ledger finds them). `--plan FILE` saves it;
`--apply FILE` deletes exactly that, and `sweep` alone makes a plan and
applies it at once. Applying never deletes with the operator's credentials:
the plan goes to the worker in pages (`sweep-plan` messages, see
`consentry.service.flows.work`), which re-checks every chat first (still due, not
held, the same versions; otherwise skipped, and said so) and reports each
page in the command's audit entry, where this module reads the results.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consentry.cli.options import CommandError, UsageError
from consentry.cli.output import Progress, Style, instant, table
from consentry.cli.target import Target
from consentry.service.aws.audit import AuditEntry
from consentry.service.flows import sweep as sweeping
from consentry.service.flows.messages import PlannedChat, SweepPlanPage
from consentry.service.policy import parse_instant

PLAN_KIND = "consentry-sweep-plan"
PLAN_LIFETIME = timedelta(days=1)  # `--apply` refuses an older plan file: it lists keys and user ids in the clear
PLAN_VERSION = 1
PAGE_CHATS = 100  # chats per work message
PAGE_BYTES = 200_000  # under SQS's 256 KiB message limit, with room for the envelope
PROGRESS_FROM = 100  # due chats from which planning shows a progress bar (a few seconds' work)
REAL_MAX_DELETE = 1000  # the default cap on a real account: more needs --max-delete N, on purpose
SKIPPED = {
    "skipped:gone": "skipped: removed since the plan",
    "skipped:held": "skipped: under legal hold since the plan",
    "skipped:not-due": "skipped: no longer due (reopened or written since)",
    "skipped:versions-changed": "skipped: its versions changed since the plan",
    "skipped:changed": "skipped: changed while it was being swept",
    "skipped:taken": "skipped: another sweep removed it at the same time",
}


@dataclass(frozen=True)
class Version:
    version_id: str
    size: int
    last_modified: datetime
    delete_marker: bool


@dataclass(frozen=True)
class Planned:
    """One due chat of a plan: what deleting it removes."""

    key: str
    user_id: str
    reason: str
    state: str
    expires_at: datetime
    versions: tuple[Version, ...]

    @property
    def bytes(self) -> int:
        return sum(v.size for v in self.versions)

    @property
    def data_versions(self) -> list[str]:
        return sorted(v.version_id for v in self.versions if not v.delete_marker)


@dataclass
class Plan:
    now: datetime
    created_at: datetime
    bucket: str
    ledger_table: str
    policy: str
    where: str
    chats: list[Planned] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)  # due, but under legal hold: not planned

    def totals(self) -> dict[str, int]:
        return {
            "chats": len(self.chats),
            "versions": sum(len(c.versions) for c in self.chats),
            "bytes": sum(c.bytes for c in self.chats),
            "held": len(self.held),
        }


# -- making a plan -------------------------------------------------------------------------------


def versions_of(target: Target, key: str) -> tuple[Version, ...]:
    """Every version and delete marker of exactly `key`, with sizes, oldest first."""
    return tuple(
        Version(v.version_id, size, v.last_modified, v.delete_marker)
        for v, size in target.enforcer().chats.sized_versions(key)
    )


def held_due(target: Target, now: datetime) -> list[dict[str, Any]]:
    """Live records due at `now` that a legal hold keeps (the `due` index leaves them out)."""
    return [
        {
            "key": r.key,
            "user_id": r.user_id,
            "reason": r.reason.value,
            "state": r.state.value,
            "expires_at": r.expires_at,
        }
        for r in target.enforcer().ledger.held_due(now)
    ]


def plan(target: Target, now: datetime, show_progress: bool = False) -> Plan:
    """What a sweep at `now` would delete (every version, with sizes), and the held due chats it would skip.

    `show_progress`: a progress bar on stderr while the versions of many due chats are listed."""
    enforcer = target.enforcer()
    records = sweeping.due(enforcer, now)
    progress = Progress(len(records), "planning") if show_progress and len(records) >= PROGRESS_FROM else None
    lock = threading.Lock()

    def listed(key: str) -> Any:
        found = versions_of(target, key)
        if progress is not None:
            with lock:
                progress.advance(1)
        return found

    listings = enforcer.parallel(listed, [r.key for r in records])
    if progress is not None:
        progress.finish()
    made = Plan(
        now=now,
        created_at=datetime.now(UTC),
        bucket=target.settings.bucket,
        ledger_table=target.settings.ledger_table,
        policy=target.policy.label,
        where=target.where,
        held=held_due(target, now),
    )
    for record, versions in zip(records, listings, strict=True):
        made.chats.append(
            Planned(record.key, record.user_id, record.reason.value, record.state, record.expires_at, versions)
        )
    return made


# -- the plan file -------------------------------------------------------------------------------


def plan_json(made: Plan) -> dict[str, Any]:
    """The plan as `--plan FILE` writes it and `--dry-run --json` prints it."""
    return {
        "kind": PLAN_KIND,
        "version": PLAN_VERSION,
        "now": made.now,
        "created_at": made.created_at,
        "where": made.where,
        "bucket": made.bucket,
        "ledger_table": made.ledger_table,
        "policy": made.policy,
        "totals": made.totals(),
        "due": [
            {
                "key": c.key,
                "user_id": c.user_id,
                "reason": c.reason,
                "state": c.state,
                "expires_at": c.expires_at,
                "bytes": c.bytes,
                "versions": [
                    {
                        "version_id": v.version_id,
                        "size": v.size,
                        "last_modified": v.last_modified,
                        "delete_marker": v.delete_marker,
                    }
                    for v in c.versions
                ],
            }
            for c in made.chats
        ],
        "held": made.held,
    }


def read_plan(path: Path) -> Plan:
    """A plan written by `--plan`; UsageError when the file is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no plan at {path}: write one with `consentry sweep --plan {path}`") from None
    except (OSError, ValueError) as err:
        raise UsageError(f"{path} is not a sweep plan: {err}") from None
    if not isinstance(data, dict) or data.get("kind") != PLAN_KIND:
        raise UsageError(f"{path} is not a sweep plan (written by `consentry sweep --plan FILE`)")
    if data.get("version") != PLAN_VERSION:
        raise UsageError(
            f"{path} is a sweep plan of version {data.get('version')!r}; this consentry reads {PLAN_VERSION}"
        )
    try:
        return Plan(
            now=parse_instant(data["now"]),
            created_at=parse_instant(data["created_at"]),
            bucket=data["bucket"],
            ledger_table=data["ledger_table"],
            policy=data["policy"],
            where=data["where"],
            chats=[
                Planned(
                    c["key"],
                    c["user_id"],
                    c["reason"],
                    c["state"],
                    parse_instant(c["expires_at"]),
                    tuple(
                        Version(
                            v["version_id"], int(v["size"]), parse_instant(v["last_modified"]), bool(v["delete_marker"])
                        )
                        for v in c["versions"]
                    ),
                )
                for c in data["due"]
            ],
            held=[{**h, "expires_at": parse_instant(h["expires_at"])} for h in data["held"]],
        )
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{path} is a damaged sweep plan ({type(err).__name__}: {err}): write it again") from None


def check_plan(made: Plan, target: Target, path: Path, now: datetime | None = None) -> None:
    """The plan is this deployment's and fresh: a plan file holds keys and user ids, and expires (docs/privacy.md)."""
    age = (now or datetime.now(UTC)) - made.created_at  # the wall clock: how old a file is is an operator's fact
    if age > PLAN_LIFETIME:
        raise UsageError(
            f"{path} was planned {made.created_at:%Y-%m-%d %H:%M} UTC, more than {PLAN_LIFETIME.days} day ago: a plan "
            "names users and chats and is not kept; delete it and make a new one with `consentry sweep --plan FILE`"
        )
    if (made.bucket, made.ledger_table) != (target.settings.bucket, target.settings.ledger_table):
        raise UsageError(
            f"{path} was planned for bucket {made.bucket!r} and ledger {made.ledger_table!r}, not this deployment's "
            f"({target.settings.bucket!r}, {target.settings.ledger_table!r}): check --prefix / --real"
        )


# -- applying it through the worker --------------------------------------------------------------


def messages(made: Plan, audit_id: str) -> list[SweepPlanPage]:
    """The `sweep-plan` work messages of a plan: pages of at most PAGE_CHATS chats and PAGE_BYTES of JSON."""
    pages: list[list[PlannedChat]] = [[]]
    size = 0
    for chat in made.chats:
        entry = PlannedChat(chat.user_id, chat.key, frozenset(chat.data_versions))
        length = len(json.dumps({"user_id": chat.user_id, "key": chat.key, "versions": chat.data_versions}))
        if pages[-1] and (len(pages[-1]) >= PAGE_CHATS or size + length > PAGE_BYTES):
            pages.append([])
            size = 0
        pages[-1].append(entry)
        size += length
    return [
        SweepPlanPage(now=made.now, audit=audit_id, page=str(i), chats=tuple(chats))
        for i, chats in enumerate(pages)
        if chats
    ]


def page_of(made: Plan) -> dict[str, str]:
    """Which page (as `messages` numbers them) each planned key is on."""
    return {chat.key: m.page for m in messages(made, "") for chat in m.chats}


def results(made: Plan, entry: AuditEntry | None, key_hash: Callable[[str], str]) -> list[dict[str, Any]]:
    """Each planned chat's outcome as the worker reported it in the audit entry (`pending` until its page ran)."""
    pages = entry.pages if entry is not None else {}
    where = page_of(made)
    rows = []
    for chat in made.chats:
        page = pages.get(where[chat.key])
        if page is None:
            outcome = "pending"
        else:
            outcome = str(dict(page.get("not_removed", {})).get(key_hash(chat.key), "removed"))
        rows.append(
            {
                "key": chat.key,
                "user_id": chat.user_id,
                "reason": chat.reason,
                "expires_at": chat.expires_at,
                "bytes": chat.bytes,
                "versions": len(chat.versions),
                "result": outcome,
            }
        )
    return rows


def summary(rows: Sequence[Mapping[str, Any]], held: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of outcomes; `held` counts every due chat a legal hold kept (not planned, or found held)."""
    counts = Counter(str(r["result"]).partition(":")[0] for r in rows)
    held_found = sum(r["result"] in ("held", "skipped:held") for r in rows)
    # Removed before this run (an earlier sweep, a plan applied again): gone, not a skip of something stored.
    gone_before = sum(r["result"] == "skipped:gone" for r in rows)
    return {
        "removed": counts["removed"],
        "gone": counts["gone"] + gone_before,
        "held": len(held) + held_found,
        "kept": counts["kept"],
        "skipped": counts["skipped"] - sum(r["result"] == "skipped:held" for r in rows) - gone_before,
        "pending": counts["pending"],
        "bytes_removed": sum(int(r["bytes"]) for r in rows if r["result"] == "removed"),
    }


# -- one deleting sweep at a time ----------------------------------------------------------------------

LEASE = "sweep"  # the ledger's lease of the deployment's sweep
LEASE_MINUTES = 15  # a sweep that died keeps others out this long at most


@contextmanager
def one_at_a_time(target: Target, holder: str) -> Iterator[None]:
    """Hold the deployment's sweep lease while this command deletes; refuse if another sweep holds it.

    Two sweeps applying the same chats at once each saw them removed and each
    reported the removals; with the lease the second one says who runs and
    changes nothing. It lives in the ledger (an UpdateItem, which the
    operator's role has for the audit trail), expires by the wall clock (an
    operational fact) so that a crashed command never blocks the next one,
    and is released when the command ends.
    """
    ledger = target.enforcer().ledger
    clock = datetime.now(UTC)
    held = ledger.take_lease(LEASE, holder, clock + timedelta(minutes=LEASE_MINUTES), clock)
    if held is not None:
        raise CommandError(
            f"another sweep is deleting {target.where} (audit entry {held.get('holder', '?')}, until "
            f"{held.get('until', '?')} at the latest): nothing deleted; wait for it (`consentry audit`) and plan again"
        )
    try:
        yield
    finally:
        ledger.release_lease(LEASE, holder, clock)


def pause(seconds: float) -> None:
    """Between two looks at the worker's progress (the tests replace it with a delivery of the work queue)."""
    time.sleep(seconds)


def wait_for(target: Target, entry_id: str, pages: int, seconds: float) -> AuditEntry | None:
    """Poll the audit entry until the worker has reported `pages` pages, or `seconds` have passed."""
    log = target.audit()
    deadline = time.monotonic() + seconds
    while True:
        entry = log.get(entry_id)
        if entry is not None and len(entry.pages) >= pages:
            return entry
        if time.monotonic() >= deadline:
            return entry
        pause(5.0)


# -- rendering -----------------------------------------------------------------------------------


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n} B"


def held_line(held: Sequence[Mapping[str, Any]]) -> str | None:
    if not held:
        return None
    return (
        f"{len(held)} due chat(s) under legal hold, skipped (kept until released): "
        + ", ".join(h["key"] for h in held[:5])
        + (f" and {len(held) - 5} more" if len(held) > 5 else "")
    )


def render_plan(made: Plan, style: Style, saved: str | None = None) -> str:
    totals = made.totals()
    lines = []
    if made.chats:
        lines.append(
            f"{totals['chats']} chat object(s) due at {instant(made.now)} {made.where}: {totals['versions']} "
            f"version(s), {_size(totals['bytes'])} (dry run: nothing deleted)"
        )
        lines.append(
            table(
                ["key", "reason", "state", "expired", "versions", "size"],
                [
                    [c.key, c.reason, c.state, instant(c.expires_at), len(c.versions), _size(c.bytes)]
                    for c in made.chats
                ],
            )
        )
    else:
        lines.append(f"nothing is due at {instant(made.now)} {made.where}")
    held = held_line(made.held)
    if held:
        lines.append(style.warn(held))
    if saved:
        lines.append(f"plan written to {saved}: review it, then `consentry sweep --apply {saved}` deletes exactly that")
    elif made.chats:
        lines.append("run without --dry-run to delete them (every version and delete marker)")
    return "\n".join(lines)


def render_results(
    rows: Sequence[Mapping[str, Any]], held: Sequence[Mapping[str, Any]], now: datetime, where: str, style: Style
) -> str:
    counts = summary(rows, held)
    labels = {
        "removed": style.good("removed"),
        "gone": "already gone",
        "held": style.warn("kept: legal hold"),
        "kept": style.warn("kept: taken back by an event"),
        "pending": style.dim("pending: the worker has not reported it yet"),
        **{k: style.dim(v) for k, v in SKIPPED.items()},
    }
    lines = []
    if rows:
        lines.append(
            table(
                ["key", "result", "reason", "expired"],
                [[r["key"], labels.get(r["result"], r["result"]), r["reason"], instant(r["expires_at"])] for r in rows],
            )
        )
    else:
        lines.append(f"nothing was due at {instant(now)} {where}: nothing deleted")
    held_text = held_line(held)
    if held_text:
        lines.append(style.warn(held_text))
    tail = (
        f"swept at {instant(now)} {where}: {counts['removed']} removed ({_size(counts['bytes_removed'])}), "
        f"{counts['gone']} already gone, {counts['held']} kept under legal hold, {counts['kept']} taken back, "
        f"{counts['skipped']} skipped on re-check"
    )
    if counts["pending"]:
        tail += f", {counts['pending']} pending"
    lines.append(tail)
    return "\n".join(lines)


def queued_text(made: Plan, entry_id: str, pages: int) -> str:
    return (
        f"handed {len(made.chats)} chat(s) to the worker in {pages} work message(s) {made.where}; it re-checks and "
        f"deletes each within minutes. Results: `consentry audit --id '{entry_id}'` "
        "(or rerun with --wait SECONDS)"
    )


def refuse_over(made: Plan, max_delete: int | None) -> None:
    if max_delete is not None and len(made.chats) > max_delete:
        raise CommandError(
            f"the plan deletes {len(made.chats)} chat(s), more than --max-delete {max_delete}: nothing deleted. "
            "Review it (`consentry sweep --plan FILE`), then raise --max-delete if it is right"
        )


__all__ = [
    "PLAN_KIND",
    "REAL_MAX_DELETE",
    "Plan",
    "Planned",
    "check_plan",
    "messages",
    "plan",
    "plan_json",
    "read_plan",
    "refuse_over",
    "render_plan",
    "render_results",
    "results",
    "summary",
    "wait_for",
]
