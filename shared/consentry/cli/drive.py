"""`consentry chat` and `consentry consent set`: play the chat app and the account service on a local server.

On a local deployment nothing else sends chat events or writes consent
records, so a developer drives them from the shell: `chat reopen|archive|
delete KEY` raises the `chat.app` event the chat app would, and `consent set
USER` writes the user's consent record as the account service would (the
stream carries it to the handlers). On a real account, or any endpoint that is
not a local `consentry serve`, both are refused: there the chat app and the
account service own them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from consentry.cli.consent import unknown_tier
from consentry.cli.handoff import LocalHandoff
from consentry.cli.operations import seconds, user_of
from consentry.cli.options import CommandError
from consentry.cli.output import instant
from consentry.cli.target import Target

EVENTS = {"reopen": "Chat Reopened", "archive": "Chat Archived", "delete": "Chat Deleted"}


def refuse_unless_local(target: Target, what: str, owner: str) -> None:
    if target.guarded:
        raise CommandError(
            f"{what} is for a local `consentry serve` only; {target.where} the {owner} owns it "
            "(this command never writes there)"
        )


def chat_event(target: Target, hand: LocalHandoff, action: str, key: str, at: datetime) -> dict[str, Any]:
    """Raise `Chat Reopened|Archived|Deleted` for `key` at `at`; what the ledger says after."""
    user_id = user_of(target, key)
    enforcer = target.enforcer()
    if enforcer.ledger.get(user_id, key) is None and not enforcer.chats.versions(key):
        raise CommandError(f"no chat {key!r} in the ledger or in bucket {target.settings.bucket!r} {target.where}")
    at = seconds(at)
    event = hand.event(EVENTS[action], {"user_id": user_id, "key": key}, at)
    hand.chat_event(event)
    hand.drain()
    found = enforcer.ledger.get(user_id, key)
    return {
        "event": EVENTS[action],
        "key": key,
        "user_id": user_id,
        "at": at,
        "event_id": event["id"],
        "state": found.state if found else "removed",
        "eligible": bool(found and not found.removed and found.eligible),
        "expires_at": found.expires_at if found else None,
    }


def render_chat_event(data: dict[str, Any]) -> str:
    expiry = f", expires {instant(data['expires_at'])}" if data["expires_at"] else ""
    return (
        f"{data['event']} sent for {data['key']} at {instant(data['at'])}: state {data['state']}, "
        f"{'eligible' if data['eligible'] else 'not eligible'}{expiry}"
    )


def set_consent(
    target: Target, hand: LocalHandoff, user_id: str, answer: str | None, tier: str | None, at: datetime
) -> dict[str, Any]:
    """Write the user's consent record at `at`; the record written."""
    if answer is None and tier is None:
        raise CommandError("say what to set: --granted, --denied, --pending and/or --tier T")
    problem = unknown_tier(target.policy, tier)
    if problem is not None:
        raise CommandError(problem)
    try:
        record = hand.runtime.set_consent(user_id, seconds(at), answer=answer, tier=tier)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if target.runtime is not None:  # the embedded server: no serve loop delivers the stream but ours
        target.runtime.settle()
    plain = {k: int(v) if isinstance(v, Decimal) else v for k, v in record.items()}  # DynamoDB numbers
    return {"user_id": user_id, "at": seconds(at), "record": plain, "delivered": target.runtime is not None}


def render_consent(data: dict[str, Any]) -> str:
    record = data["record"]
    consent = record.get("training_consent", "pending")
    then = "applied" if data["delivered"] else "the server's loop delivers it to the handlers (within a second)"
    return (
        f"consent record of {data['user_id']} at {instant(data['at'])}: {consent}, tier {record.get('tier')}, "
        f"version {record['version']}; {then}"
    )
