"""One chat's lifecycle: writes, reopen, archive, deletion, legal holds, backfill, and the purge they share.

Each `on_*` function builds the `Update` of one event (pure: ledger record,
consent record and object facts in, record out), reading the state table of
`consentry.service.records`; the flow functions turn events into changes and
settle them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from consentry.service.aws.chat_store import ObjectFacts, ObjectVersion
from consentry.service.deadline import OutOfTime
from consentry.service.flows.enforcer import Change, Enforcer, Outcome, ReadFacts, Update, raise_first
from consentry.service.observability import count, logger
from consentry.service.policy import Chat, ChatKey, ConsentRecord, Decision, Policy, Reason, chat_key, decision_tags
from consentry.service.records import ChatRecord, Event, State, chat_of, evaluate, next_state, removed, starts_new_life


class EventRejected(ValueError):
    """An event that must change nothing (wrong user for the key, unknown type); logged and counted."""


def _stale(current: ChatRecord | None, at: datetime) -> bool:
    """An event at or before a deletion already applied to the key belongs to a life that has ended."""
    return current is not None and current.last_deleted_at is not None and at <= current.last_deleted_at


def _version(current: ChatRecord, facts: ObjectFacts | None) -> str | None:
    return facts.version_id if facts is not None else current.version_id


def new_life(
    facts: ObjectFacts,
    consent: ConsentRecord,
    policy: Policy,
    current: ChatRecord | None,
    at: datetime,
    *,
    state: State = State.ACTIVE,
    held: bool | None = None,
    hold_at: datetime | None = None,
) -> ChatRecord:
    """A record for the object stored under a key the ledger has no live record of (a new life of the key).

    A live record it replaces (a deleted chat written again) passes on its
    legal hold and history; a tombstone passes on only its revision and the
    time of the deletion (so that the old life's late events stay stale).
    """
    base = current if current is not None and not current.removed else None
    return evaluate(
        Chat(facts.key, consent.user_id, at, facts.incognito),
        consent,
        policy,
        state=state,
        held=(base.held if base else False) if held is None else held,
        hold_at=(base.hold_at if base else None) if hold_at is None else hold_at,
        version_id=facts.version_id,
        last_deleted_at=current.last_deleted_at if current else None,
        revision=current.revision if current else 0,
        history=base.history if base else (),
    )


# -- updates: what each event does to one chat's record ----------------------------------------------


def on_write(at: datetime, policy: Policy) -> Update:
    """S3 ObjectCreated (or backfill, with LastModified): last activity = `at`."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if facts is None:
            return None
        if _stale(current, at):
            return _leftover(current, consent, facts, policy)
        state = next_state(current, Event.WRITE)
        if state is None:
            return None
        if current is None or starts_new_life(current, Event.WRITE):
            # New, or written again after a deletion, erasure or sweep: the normal rules, from `at`.
            return new_life(facts, consent, policy, current, at)
        chat = Chat(facts.key, current.user_id, max(current.last_activity, at), facts.incognito)
        return evaluate(chat, consent, policy, base=current, version_id=facts.version_id, state=state)

    return update


def _leftover(
    current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts, policy: Policy
) -> ChatRecord | None:
    """A version written at or before a deletion of the key: deleted with the life it belongs to."""
    state = next_state(current, Event.STALE)
    if current is None or state is None or (current.state == state and current.version_id == facts.version_id):
        return None
    deleted_at = current.deleted_at or current.last_deleted_at
    chat = Chat(facts.key, consent.user_id, current.last_activity, facts.incognito, deleted_at=deleted_at)
    held = current.held and not current.removed
    return evaluate(
        chat,
        consent,
        policy,
        state=state,
        held=held,
        hold_at=current.hold_at,
        version_id=facts.version_id,
        last_deleted_at=current.last_deleted_at,
        revision=current.revision,
        history=() if current.removed else current.history,
    )


def on_reopen(at: datetime, policy: Policy) -> Update:
    """`Chat Reopened`: last activity = event time; retention restarts."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        state = next_state(current, Event.REOPEN)
        if state is None or _stale(current, at):
            return None
        if current is None:
            return None if facts is None else new_life(facts, consent, policy, current, at)
        chat = replace(chat_of(current), last_activity=max(current.last_activity, at))
        return evaluate(chat, consent, policy, base=current, state=state, version_id=_version(current, facts))

    return update


def on_archive(at: datetime, policy: Policy) -> Update:
    """`Chat Archived`: recorded; tags unchanged. Archiving is not activity."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        state = next_state(current, Event.ARCHIVE)
        if state is None or _stale(current, at):
            return None
        if current is None:
            # A chat first seen through its archive event dates from its write.
            return (
                None
                if facts is None
                else new_life(facts, consent, policy, None, facts.last_modified, state=State.ARCHIVED)
            )
        return replace(current, state=state)

    return update


def on_retag(policy: Policy) -> Update:
    """Consent or tier changed: decide again on the facts the ledger holds."""

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        state = next_state(current, Event.RETAG)
        if current is None or state is None:
            return None
        return evaluate(
            chat_of(current), consent, policy, base=current, state=state, version_id=_version(current, facts)
        )

    return update


def on_delete(at: datetime, policy: Policy, *, covers_after: bool = True) -> Update:
    """`Chat Deleted` (or erasure): ineligible at once, due at once.

    With `covers_after=False` (erasure) a chat whose last activity is after
    `at` is not covered. A key whose chat was removed before is deleted again
    when something is stored under it (a write whose event is not processed
    yet); with nothing stored, its tombstone notes the deletion, so that a
    late write of a version stored before it is removed too.
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        state = next_state(current, Event.DELETE)
        if state is None or _stale(current, at) or (current is not None and current.deleted_at is not None):
            return None  # a deletion of an ended life, or deleted already
        if current is None or current.removed:
            if facts is None:
                return None if current is None else replace(current, last_deleted_at=at)
            if facts.last_modified > at:
                # Only a version written after the deletion is stored: a new life, its own event records it.
                return None if current is None else replace(current, last_deleted_at=at)
            chat = Chat(facts.key, consent.user_id, facts.last_modified, facts.incognito, deleted_at=at)
            revision = current.revision if current else 0
            return evaluate(
                chat,
                consent,
                policy,
                state=state,
                version_id=facts.version_id,
                last_deleted_at=at,
                revision=revision,
            )
        if not covers_after and current.last_activity > at:
            return None
        version_id = _version(current, facts)
        if facts is not None and facts.last_modified > at:
            # The current version was written after the deletion: a new life, which the deletion leaves alone.
            if current.version_id in (None, facts.version_id):
                known = current.last_deleted_at
                return None if known is not None and known >= at else replace(current, last_deleted_at=at)
            version_id = current.version_id  # the record is the deleted life's; the new version's event records it
        chat = replace(chat_of(current), deleted_at=at)
        return evaluate(
            chat,
            consent,
            policy,
            base=current,
            state=state,
            last_deleted_at=at,
            version_id=version_id,
        )

    return update


def on_hold(at: datetime, policy: Policy, *, on: bool) -> Update:
    """Legal hold placed or released: eligibility unchanged; the sweep skips held chats.

    Hold events apply in event-time order: one older than the latest applied
    to the key changes nothing (EventBridge may deliver it a day late).
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is not None and current.hold_at is not None and at < current.hold_at:
            return None
        state = next_state(current, Event.HOLD)
        if state is None:
            return None
        if current is None or starts_new_life(current, Event.HOLD):
            if facts is None:
                return None
            return new_life(facts, consent, policy, current, facts.last_modified, held=on, hold_at=at)
        hold_at = max(at, current.hold_at) if current.hold_at else at
        if current.held == on:
            return None if current.hold_at == hold_at else replace(current, hold_at=hold_at)
        return replace(current, held=on, hold_at=hold_at, state=state)

    return update


def on_locked(version_id: str | None = None) -> Update:
    """A purge met an Object Lock no event announced (a hold placed from the console): the chat is held.

    The record names the newest version the lock kept (the one it named may be gone).
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        state = next_state(current, Event.LOCKED)
        if current is None or state is None:
            return None
        version = version_id or current.version_id
        if current.held and current.state == state and current.version_id == version:
            return None
        return replace(current, held=True, state=state, version_id=version)

    return update


def on_purged(at: datetime, purged: frozenset[str]) -> Update:
    """Every version the purge listed is gone: the record becomes a tombstone.

    Not when the record names a version the purge did not remove (written
    again after the listing: a new life, which its own event records).
    """

    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        if current is None or next_state(current, Event.PURGED) is None:
            return None
        if current.version_id is not None and current.version_id not in purged:
            return None
        return removed(current, at)

    return update


# -- flows -------------------------------------------------------------------------------------------


class Write(NamedTuple):
    """One S3 ObjectCreated notification, parsed."""

    key: str
    at: datetime
    token: str = ""  # which message it came in
    version_id: str | None = None  # the version S3's notification names (moto's names none: the current one)


def own_chat(enforcer: Enforcer, key: str, user_id: str | None = None) -> ChatKey | None:
    """The chat a key names if it is ours (and belongs to `user_id` when given)."""
    found = chat_key(key, enforcer.policy)
    if found is None:
        logger.info("not a chat key of ours; ignored", extra=enforcer.ref(key))
        count("IgnoredKeys")
        return None
    if user_id is not None and found.user_id != user_id:
        names = enforcer.names
        raise EventRejected(f"user {names.user(user_id)} does not own key {names.key(key)} (hashes)")
    return found


def tag_on_write(enforcer: Enforcer, writes: Sequence[Write]) -> dict[str, Exception]:
    """Tag newly written chats; errors by message token (empty when all settled).

    A version written at or before a deletion of its key is deleted (and
    purged unless held) with the life it belongs to.
    """
    changes, tokens = [], []
    for write in writes:
        chat = own_chat(enforcer, write.key)
        if chat is not None:
            update = on_write(write.at, enforcer.policy)
            changes.append(
                Change(
                    chat.user_id,
                    write.key,
                    Event.WRITE,
                    write.at,
                    update,
                    facts=ReadFacts.ALWAYS,
                    check_s3=True,
                    version_id=write.version_id,
                )
            )
            tokens.append(write.token)
    errors: dict[str, Exception] = {}
    for token, outcome in zip(tokens, enforcer.settle(changes), strict=True):
        record = outcome.record
        at = outcome.change.at
        if outcome.error is not None:
            errors.setdefault(token, outcome.error)
            continue
        if record is None or record.held or record.removed:
            continue
        # A version of a deleted life: removed with it, also when a new life of the key is live meanwhile.
        deleted_at = record.deleted_at or record.last_deleted_at
        if deleted_at is not None and at is not None and at <= deleted_at:
            try:
                purge(enforcer, {record.key: record}, deleted_at)
            except OutOfTime:
                raise
            except Exception as err:
                logger.exception(
                    "a leftover version of a deleted chat could not be removed", extra=enforcer.ref(record.key)
                )
                count("EnforcementFailures")
                errors.setdefault(token, err)
    return errors


def reopen(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> None:
    if own_chat(enforcer, key, user_id):
        update = on_reopen(at, enforcer.policy)
        change = Change(user_id, key, Event.REOPEN, at, update, facts=ReadFacts.IF_UNKNOWN, check_s3=True)
        raise_first(enforcer.settle([change]))


def archive(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> None:
    if own_chat(enforcer, key, user_id):
        change = Change(user_id, key, Event.ARCHIVE, at, on_archive(at, enforcer.policy), facts=ReadFacts.IF_UNKNOWN)
        raise_first(enforcer.settle([change]))


def delete_chat(enforcer: Enforcer, user_id: str, key: str, at: datetime) -> str:
    """`Chat Deleted`: ineligible at once, then every version removed unless held."""
    if not own_chat(enforcer, key, user_id):
        return "ignored"
    update = on_delete(at, enforcer.policy)
    outcomes = enforcer.settle([Change(user_id, key, Event.DELETE, at, update, facts=ReadFacts.ALWAYS, check_s3=True)])
    raise_first(outcomes)
    record = outcomes[0].record
    if record is None or record.removed:
        return "ignored"
    # A live record is a new life written after the deletion: only the versions of the deleted life go.
    return purge(enforcer, {key: record}, record.deleted_at or at)[key]


def purge(
    enforcer: Enforcer,
    records: Mapping[str, ChatRecord],
    at: datetime,
    versions: Mapping[str, Sequence[ObjectVersion]] | None = None,
    *,
    by_life: bool = True,
) -> dict[str, str]:
    """Remove every version and delete marker of deleted chats not under a legal hold: `removed`, `held`, `gone`.

    `records` are the chats' ledger records as just written (deleted).
    `versions` (every version of each key) when the caller listed them.
    `by_life`: only the versions of the deleted life go, those whose own
    `LastModified` is at or before the deletion (the record's `deleted_at`,
    else `at`); a version written after it is a new life and stays, whatever
    is current (the sweep, removing a due chat whole, passes False). A
    version an Object Lock keeps makes the chat held (a hold from the
    console), and every version left of the deleted life is tagged as the
    deleted record says, so that none left current is eligible; the others
    become tombstones. A chat whose tombstone another flow wrote meanwhile
    (two sweeps side by side) is `skipped:taken`: removed, and counted, once.
    """
    results = {key: "held" for key, record in records.items() if record.held}
    doomed = [key for key in records if key not in results]
    everything = dict(versions or {})
    # A caller's listing that misses the version the record names is older than a write: list that key afresh.
    missing = [key for key in doomed if key not in everything or _misses(everything[key], records[key])]
    for key, found in zip(missing, enforcer.parallel(enforcer.chats.versions, missing), strict=True):
        everything[key] = found
    listed = {key: _of_life(everything[key], records[key], at, by_life=by_life) for key in doomed}
    for key in results:  # held: nothing goes now, and no version of the deleted life stays eligible meanwhile
        if by_life:
            found = enforcer.chats.versions(key)
            retag_survivors(
                enforcer, records[key].deleted_at or at, key, _of_life(found, records[key], at, by_life=True)
            )
    locked = enforcer.chats.remove_versions([v for key in doomed for v in listed[key]])
    changes = []
    for key in doomed:
        user_id = records[key].user_id
        if key in locked:
            logger.warning("an Object Lock refused the deletion; kept until released", extra=enforcer.ref(key))
            results[key] = "held"
            if not by_life:  # the sweep's due chat: held, back to its state before the claim
                changes.append(Change(user_id, key, Event.LOCKED, at, on_locked(), verify=False))
                continue
            newest = retag_survivors(enforcer, records[key].deleted_at or at, key, listed[key])
            if records[key].deleted_at is not None:  # a live record is a new life: the lock kept the old one's
                changes.append(Change(user_id, key, Event.LOCKED, at, on_locked(newest), verify=False))
            continue
        purged = frozenset(v.version_id for v in listed[key])
        known_version = records[key].version_id
        if known_version and known_version not in {v.version_id for v in everything[key] if not v.delete_marker}:
            purged |= {known_version}  # not stored any more: the record's version is gone too
        results[key] = "removed" if listed[key] else "gone"
        changes.append(Change(user_id, key, Event.PURGED, at, on_purged(at, purged), verify=False))
    known = {key: record for key, record in records.items() if key in doomed}
    outcomes = enforcer.settle(changes, known=known)
    raise_first(outcomes)
    for outcome in outcomes:
        if outcome.change.event is Event.PURGED and _taken(outcome):
            results[outcome.change.key] = "skipped:taken"
    count("ObjectsRemoved", sum(1 for key in doomed if results[key] in ("removed", "gone")))
    return results


def _taken(outcome: Outcome) -> bool:
    """Another flow wrote the tombstone (a second sweep of the chat, side by side): its removal, not ours."""
    return not outcome.wrote_ledger and outcome.record is not None and outcome.record.removed


def _misses(versions: Sequence[ObjectVersion], record: ChatRecord) -> bool:
    return record.version_id is not None and record.version_id not in {v.version_id for v in versions}


def _of_life(
    versions: Sequence[ObjectVersion], record: ChatRecord, at: datetime, *, by_life: bool
) -> list[ObjectVersion]:
    """The versions a deletion removes: its life's (by their own LastModified) and every delete marker."""
    if not by_life:
        return list(versions)
    ended = record.deleted_at or at
    return [v for v in versions if v.delete_marker or v.last_modified <= ended]


def retag_survivors(enforcer: Enforcer, ended: datetime, key: str, versions: Sequence[ObjectVersion]) -> str | None:
    """Every version of a deleted life left stored (a lock kept it) tagged `deleted`, not eligible.

    Whichever of them becomes current (the newest went, an older one was
    held from the console) then says `training-eligible=false`. Returns the
    newest version left, which the record names from then on.
    """
    deleted = Decision(eligible=False, reason=Reason.DELETED, retention_days=0, expires_at=ended)
    left = enforcer.chats.tag_versions(key, versions, decision_tags(deleted, enforcer.policy))
    return max(left, key=lambda v: v.last_modified).version_id if left else None


def hold_every_version(enforcer: Enforcer, user_id: str, key: str, *, on: bool) -> None:
    """The hold on (or off) on every version stored now, listed afresh: one written meanwhile is covered too."""
    enforcer.hold_as_recorded(user_id, key, on)


def hold(enforcer: Enforcer, user_id: str, key: str, at: datetime, *, on: bool) -> str:
    """Legal hold on or off on every version of one chat: S3 first, then the ledger, then S3 checked again.

    S3 first: from the moment the ledger says held the sweep skips the chat,
    and from the moment S3 says held nothing can delete it, so a crash in
    between leaves a chat locked in S3 and not yet recorded: safe, and the
    retry records it. On release, a deleted chat is removed.
    """
    if not own_chat(enforcer, key, user_id):
        return "ignored"
    current = enforcer.ledger.get(user_id, key)
    if current is not None and current.hold_at is not None and at < current.hold_at:
        return "stale"  # an older hold event than the latest applied to the key
    versions = enforcer.chats.versions(key)
    if not any(not v.delete_marker for v in versions):
        return "gone"
    enforcer.chats.set_legal_hold(key, on, versions)
    change = Change(user_id, key, Event.HOLD, at, on_hold(at, enforcer.policy, on=on), facts=ReadFacts.IF_UNKNOWN)
    outcomes = enforcer.settle([change], known={key: current} if current is not None else None)
    raise_first(outcomes)
    record = outcomes[0].record or enforcer.ledger.get(user_id, key)
    if record is None or record.removed:
        return "gone"
    # S3 follows the ledger on every version stored now: one written between the listing and the record is
    # covered (its own write flow read the record before it said held), and a newer hold event wins.
    hold_every_version(enforcer, user_id, key, on=record.held)
    if on or record.state != State.DELETED or record.held:
        return "held" if record.held else "released"
    result = purge(enforcer, {key: record}, record.deleted_at or at)[key]
    if result != "held" and record.deleted_at is not None:
        # Erasures that counted this chat as held now count it as removed.
        for erasure in enforcer.ledger.erasures(user_id):
            if erasure.requested_at >= record.deleted_at:
                enforcer.ledger.release_erasure_hold(user_id, erasure.requested_at, key, at)
    return result


def backfill(enforcer: Enforcer, keys: Sequence[tuple[str, datetime | None]]) -> list[Outcome]:
    """Tag existing objects; last activity is LastModified (or what the ledger knows, if later)."""
    changes = []
    for key, _ in keys:
        chat = own_chat(enforcer, key)
        if chat is not None:
            update = on_backfill(enforcer.policy)
            changes.append(
                Change(
                    chat.user_id,
                    key,
                    Event.WRITE,
                    None,
                    update,
                    facts=ReadFacts.ALWAYS,
                    check_s3=True,
                    label="backfill",
                )
            )
    return enforcer.settle(changes)


def on_backfill(policy: Policy) -> Update:
    def update(current: ChatRecord | None, consent: ConsentRecord, facts: ObjectFacts | None) -> ChatRecord | None:
        return None if facts is None else on_write(facts.last_modified, policy)(current, consent, facts)

    return update
