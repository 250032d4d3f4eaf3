"""The work queue's dispatch: every internal fan-out message names the page of work it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from consentry.aws.audit import AuditLog
from consentry.flows.enforcer import Enforcer
from consentry.flows.erasure import erase
from consentry.flows.fanout import Work, hold_user_page, once, retag
from consentry.flows.lifecycle import EventRejected
from consentry.flows.sweep import PlannedChat, sweep_page, sweep_planned
from consentry.policy import parse_instant


def sweep_plan_page(enforcer: Enforcer, work: Work) -> dict[str, int]:
    """One page of a reviewed deletion plan (`consentry sweep --apply`): its chats swept, each checked first.

    The message: `now` (the instant the plan was made for), `chats` (user id,
    key and the planned version ids of each), and, when an operator command
    sent it, `audit` (its audit entry) and `page`: the page's counts and the
    hash of each chat not removed, with why, are added to that entry.
    """
    m = work.message
    now = parse_instant(m["now"])
    planned = [PlannedChat(c["user_id"], c["key"], frozenset(c["versions"])) for c in m["chats"]]

    def page() -> tuple[dict[str, int], list[dict[str, Any]]]:
        outcome = sweep_planned(enforcer, planned, now)
        counts = dict(Counter(result.partition(":")[0] for result in outcome.values()))
        if m.get("audit"):
            others = {enforcer.names.key(key): result for key, result in outcome.items() if result != "removed"}
            log = AuditLog(enforcer.ledger.client, enforcer.ledger.table, tombstone_days=enforcer.policy.tombstone_days)
            log.page_done(str(m["audit"]), str(m.get("page", "0")), {**counts, "not_removed": others})
        return counts, []

    return once(enforcer, work, page) or {}


PAGES: Mapping[str, Callable[[Enforcer, Work], Any]] = {
    "retag": retag,
    "sweep": sweep_page,
    "erase": erase,
    "hold": hold_user_page,
    "sweep-plan": sweep_plan_page,
}


def run_work(
    enforcer: Enforcer, message: Mapping[str, Any], receive_count: int = 1, sent_at: datetime | None = None
) -> Any:
    """One work-queue message: the page of fan-out it names."""
    page = PAGES.get(str(message.get("type")))
    if page is None:
        raise EventRejected(f"unknown work message type: {message.get('type')!r}")
    return page(enforcer, Work(message, receive_count, sent_at))
