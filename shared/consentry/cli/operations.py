"""`consentry hold` and `consentry erase`: chat events an operator raises, applied by the deployment.

A legal hold or an erasure is the `chat.app` event the chat app would send
(`Legal Hold Placed` / `Released`, `Erasure Requested`), at the wall clock's
time (an operator acts now), handed to the `chat_events` function
(`consentry.cli.handoff`). What it did is read back from the ledger.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from consentry.cli import sweep
from consentry.cli.handoff import Handoff
from consentry.cli.options import CommandError, UsageError
from consentry.cli.output import Progress, Style, instant, table
from consentry.cli.target import Target
from consentry.service.aws.ledger import ErasureRecord
from consentry.service.policy import chat_key


def seconds(at: datetime) -> datetime:
    """EventBridge's `time` has second precision: the instant the deployment will record."""
    return at.astimezone(UTC).replace(microsecond=0)


def user_of(target: Target, key: str) -> str:
    found = chat_key(key, target.policy)
    if found is None:
        patterns = ", ".join(f"{p.prefix}<user_id>/<id>{p.suffix}" for p in target.policy.keys)
        raise UsageError(f"{key!r} is not a chat key of ours ({patterns})")
    return found.user_id


def hold(target: Target, handoff: Handoff, on: bool, key: str | None, user_id: str | None) -> dict[str, Any]:
    """Place (or release) a legal hold on one chat or every chat of a user; what the ledger says after."""
    enforcer = target.enforcer()
    if key is not None:
        user_id = user_of(target, key)
        if enforcer.ledger.get(user_id, key) is None and not enforcer.chats.versions(key):
            raise CommandError(f"no chat {key!r} in the ledger or in bucket {target.settings.bucket!r} {target.where}")
    assert user_id is not None
    before: dict[str, bool] = {}
    if key is None:
        before = {r.key: r.held for r in enforcer.ledger.all_user_chats(user_id) if not r.removed}
        if not before:
            raise CommandError(
                f"no stored chat of user {user_id!r} in the ledger {target.where}: nothing to "
                f"{'hold' if on else 'release'} (`consentry explain --user {user_id}` shows what there is)"
            )
    at = seconds(datetime.now(UTC))
    detail = {"user_id": user_id, **({"key": key} if key is not None else {})}
    event = handoff.event("Legal Hold Placed" if on else "Legal Hold Released", detail, at)
    handoff.chat_event(event)
    done = handoff.drain()
    data: dict[str, Any] = {
        "action": "place" if on else "release",
        "key": key,
        "user_id": user_id,
        "at": at,
        "event_id": event["id"],
        "status": "applied" if done or key is not None else "queued",
    }
    if key is not None:
        record = enforcer.ledger.get(user_id, key)
        data.update(held=bool(record and record.held), state=record.state if record else None, chats=1)
    else:
        after = {r.key: r.held for r in enforcer.ledger.all_user_chats(user_id) if not r.removed}
        # Released: held before, and now not held or gone (a chat erased or deleted under the hold is removed
        # the moment it is released). Placed: held now.
        changed = (
            sum(after.get(k, False) for k in after)
            if on
            else sum(v and not after.get(k, False) for k, v in before.items())
        )
        data.update(held=None, state=None, chats=changed if done else None)
    return data


def render_hold(data: dict[str, Any]) -> str:
    verb = "placed on" if data["action"] == "place" else "released from"
    if data["key"] is not None:
        state = f"; the ledger says held={'yes' if data['held'] else 'no'}, state {data['state']}"
        return f"legal hold {verb} {data['key']} at {instant(data['at'])}{state}"
    if data["status"] == "queued":
        return (
            f"legal hold {verb} every chat of user {data['user_id']} at {instant(data['at'])}: queued; the worker "
            f"applies it page by page (`consentry explain --user {data['user_id']}` shows it)"
        )
    held = "held" if data["action"] == "place" else "not held"
    return (
        f"legal hold {verb} every chat of user {data['user_id']} at {instant(data['at'])}: {data['chats']} {held} now"
    )


# -- erasure -----------------------------------------------------------------------------------


def _erasure(target: Target, user_id: str, at: datetime) -> ErasureRecord | None:
    return next((e for e in target.enforcer().ledger.erasures(user_id) if e.requested_at == at), None)


def covered(target: Target, user_id: str, at: datetime) -> int:
    """Stored chats of the user the erasure at `at` still has to remove (held ones aside)."""
    records = target.enforcer().ledger.all_user_chats(user_id)
    return sum(not r.removed and not r.held and r.last_activity <= at for r in records)


def erase(
    target: Target, handoff: Handoff, user_id: str, wait: float | None, show_progress: bool = True
) -> dict[str, Any]:
    """Request the erasure of every chat of the user, now; follow it while `wait` allows (locally: to the end)."""
    at = seconds(datetime.now(UTC))
    total = covered(target, user_id, at)
    progress = Progress(total, "erase") if show_progress and total else None

    def advance() -> None:
        if progress is not None:
            progress.done = total - covered(target, user_id, at)
            progress.draw()

    event = handoff.event("Erasure Requested", {"user_id": user_id}, at)
    handoff.chat_event(event)
    handoff.drain(advance)
    record = _erasure(target, user_id, at)
    if record is None:
        raise CommandError(f"the chat_events function did not record the erasure of {user_id!r}: check its logs")
    deadline = time.monotonic() + (wait or 0)
    while record.completed_at is None and time.monotonic() < deadline:
        sweep.pause(5.0)
        advance()
        record = _erasure(target, user_id, at) or record
    advance()
    if progress is not None:
        progress.finish()
    return {
        "user_id": user_id,
        "request_id": event["id"],
        **erasure_json(record),
        "remaining": covered(target, user_id, at),
    }


def erasure_json(e: ErasureRecord) -> dict[str, Any]:
    return {
        "requested_at": e.requested_at,
        "completed_at": e.completed_at,
        "status": "complete" if e.completed_at else "in progress",
        "removed": e.removed,
        "held": e.held,
        "held_key_hashes": sorted(e.held_keys),
    }


def status(target: Target, user_id: str) -> dict[str, Any]:
    erasures = sorted(target.enforcer().ledger.erasures(user_id), key=lambda e: e.requested_at)
    latest = erasures[-1].requested_at if erasures else None
    records = list(target.enforcer().ledger.all_user_chats(user_id)) if latest else []
    stored = [r for r in records if latest and not r.removed and r.last_activity <= latest]
    return {
        "user_id": user_id,
        "erasures": [{"request_id": e.request_id, **erasure_json(e)} for e in erasures],
        "remaining": len(stored),  # every chat the latest request covers that is still stored, held ones too
        "held": sum(r.held for r in stored),
    }


def render_erase(data: dict[str, Any]) -> str:
    if data["status"] == "complete":
        text = (
            f"erasure of user {data['user_id']} requested at {instant(data['requested_at'])}: complete at "
            f"{instant(data['completed_at'])}, {data['removed']} chat(s) removed"
        )
    else:
        text = (
            f"erasure of user {data['user_id']} requested at {instant(data['requested_at'])}: in progress "
            f"({data['remaining']} chat(s) left); `consentry erase status --user {data['user_id']}` follows it"
        )
    if data["held"]:
        text += f", {data['held']} kept under legal hold (removed when released)"
    return text


def render_status(data: dict[str, Any], style: Style) -> str:
    if not data["erasures"]:
        return f"no erasure requested for user {data['user_id']}"
    rows = [
        [
            instant(e["requested_at"]),
            instant(e["completed_at"]) if e["completed_at"] else style.warn("in progress"),
            e["removed"],
            e["held"],
        ]
        for e in data["erasures"]
    ]
    lines = [
        f"erasure requests of user {data['user_id']}",
        table(["requested (event time)", "completed (wall clock)", "removed", "held"], rows),
    ]
    if data["remaining"]:
        held = f", {data['held']} of them under legal hold (removed when released)" if data["held"] else ""
        lines.append(style.warn(f"{data['remaining']} chat(s) covered by the latest request are still stored{held}"))
    return "\n".join(lines)
