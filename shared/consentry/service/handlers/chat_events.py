"""EventBridge chat.app events -> Lambda: reopen, archive, delete, erasure, legal holds.

A rejected event (it does not parse, or its user does not own its key) is
logged and counted and raises nothing: retrying cannot help. Any other error
leaves the handler (scrubbed), and Lambda retries the event, then sends it to
the on-failure queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consentry.service.flows import lifecycle
from consentry.service.flows.enforcer import Enforcer
from consentry.service.handlers import events
from consentry.service.handlers.batch import enforcer, entry_point
from consentry.service.observability import count, logger, mention

if TYPE_CHECKING:
    from consentry.service.deadline import RemainingTime as LambdaContext


def chat_event(event: dict[str, Any]) -> str:
    """One `chat.app` event; what was done. Rejected events raise nothing and change nothing."""
    detail = event.get("detail")
    if isinstance(detail, dict):  # before parsing: an error about a malformed event may quote them
        mention("user", *(v for v in [detail.get("user_id")] if isinstance(v, str)))
        mention("key", *(v for v in [detail.get("key")] if isinstance(v, str)))
    try:
        parsed = events.chat_event(event)
        app = enforcer()
        return _dispatch(app, parsed)
    except (events.BadEvent, lifecycle.EventRejected) as err:
        logger.error("chat event rejected", extra={"event_id": event.get("id"), "error": str(err)})
        count("RejectedEvents")
        return "rejected"


def _dispatch(app: Enforcer, e: events.ChatEvent) -> str:
    if e.detail_type == "Erasure Requested":
        from consentry.service.flows.erasure import start_erasure

        started = start_erasure(app, e.user_id, e.at, e.event_id)
        return "erasure started" if started else "erasure already recorded"
    if e.detail_type in ("Legal Hold Placed", "Legal Hold Released"):
        on = e.detail_type == "Legal Hold Placed"
        if e.key is None:
            from consentry.service.flows.messages import HoldUser

            app.queue.send([HoldUser(user_id=e.user_id, on=on, at=e.at)])
            return "hold queued"
        return lifecycle.hold(app, e.user_id, e.key, e.at, on=on)
    assert e.key is not None
    if e.detail_type == "Chat Reopened":
        lifecycle.reopen(app, e.user_id, e.key, e.at)
        return "reopened"
    if e.detail_type == "Chat Archived":
        lifecycle.archive(app, e.user_id, e.key, e.at)
        return "archived"
    return lifecycle.delete_chat(app, e.user_id, e.key, e.at)


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    logger.info("chat event handled", extra={"outcome": chat_event(event)})
