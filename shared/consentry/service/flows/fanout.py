"""Fan-out through the work queue: one page of work per message, the next page sent after it, once.

A page does its own work first, then sends the pages that follow, then
records itself done (a *work record*, keyed by a hash of the message, kept as
long as SQS may redeliver it). A redelivered or duplicated message finds its
record and does nothing, so a lost delete or a retried send duplicates at
most one page, never the rest of the chain. Messages that name no chain
(sent by hand) are simply run.

A user's chats are retagged in the 16 ranges of their hashed sort keys at
once (`consentry.service.aws.ledger.RANGES`): the root message sends one page per
range, and each range pages on by itself, so a 10k-chat user is retagged by
16 workers in parallel rather than by one chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from consentry.service.aws.chat_store import ObjectVersion
from consentry.service.aws.ledger import RANGES
from consentry.service.flows.enforcer import Change, Enforcer, raise_first
from consentry.service.flows.lifecycle import hold, on_retag
from consentry.service.flows.messages import HoldUser, Message, Position, RetagUser
from consentry.service.observability import count, logger
from consentry.service.policy import chat_key, user_prefixes
from consentry.service.records import Event

RETAG_PAGE = 500
REMOVED = ("removed", "gone", "skipped:taken")  # what `lifecycle.hold` returns for a chat no longer stored

R = TypeVar("R")
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Work(Generic[M]):
    """One work-queue message and what SQS says of its delivery."""

    message: M
    receive_count: int = 1
    sent_at: datetime | None = None  # SQS's SentTimestamp: the time of operational records (completion, work)


def work_id(enforcer: Enforcer, message: Message) -> str | None:
    """The id of a chained message's work record: a keyed hash of its canonical wire form."""
    return enforcer.names.key(message.canonical()) if message.chained else None


def once(enforcer: Enforcer, work: Work[M], page: Callable[[], tuple[R, list[M]]]) -> R | None:
    """Run one page unless it is done already; send what follows it after it; then record it done."""
    wid = work_id(enforcer, work.message)
    if wid is not None and enforcer.ledger.work_done(wid):
        logger.info("work page already done; duplicate skipped", extra={"work_id": wid})
        count("DuplicateWork")
        return None
    result, following = page()
    if following:
        enforcer.queue.send(following)
    if wid is not None:
        enforcer.ledger.finish_work(wid, work.sent_at or datetime.now(UTC))  # bookkeeping, not a policy decision
    return result


def in_range(enforcer: Enforcer, hash_range: str | None) -> AbstractContextManager[None]:
    """A page of one of a user's hash ranges runs with `settings.range_threads` (the ranges share a partition)."""
    return enforcer.threads_at_most(enforcer.settings.range_threads) if hash_range is not None else nullcontext()


# -- retag ----------------------------------------------------------------------------------------------


def request_retag(enforcer: Enforcer, user_ids: Iterable[str], chain: str = "") -> None:
    """Queue a retag of each user's chats (`chain`: what asked for it, e.g. a stream record's sequence number)."""
    enforcer.queue.send([RetagUser(user_id=uid, chain=chain) for uid in dict.fromkeys(user_ids)])


def retag(enforcer: Enforcer, work: Work[RetagUser]) -> int:
    """Decide again on one page of a user's chats (the root message: all of them if they fit one page).

    A user whose chats do not fit one page is retagged in the 16 ranges of
    the hashed sort keys at once: the root sends one page per range, and
    each range pages on by itself. On redelivery (an earlier try may have
    died between ledger and S3) the tags are compared with S3 instead of
    trusting the ledger. Returns the number of chats whose tags or record
    changed.
    """
    m = work.message

    def page() -> tuple[int, list[RetagUser]]:
        records, following = enforcer.ledger.user_chats(m.user_id, m.start, RETAG_PAGE, m.range)
        if following and m.range is None:
            return 0, [replace(m, range=r) for r in RANGES]  # more than a page: the ranges, in parallel
        update = on_retag(enforcer.policy)
        verify = work.receive_count > 1
        changes = [Change(r.user_id, r.key, Event.RETAG, None, update, check_s3=verify) for r in records]
        with in_range(enforcer, m.range):
            outcomes = enforcer.settle(changes, known={r.key: r for r in records})
        raise_first(outcomes)
        return sum(o.wrote_ledger or o.wrote_s3 for o in outcomes), ([m.following(following)] if following else [])

    return once(enforcer, work, page) or 0


# -- pages of a user's objects in S3 (holds on a whole user, the erasure's last pass) ----------------------


@dataclass(frozen=True)
class UserPage:
    """One listing page of a user's objects under one key pattern."""

    versions: dict[str, list[ObjectVersion]]  # our chat keys of the user on this page, every version listed
    listed: list[str]  # every key listed (ours or not), sorted
    truncated: bool
    following: tuple[str, str] | None  # S3's markers after this page


def user_page(enforcer: Enforcer, user_id: str, position: Position) -> UserPage:
    """The page of a user's object versions that starts at `position` (a fan-out message's).

    Versions of keys at or before `key_marker` are dropped: S3 starts after
    the marker key, moto lists the rest of its versions (and skips one).
    """
    prefixes = user_prefixes(user_id, enforcer.policy)
    marker = position.key_marker
    found, following = next(enforcer.chats.version_pages(prefixes[position.prefix], marker, position.version_marker))
    versions: dict[str, list[ObjectVersion]] = defaultdict(list)
    listed = set()
    for version in found:
        if marker and version.key <= marker and not position.version_marker:
            continue
        listed.add(version.key)
        chat = chat_key(version.key, enforcer.policy)
        if chat is not None and chat.user_id == user_id:
            versions[version.key].append(version)
    return UserPage(dict(versions), sorted(listed), following is not None, following)


def next_page(enforcer: Enforcer, user_id: str, position: Position, page: UserPage, gone: set[str]) -> Position | None:
    """Where the page after `page` starts (None after the last), `gone` the keys it removed.

    The next page starts after the last key of this page that still exists:
    each key on a page is handled whole (every version), and a marker naming
    a key or version that is gone is not a position S3 and moto agree on.
    """
    index = position.prefix
    if page.truncated:
        if not page.listed and page.following is not None:
            # Only versions of the marker key (more than a page of them): step through them by version.
            return Position(prefix=index, key_marker=page.following[0], version_marker=page.following[1])
        marker = max((k for k in page.listed if k not in gone), default=position.key_marker)
        return Position(prefix=index, key_marker=marker or None)
    if index + 1 < len(user_prefixes(user_id, enforcer.policy)):
        return Position(prefix=index + 1)
    return None


def hold_user_page(enforcer: Enforcer, work: Work[HoldUser]) -> int:
    """A legal hold on (or off) every chat of a user, one listing page per message, one after another."""
    m = work.message
    user_id, on, at = m.user_id, m.on, m.at

    def page() -> tuple[int, list[HoldUser]]:
        listing = user_page(enforcer, user_id, m.position)
        gone = set()
        for key, versions in listing.versions.items():
            # A release removes a deleted chat: its key is gone for the next page's marker.
            if any(not v.delete_marker for v in versions) and hold(enforcer, user_id, key, at, on=on) in REMOVED:
                gone.add(key)
        following = next_page(enforcer, user_id, m.position, listing, gone)
        return len(listing.versions), ([replace(m, position=following)] if following is not None else [])

    return once(enforcer, work, page) or 0
