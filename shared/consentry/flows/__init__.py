"""One flow per trigger: load facts, decide through the policy core, apply.

Each `on_*` function builds the `Update` of one kind of event (pure: ledger
record, consent record and object facts in, record out); the flow functions
turn events into targets and settle them. Fan-out (a user's chats, sweep
pages, erasure, holds on a whole user) goes through the work queue one page
per message, each message enqueueing the next page before doing its own, so
that Lambda concurrency spreads a large user over many workers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from consentry.aws.chat_store import ObjectFacts, ObjectVersion
from consentry.aws.ledger import DUE_SHARDS, ChatRecord, Conflict
from consentry.flows.enforcer import MAX_ROUNDS, Enforcer, Outcome, Target, Update, chat_of, evaluate
from consentry.observability import count, logger
from consentry.policy import (
    Chat,
    ChatKey,
    ConsentRecord,
    Policy,
    chat_key,
    format_instant,
    parse_instant,
    user_prefixes,
)

RETAG_PAGE = 500
SWEEP_PAGE = 100


class EventRejected(ValueError):
    """An event that must change nothing (wrong user for the key, unknown type); logged and counted."""


# -- updates: what each event does to one chat's record -----------------------


def _stale_after_deletion(current: ChatRecord | None, at: datetime) -> bool:
    return current is not None and current.deleted_at is not None and at <= current.deleted_at


def _ended(current: ChatRecord) -> bool:
    """No live chat behind the record: deleted, erased or swept."""
    return current.deleted_at is not None or current.state == "removed"


def on_write(at: datetime, policy: Policy, state: str = "active") -> Update:
    """S3 ObjectCreated (or backfill, with LastModified): last activity = `at`."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if facts is None or _stale_after_deletion(current, at):
            return None
        if current is None or _ended(current):
            # New, or written again after a deletion, erasure or sweep: the normal rules, from `at`.
            return evaluate(
                Chat(facts.key, consent.user_id, at, facts.incognito),
                consent,
                policy,
                state=state,
                held=current.held if current else False,
                version_id=facts.version_id,
                revision=current.revision if current else 0,
                history=current.history if current else (),
            )
        chat = Chat(facts.key, current.user_id, max(current.last_activity, at), facts.incognito)
        # A write lands before the sweep's deletion of the chat it renews: the sweep sees it and stops.
        live = "active" if current.state == "removing" else current.state
        return evaluate(chat, consent, policy, base=current, version_id=facts.version_id, state=live)

    return update


def on_reopen(at: datetime, policy: Policy) -> Update:
    """`Chat Reopened`: last activity = event time; retention restarts."""
    write = on_write(at, policy)

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None or _ended(current):
            return write(current, consent, facts)
        chat = replace(chat_of(current), last_activity=max(current.last_activity, at))
        return evaluate(chat, consent, policy, base=current, state="active")

    return update


def on_archive(at: datetime, policy: Policy) -> Update:
    """`Chat Archived`: recorded; tags unchanged."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None:
            # Archiving is not activity: a chat first seen through its archive event dates from its write.
            return None if facts is None else on_write(facts.last_modified, policy, "archived")(current, consent, facts)
        if _ended(current) or current.state == "removing":
            return None  # archiving is not activity: it does not save a chat the sweep is removing
        return replace(current, state="archived")

    return update


def on_retag(policy: Policy) -> Update:
    """Consent or tier changed: decide again on the facts the ledger holds."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None or current.state in ("removed", "removing"):
            return None
        return evaluate(chat_of(current), consent, policy, base=current)

    return update


def on_delete(at: datetime, policy: Policy, covers_after: bool = True) -> Update:
    """`Chat Deleted` (or erasure): ineligible at once, due at once.

    With `covers_after=False` (erasure) a chat whose last activity is after
    `at` is not covered.
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is not None and current.deleted_at is not None:
            return None  # already deleted
        if current is not None and not covers_after and current.last_activity > at:
            return None
        if current is None:
            if facts is None:
                return None
            chat = Chat(facts.key, consent.user_id, facts.last_modified, facts.incognito, deleted_at=at)
            return evaluate(chat, consent, policy, state="deleted", held=False, version_id=facts.version_id)
        chat = replace(chat_of(current), deleted_at=at)
        return evaluate(chat, consent, policy, base=current, state="deleted")

    return update


def on_removed(at: datetime) -> Update:
    """Every version removed by a purge at `at`.

    Only a deleted chat, or one due at `at`: a record written again since the
    purge listed its versions has a live version and is left alone.
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None or current.state == "removed":
            return None
        if current.deleted_at is None and current.expires_at > at:
            return None
        return replace(current, state="removed", eligible=False)

    return update


def on_hold(on: bool, policy: Policy) -> Update:
    """Legal hold placed or released: eligibility unchanged; the sweep skips held chats."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None:
            if facts is None:
                return None
            chat = Chat(facts.key, consent.user_id, facts.last_modified, facts.incognito)
            return evaluate(chat, consent, policy, state="active", held=on, version_id=facts.version_id)
        return None if current.held == on else replace(current, held=on)

    return update


# -- flows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One S3 ObjectCreated notification, parsed."""

    key: str
    at: datetime
    token: str = ""  # which message it came in


def own_chat(enforcer: Enforcer, key: str, user_id: str | None = None) -> ChatKey | None:
    """The chat a key names if it is ours (and belongs to `user_id` when given)."""
    found = chat_key(key, enforcer.policy)
    if found is None:
        logger.info("not a chat key of ours; ignored", extra={"key": key})
        count("IgnoredKeys")
        return None
    if user_id is not None and found.user_id != user_id:
        raise EventRejected(f"user_id {user_id!r} does not own key {key!r}")
    return found


def raise_first(outcomes: Iterable[Outcome]) -> None:
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error


def tag_on_write(enforcer: Enforcer, writes: Sequence[Write]) -> dict[str, Exception]:
    """Tag newly written chats; errors by message token (empty when all settled)."""
    targets, tokens = [], []
    for write in writes:
        chat = own_chat(enforcer, write.key)
        if chat is not None:
            update = on_write(write.at, enforcer.policy)
            targets.append(Target(chat.user_id, write.key, "write", write.at, update, facts="always", check_s3=True))
            tokens.append(write.token)
    errors: dict[str, Exception] = {}
    for token, outcome in zip(tokens, enforcer.settle(targets), strict=True):
        if outcome.error is not None:
            errors.setdefault(token, outcome.error)
    return errors


def reopen(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> None:
    if own_chat(enforcer, key, user_id):
        update = on_reopen(at, enforcer.policy)
        raise_first(enforcer.settle([Target(user_id, key, "reopen", at, update, facts="if-unknown")]))


def archive(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> None:
    if own_chat(enforcer, key, user_id):
        update = on_archive(at, enforcer.policy)
        raise_first(enforcer.settle([Target(user_id, key, "archive", at, update, facts="if-unknown")]))


def retag_user(enforcer: Enforcer, user_id: str, start: Mapping[str, Any] | None = None, verify: bool = False) -> int:
    """Decide again on one page of a user's chats; the next page goes to the queue first.

    `verify` compares with S3's tags instead of trusting the ledger (used on
    redelivery, when an earlier try may have died between ledger and S3).
    Returns the number of chats whose tags or record changed.
    """
    records, following = enforcer.ledger.user_chats(user_id, start, RETAG_PAGE)
    if following:
        enforcer.queue.send([{"type": "retag", "user_id": user_id, "start": following}])
    update = on_retag(enforcer.policy)
    targets = [Target(user_id, r.key, "retag", None, update, check_s3=verify) for r in records if r.state != "removed"]
    outcomes = enforcer.settle(targets, known={r.key: r for r in records})
    raise_first(outcomes)
    return sum(o.wrote_ledger or o.wrote_s3 for o in outcomes)


def request_retag(enforcer: Enforcer, user_ids: Iterable[str]) -> None:
    enforcer.queue.send([{"type": "retag", "user_id": uid} for uid in dict.fromkeys(user_ids)])


def purge(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> str:
    """Remove every version and delete marker of a chat unless held: `removed`, `held` or `gone`."""
    record = enforcer.ledger.get(user_id, key)
    return remove_chats(enforcer, user_id, {key: record}, {key: enforcer.chats.versions(key)}, at)[key]


def remove_chats(
    enforcer: Enforcer,
    user_id: str,
    records: Mapping[str, ChatRecord | None],
    versions: Mapping[str, Sequence[ObjectVersion]],
    at: datetime,
) -> dict[str, str]:
    """Remove the listed versions of each chat not under a legal hold, in as few calls as S3 allows.

    `records` are the chats' ledger records as just read or written, `versions`
    every version and delete marker of each. Returns `removed`, `held` or
    `gone` (nothing was left) by key.
    """
    results = {key: "held" for key, record in records.items() if record is not None and record.held}
    doomed = [v for key in records if key not in results for v in versions.get(key, ())]
    locked = enforcer.chats.remove_versions(doomed)
    if locked:
        logger.warning("legal hold in S3 refused the deletion; waiting for release", extra={"keys": sorted(locked)})
        hold_on = on_hold(True, enforcer.policy)
        raise_first(enforcer.settle([Target(user_id, key, "hold", at, hold_on) for key in sorted(locked)]))
    for key, record in records.items():
        if key in results or key in locked:
            results[key] = "held"
            continue
        record_removed(enforcer, user_id, key, at, record)
        count("ObjectsRemoved")
        results[key] = "removed" if versions.get(key) else "gone"
    return results


def record_removed(enforcer: Enforcer, user_id: str, key: str, at: datetime, known: ChatRecord | None = None) -> None:
    """Mark the chat `removed` in the ledger, conditionally on the revision read (`known`: just read).

    Not through `Enforcer.settle`: it compares tags with S3 whenever ours would
    change (eligible turns false) or never fitted, and S3 has nothing left to
    compare with, so the removal would never be recorded.
    """
    update = on_removed(at)
    for round_ in range(MAX_ROUNDS):
        current = known if round_ == 0 and known is not None else enforcer.ledger.get(user_id, key)
        new = update(current, ConsentRecord(user_id), None)
        if new is None:
            return
        try:
            enforcer.write_record("removed", at, new, current)
            return
        except Conflict:
            continue
    raise Conflict(f"{key}: still contended after {MAX_ROUNDS} rounds")


def delete_chat(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> str:
    """`Chat Deleted`: ineligible at once, then every version removed unless held."""
    if not own_chat(enforcer, key, user_id):
        return "ignored"
    update = on_delete(at, enforcer.policy)
    raise_first(enforcer.settle([Target(user_id, key, "delete", at, update, facts="if-unknown")]))
    return purge(enforcer, user_id, key, at)


def hold(enforcer: Enforcer, user_id: str, key: str, on: bool, at: datetime) -> str:
    """Legal hold on or off on every version of one chat; on release, a deleted chat is removed."""
    if not own_chat(enforcer, key, user_id):
        return "ignored"
    if on:
        # Ledger first: from here the sweep and deletions skip the chat, before S3 locks it.
        raise_first(enforcer.settle([Target(user_id, key, "hold", at, on_hold(True, enforcer.policy), "if-unknown")]))
        enforcer.chats.set_legal_hold(key, True)
        return "held"
    enforcer.chats.set_legal_hold(key, False)
    raise_first(enforcer.settle([Target(user_id, key, "release", at, on_hold(False, enforcer.policy), "if-unknown")]))
    record = enforcer.ledger.get(user_id, key)
    if record is None or record.state != "deleted":
        return "released"
    result = purge(enforcer, user_id, key, at)
    if result != "held" and record.deleted_at is not None:
        # Erasures that counted this chat as held now count it as removed.
        for erasure in enforcer.ledger.erasures(user_id):
            if erasure.held > 0 and erasure.requested_at >= record.deleted_at:
                enforcer.ledger.release_erasure_hold(user_id, erasure.requested_at, key)
    return result


@dataclass(frozen=True)
class UserPage:
    """One listing page of a user's objects under one key pattern."""

    versions: dict[str, list[ObjectVersion]]  # our chat keys of the user on this page, every version listed
    listed: list[str]  # every key listed (ours or not), sorted
    truncated: bool
    following: tuple[str, str] | None  # S3's markers after this page


def user_page(enforcer: Enforcer, user_id: str, message: Mapping[str, Any]) -> UserPage:
    """The page of a user's object versions that a fan-out message names (`prefix`, `key_marker`).

    Versions of keys at or before `key_marker` are dropped: S3 starts after
    the marker key, moto lists the rest of its versions (and skips one).
    """
    prefixes = user_prefixes(user_id, enforcer.policy)
    marker = message.get("key_marker")
    found, following = next(
        enforcer.chats.version_pages(prefixes[int(message.get("prefix", 0))], marker, message.get("version_marker"))
    )
    versions: dict[str, list[ObjectVersion]] = defaultdict(list)
    listed = set()
    for version in found:
        if marker and version.key <= marker and not message.get("version_marker"):
            continue
        listed.add(version.key)
        chat = chat_key(version.key, enforcer.policy)
        if chat is not None and chat.user_id == user_id:
            versions[version.key].append(version)
    return UserPage(dict(versions), sorted(listed), following is not None, following)


def next_page(
    enforcer: Enforcer, user_id: str, message: Mapping[str, Any], page: UserPage, gone: set[str]
) -> dict[str, Any] | None:
    """The message fields of the page after `page` (None after the last), `gone` the keys it removed.

    The next page starts after the last key of this page that still exists:
    each key on a page is handled whole (every version), and a marker naming
    a key or version that is gone is not a position S3 and moto agree on.
    """
    index = int(message.get("prefix", 0))
    if page.truncated:
        if not page.listed and page.following is not None:
            # Only versions of the marker key (more than a page of them): step through them by version.
            return {"prefix": index, "key_marker": page.following[0], "version_marker": page.following[1]}
        marker = max((k for k in page.listed if k not in gone), default=message.get("key_marker"))
        return {"prefix": index, **({"key_marker": marker} if marker else {})}
    if index + 1 < len(user_prefixes(user_id, enforcer.policy)):
        return {"prefix": index + 1}
    return None


def hold_user_page(enforcer: Enforcer, message: Mapping[str, Any]) -> int:
    """A legal hold on (or off) every chat of a user, one listing page per message, one after another."""
    user_id, on, at = message["user_id"], bool(message["on"]), parse_instant(message["at"])
    page = user_page(enforcer, user_id, message)
    gone = set()
    for key, versions in page.versions.items():
        # A release removes a deleted chat: its key is gone for the next page's marker.
        if any(not v.delete_marker for v in versions) and hold(enforcer, user_id, key, on, at) in ("removed", "gone"):
            gone.add(key)
    following = next_page(enforcer, user_id, message, page, gone)
    if following is not None:
        enforcer.queue.send([{"type": "hold", "user_id": user_id, "on": on, "at": message["at"], **following}])
    return len(page.versions)


def start_erasure(enforcer: Enforcer, user_id: str, at: datetime) -> bool:
    """`Erasure Requested`: record the request and queue its first page."""
    created = enforcer.ledger.start_erasure(user_id, at)
    if created:
        enforcer.queue.send([{"type": "erase", "user_id": user_id, "at": format_instant(at), "prefix": 0}])
    return created


def erase_page(enforcer: Enforcer, message: Mapping[str, Any]) -> tuple[int, int]:
    """Remove one listing page of a user's chats whose last activity is at or before the request.

    Pages run one after another; the last one closes the request with its
    completion time and its counts, taken from the ledger (so that a
    redelivered or duplicated page cannot count a chat twice or miss one).
    Returns this page's (removed, held).
    """
    user_id, at = message["user_id"], parse_instant(message["at"])
    page = user_page(enforcer, user_id, message)
    records = enforcer.ledger.get_many([(user_id, k) for k in page.versions])
    covered = []
    for key, versions in page.versions.items():
        record = records.get(key)
        if record is not None and record.deleted_at is not None:
            covered.append(key)  # deleted already (maybe waiting for a hold): counted, removed if it can be
            continue
        if record is not None:
            activity = record.last_activity
        else:
            activity = max((v.last_modified for v in versions if not v.delete_marker), default=at)
        if activity <= at:
            covered.append(key)
    update = on_delete(at, enforcer.policy, covers_after=False)
    targets = [Target(user_id, k, "erase", at, update, facts="if-unknown") for k in covered]
    outcomes = enforcer.settle(targets, known={k: records[k] for k in covered if k in records})
    raise_first(outcomes)
    whole = dict(page.versions)
    if page.truncated and page.listed and page.listed[-1] in whole:
        # The page may end inside this key's versions: list it whole.
        whole[page.listed[-1]] = enforcer.chats.versions(page.listed[-1])
    results = remove_chats(enforcer, user_id, {o.target.key: o.record for o in outcomes}, whole, at)
    following = next_page(enforcer, user_id, message, page, {k for k, r in results.items() if r != "held"})
    if following is not None:
        enforcer.queue.send([{"type": "erase", "user_id": user_id, "at": message["at"], **following}])
    else:
        removed, held = erasure_counts(enforcer, user_id, at)
        # An operational record, not a policy decision: the wall clock is right here.
        enforcer.ledger.finish_erasure(user_id, at, datetime.now(UTC), removed, held)
    outcome = list(results.values())
    return outcome.count("removed") + outcome.count("gone"), outcome.count("held")


def erasure_counts(enforcer: Enforcer, user_id: str, at: datetime) -> tuple[int, int]:
    """(removed, held) of the erasure requested at `at`, from the user's ledger records.

    Removed: the chats this request deleted and removed. Held: every deleted
    chat of the user (by this request or before it) that a legal hold keeps.
    """
    removed = held = 0
    for deleted_at, state, held_now in enforcer.ledger.deletions(user_id):
        if deleted_at == at and state == "removed":
            removed += 1
        elif deleted_at <= at and state == "deleted" and held_now:
            held += 1
    return removed, held


def start_sweep(enforcer: Enforcer, now: datetime) -> dict[str, Any]:
    """Nightly: one sweep message per due-index shard; reports the oldest due object's age."""
    oldest: datetime | None = None
    for shard in range(DUE_SHARDS):
        first, _ = enforcer.ledger.due(f"{shard:02d}", now, limit=1)
        if first and (oldest is None or first[0].expires_at < oldest):
            oldest = first[0].expires_at
    enforcer.queue.send([{"type": "sweep", "shard": f"{s:02d}", "now": format_instant(now)} for s in range(DUE_SHARDS)])
    age = int((now - oldest).total_seconds()) if oldest else 0
    return {"now": format_instant(now), "shards": DUE_SHARDS, "oldest_due_age_seconds": age}


def sweep_page(enforcer: Enforcer, message: Mapping[str, Any]) -> dict[str, int]:
    """Delete one page of due chats of one shard (every version), skipping held ones."""
    now = parse_instant(message["now"])
    records, following = enforcer.ledger.due(message["shard"], now, message.get("start"), SWEEP_PAGE)
    if following:
        enforcer.queue.send([{**message, "start": following}])
    summary = {"removed": 0, "held": 0, "skipped": 0}
    for candidate in records:
        result = sweep_record(enforcer, candidate, now)
        summary["held" if result == "held" else "skipped" if result == "skipped" else "removed"] += 1
    return summary


def sweep_record(enforcer: Enforcer, candidate: ChatRecord, now: datetime) -> str:
    """Remove one chat the due index named: `removed`, `gone`, `held` or `skipped` (not due any more).

    The index is eventually consistent, so the decision is taken on a fresh
    read, and the chat is claimed (`state = removing`, conditional on that
    read) before S3 is touched. A reopen, write, hold or deletion recorded
    meanwhile bumps the record's revision; the sweep re-reads it after listing
    the versions and, if it moved, decides again (the chat, no longer due, is
    kept). A claim left by a failed try stays in the due index, so the retry
    finishes it.
    """
    for _ in range(MAX_ROUNDS):
        record = enforcer.ledger.get(candidate.user_id, candidate.key)
        if record is None or not record.in_due_index or not record.decision.is_due(now):
            return "skipped"
        if record.state != "removing":
            try:
                record = enforcer.write_record("sweep", now, replace(record, state="removing"), record)
            except Conflict:
                continue
        versions = enforcer.chats.versions(record.key)
        latest = enforcer.ledger.get(record.user_id, record.key)
        if latest is None or latest.revision != record.revision:
            continue  # a reopen, write, hold or deletion landed since the claim: decide again
        return remove_chats(enforcer, record.user_id, {record.key: latest}, {record.key: versions}, now)[record.key]
    raise Conflict(f"{candidate.key}: still contended after {MAX_ROUNDS} rounds")


def due(enforcer: Enforcer, now: datetime) -> list[ChatRecord]:
    """Every record due at `now` (dry runs, reports)."""
    found: list[ChatRecord] = []
    for shard in range(DUE_SHARDS):
        start: dict[str, Any] | None = None
        while True:
            page, start = enforcer.ledger.due(f"{shard:02d}", now, start, 1000)
            found.extend(r for r in page if r.decision.is_due(now))
            if not start:
                break
    return sorted(found, key=lambda r: (r.expires_at, r.key))


def backfill(enforcer: Enforcer, keys: Sequence[tuple[str, datetime | None]]) -> list[Outcome]:
    """Tag existing objects; last activity is LastModified (or what the ledger knows, if later)."""
    targets = []
    for key, last_modified in keys:
        chat = own_chat(enforcer, key)
        if chat is None:
            continue
        targets.append(
            Target(chat.user_id, key, "backfill", last_modified, on_backfill(enforcer.policy), "always", check_s3=True)
        )
    return enforcer.settle(targets)


def on_backfill(policy: Policy) -> Update:
    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if facts is None:
            return None
        return on_write(facts.last_modified, policy, state=current.state if current else "active")(
            current, consent, facts
        )

    return update


def run_work(enforcer: Enforcer, message: Mapping[str, Any], receive_count: int = 1) -> Any:
    """One work-queue message: the page of fan-out it names."""
    kind = message.get("type")
    if kind == "retag":
        return retag_user(enforcer, message["user_id"], message.get("start"), verify=receive_count > 1)
    if kind == "sweep":
        return sweep_page(enforcer, message)
    if kind == "erase":
        return erase_page(enforcer, message)
    if kind == "hold":
        return hold_user_page(enforcer, message)
    raise EventRejected(f"unknown work message type: {kind!r}")
