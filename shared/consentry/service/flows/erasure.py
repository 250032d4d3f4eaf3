"""`Erasure Requested`: every chat of the user whose last activity is at or before the request, removed.

The request is recorded, then its root message deletes and purges the
user's chats known to the ledger, all at once when they fit one page; else
it sends one page per hash range of the user's records
(`consentry.service.aws.ledger.RANGES`): the 16 ranges run in parallel, each paging
on by itself. When the last range is done, one pass over the user's objects in S3 catches what the
ledger never saw (written before deployment, lost notifications); its last
page closes the request with its counts, taken from the ledger (so that a
redelivered or duplicated page cannot count a chat twice or miss one), and
the hashes of the chats a legal hold keeps. The record holds no user id and
no key, and expires (`ttl`) once nothing is held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from consentry.service.aws.ledger import RANGES
from consentry.service.flows.enforcer import Change, Enforcer, ReadFacts, raise_first
from consentry.service.flows.fanout import Work, in_range, next_page, once, user_page
from consentry.service.flows.lifecycle import on_delete, purge
from consentry.service.flows.messages import LISTING, EraseUser, Position
from consentry.service.records import ChatRecord, Event, State

ERASE_PAGE = 200


def start_erasure(enforcer: Enforcer, user_id: str, at: datetime, request_id: str = "") -> bool:
    """Record the request (False: recorded before) and queue its root message.

    The root goes out even when the request was recorded before, unless it is
    complete: a try that died between the two must not leave it unstarted
    (the root's work record makes a second one do nothing).
    """
    created = enforcer.ledger.start_erasure(user_id, at, request_id)
    if created or not any(e.requested_at == at and e.completed_at for e in enforcer.ledger.erasures(user_id)):
        enforcer.queue.send([EraseUser(user_id=user_id, at=at)])
    return created


def erase(enforcer: Enforcer, work: Work[EraseUser]) -> tuple[int, int]:
    """One message of an erasure: the root, a range page or a listing page. Returns this page's (removed, held)."""
    if work.message.part == LISTING:
        return once(enforcer, work, lambda: _listing_page(enforcer, work)) or (0, 0)
    return once(enforcer, work, lambda: _range_page(enforcer, work)) or (0, 0)


def _remove(enforcer: Enforcer, user_id: str, at: datetime, chats: Mapping[str, ChatRecord | None]) -> dict[str, str]:
    """Delete (ledger, tags) then purge the chats the request covers; results by key.

    A chat with a version stored after the request has its last activity
    after it: not covered (a write after the request follows the normal
    rules, even when its event is not processed yet).
    """
    keys = list(chats)
    listings = dict(zip(keys, enforcer.parallel(enforcer.chats.versions, keys), strict=True))
    covered = {}
    for key in keys:
        newest = max((v.last_modified for v in listings[key] if not v.delete_marker), default=None)
        if newest is None or newest <= at:
            covered[key] = chats[key]
    update = on_delete(at, enforcer.policy, covers_after=False)
    changes = [
        Change(user_id, k, Event.DELETE, at, update, facts=ReadFacts.IF_UNKNOWN, check_s3=True, label="erase")
        for k in covered
    ]
    known = {k: r for k, r in covered.items() if r is not None}
    outcomes = enforcer.settle(changes, known=known if len(known) == len(covered) else None)
    raise_first(outcomes)
    deleted = {o.change.key: o.record for o in outcomes if o.record is not None and o.record.deleted_at is not None}
    return purge(enforcer, deleted, at, versions={key: listings[key] for key in deleted})


def _covered(record: ChatRecord, at: datetime) -> bool:
    return record.deleted_at is not None or record.last_activity <= at


def _range_page(enforcer: Enforcer, work: Work[EraseUser]) -> tuple[tuple[int, int], list[EraseUser]]:
    """One page of the user's ledger records (the root: all of them, if they fit one page)."""
    m = work.message
    user_id, at = m.user_id, m.at
    records, following = enforcer.ledger.user_chats(user_id, m.start, ERASE_PAGE, m.range)
    if following and m.range is None:
        return (0, 0), [replace(m, range=r) for r in RANGES]  # more than a page: the ranges, in parallel
    with in_range(enforcer, m.range):
        results = _remove(enforcer, user_id, at, {r.key: r for r in records if _covered(r, at)})
    if following:
        return _tally(results), [m.following(following)]
    listing = m.listing(Position())
    if m.range is None:
        return _tally(results), [listing]
    erasure = enforcer.ledger.erasure_range_done(user_id, at, m.range)
    all_ranges = erasure is not None and set(RANGES) <= erasure.ranges_done
    return _tally(results), ([listing] if all_ranges else [])


def _listing_page(enforcer: Enforcer, work: Work[EraseUser]) -> tuple[tuple[int, int], list[EraseUser]]:
    """Objects of the user in S3 that the ranges did not remove: unknown to the ledger, or recorded meanwhile."""
    m = work.message
    user_id, at = m.user_id, m.at
    page = user_page(enforcer, user_id, m.position)
    records = enforcer.ledger.get_many([(user_id, k) for k in page.versions])
    covered: dict[str, ChatRecord | None] = {}
    for key, versions in page.versions.items():
        record = records.get(key)
        if record is None:
            activity = max((v.last_modified for v in versions if not v.delete_marker), default=None)
            if activity is not None and activity <= at:
                covered[key] = None
        elif not record.removed and _covered(record, at):
            covered[key] = record
    results = _remove(enforcer, user_id, at, covered)
    following = next_page(enforcer, user_id, m.position, page, {k for k, r in results.items() if r != "held"})
    if following is not None:
        return _tally(results), [m.listing(following)]
    removed, held_keys = erasure_counts(enforcer, user_id, at)
    # An operational record: completed when SQS handed over its last page.
    enforcer.ledger.finish_erasure(user_id, at, work.sent_at or datetime.now(UTC), removed, held_keys)
    return _tally(results), []


def _tally(results: Mapping[str, str]) -> tuple[int, int]:
    outcome = list(results.values())
    return outcome.count("removed") + outcome.count("gone"), outcome.count("held")


def erasure_counts(enforcer: Enforcer, user_id: str, at: datetime) -> tuple[int, set[str]]:
    """(removed, hashes of held chats) of the erasure requested at `at`, from the user's ledger records.

    Removed: the chats this request deleted and removed. Held: every deleted
    chat of the user (by this request or before it) that a legal hold keeps.
    """
    removed, held = 0, set()
    for chat in enforcer.ledger.deletions(user_id):
        if chat.deleted_at == at and chat.state == State.REMOVED:
            removed += 1
        elif chat.deleted_at <= at and chat.state in (State.DELETED, State.REMOVING) and chat.held:
            held.add(chat.key_hash)
    return removed, held
