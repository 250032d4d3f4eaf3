"""The work queue's dispatch: every internal fan-out message names the page of work it is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from consentry.flows.enforcer import Enforcer
from consentry.flows.erasure import erase
from consentry.flows.fanout import Work, hold_user_page, retag
from consentry.flows.lifecycle import EventRejected
from consentry.flows.sweep import sweep_page

PAGES: Mapping[str, Callable[[Enforcer, Work], Any]] = {
    "retag": retag,
    "sweep": sweep_page,
    "erase": erase,
    "hold": hold_user_page,
}


def run_work(
    enforcer: Enforcer, message: Mapping[str, Any], receive_count: int = 1, sent_at: datetime | None = None
) -> Any:
    """One work-queue message: the page of fan-out it names."""
    page = PAGES.get(str(message.get("type")))
    if page is None:
        raise EventRejected(f"unknown work message type: {message.get('type')!r}")
    return page(enforcer, Work(message, receive_count, sent_at))
