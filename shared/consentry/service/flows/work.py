"""The work queue's dispatch: every internal fan-out message names the page of work it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from consentry.service.flows.enforcer import Enforcer
from consentry.service.flows.erasure import erase
from consentry.service.flows.fanout import Work, hold_user_page, once, retag
from consentry.service.flows.messages import (
    EraseUser,
    HoldUser,
    Message,
    RetagUser,
    SweepPlanPage,
    SweepShard,
    from_wire,
)
from consentry.service.flows.sweep import sweep_page, sweep_planned


def sweep_plan_page(enforcer: Enforcer, work: Work[SweepPlanPage]) -> dict[str, int]:
    """One page of a reviewed deletion plan (`consentry sweep --apply`): its chats swept, each checked first.

    The message: `now` (the instant the plan was made for), `chats` (user id,
    key and the planned version ids of each), and, when an operator command
    sent it, `audit` (its audit entry) and `page`: the page's counts and the
    hash of each chat not removed, with why, are added to that entry.
    """
    m = work.message

    def page() -> tuple[dict[str, int], list[SweepPlanPage]]:
        outcome = sweep_planned(enforcer, m.chats, m.now)
        counts = dict(Counter(result.partition(":")[0] for result in outcome.values()))
        if m.audit:
            others = {enforcer.names.key(key): result for key, result in outcome.items() if result != "removed"}
            enforcer.ledger.audit_log().page_done(m.audit, m.page, {**counts, "not_removed": others})
        return counts, []

    return once(enforcer, work, page) or {}


PAGES: Mapping[type[Message], Callable[[Enforcer, Work[Any]], Any]] = {
    RetagUser: retag,
    SweepShard: sweep_page,
    EraseUser: erase,
    HoldUser: hold_user_page,
    SweepPlanPage: sweep_plan_page,
}


def run_work(
    enforcer: Enforcer, message: Mapping[str, Any] | Message, receive_count: int = 1, sent_at: datetime | None = None
) -> Any:
    """One work-queue message (its wire form, or the message): the page of fan-out it names.

    A wire form that is no message raises `BadMessage` before any work.
    """
    typed = message if isinstance(message, Message) else from_wire(message)
    return PAGES[type(typed)](enforcer, Work(typed, receive_count, sent_at))
