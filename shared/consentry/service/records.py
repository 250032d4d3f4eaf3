"""The ledger record's state machine: one table that every flow consults.

A chat's record is in one of six states; each event moves it (or not) by
`NEXT`. `held` is orthogonal: a legal hold never changes the state, it only
keeps the sweep and the purges away (no claim while held; a purge that meets
a lock turns the chat `LOCKED`). Read the table row by row to check a flow:

| state \\ event | write    | stale    | reopen   | archive  | retag    | delete   | hold     | claim    | locked   | purged   |
|---------------|----------|----------|----------|----------|----------|----------|----------|----------|----------|----------|
| new           | active   | .        | active   | archived | .        | deleted  | active   | .        | active   | .        |
| active        | active   | .        | active   | archived | active   | deleted  | active   | removing | active   | removed  |
| archived      | archived | .        | active   | archived | archived | deleted  | archived | removing | archived | removed  |
| removing      | active R | .        | active R | .        | removing | deleted  | active R | removing | active R | removed  |
| deleted       | active*  | deleted  | .        | .        | .        | deleted  | deleted  | removing | deleted  | removed  |
| removed       | active*  | deleted* | .        | .        | .        | deleted* | active*  | .        | .        | .        |

`stale` is a write whose time is at or before a deletion already applied to
the key: a leftover version of the deleted life, deleted too (a write after
the deletion is a new life: `write`). A `delete` of a removed chat with
nothing stored changes no state: its tombstone notes the deletion's time.

A claimed chat that was deleted (`removing` with `deleted_at`) follows the
`deleted` row, `claim` and `purged` aside: given back, it is `deleted` again.

`.`: the event changes nothing. `*`: only as a new life of the key, when an
object is stored again (a write after the deletion; a hold on a version the
ledger has not seen yet). `R`: the event takes the chat back from the sweep,
which may have put its delete marker on it already: after writing the
record, the flow removes the marker (`revives`). `new` is "no record".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from consentry.service.policy import Chat, ConsentRecord, Decision, Policy, Reason, decide, format_instant

HISTORY_LIMIT = 20  # history entries a record keeps: enough to explain a chat, bounded so an item stays small


class State(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    ARCHIVED = "archived"
    REMOVING = "removing"
    DELETED = "deleted"
    REMOVED = "removed"


class Event(StrEnum):
    WRITE = "write"  # S3 ObjectCreated (or the backfill: LastModified as activity)
    STALE = "stale"  # S3 ObjectCreated at or before a deletion of the key: its version belongs to the deleted life
    REOPEN = "reopen"  # Chat Reopened
    ARCHIVE = "archive"  # Chat Archived
    RETAG = "retag"  # consent or tier changed
    DELETE = "delete"  # Chat Deleted, or an erasure covering the chat
    HOLD = "hold"  # Legal Hold Placed or Released
    CLAIM = "claim"  # the sweep takes a due chat
    LOCKED = "locked"  # a purge met an Object Lock (a hold placed from the console)
    PURGED = "purged"  # every version removed


@dataclass(frozen=True)
class ChatRecord:
    """What the ledger knows of one chat object, and the decision applied to it.

    `state` is `active`, `archived`, `removing` (claimed by the sweep),
    `deleted` (deleted or erased, waiting for removal: under a legal hold, or
    removal not yet done) or `removed` (a tombstone: read back, it has only
    the fields a tombstone keeps); never `new`, which is "no record".
    """

    user_id: str
    key: str
    last_activity: datetime
    eligible: bool
    reason: Reason
    retention_days: int
    expires_at: datetime
    policy_version: str
    consent_version: int | None = None  # None: no consent record when decided
    tier: str | None = None
    incognito: bool = False
    state: State = State.ACTIVE
    deleted_at: datetime | None = None  # Chat Deleted or erasure of this life of the key
    last_deleted_at: datetime | None = None  # the latest deletion ever applied to the key (stale-event guard)
    held: bool = False
    hold_at: datetime | None = None  # time of the latest hold event applied (holds apply in event-time order)
    tag_error: str | None = None
    version_id: str | None = None  # the object version the tags were written on
    removed_at: datetime | None = None
    revision: int = 0
    history: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)

    @property
    def decision(self) -> Decision:
        return Decision(self.eligible, self.reason, self.retention_days, self.expires_at)

    @property
    def expires_on(self) -> str:
        return self.expires_at.strftime("%Y-%m-%d")

    @property
    def removed(self) -> bool:
        return self.state == State.REMOVED

    @property
    def in_due_index(self) -> bool:
        return not self.removed and not self.held

    def same_state(self, other: ChatRecord | None) -> bool:
        """True when writing `self` over `other` would change nothing."""
        return other is not None and replace(self, revision=other.revision) == other


S, E = State, Event
NEXT: Mapping[tuple[State, Event], State] = {
    (S.NEW, E.WRITE): S.ACTIVE,
    (S.NEW, E.REOPEN): S.ACTIVE,
    (S.NEW, E.ARCHIVE): S.ARCHIVED,
    (S.NEW, E.DELETE): S.DELETED,
    (S.NEW, E.HOLD): S.ACTIVE,
    (S.NEW, E.LOCKED): S.ACTIVE,
    (S.ACTIVE, E.WRITE): S.ACTIVE,
    (S.ACTIVE, E.REOPEN): S.ACTIVE,
    (S.ACTIVE, E.ARCHIVE): S.ARCHIVED,
    (S.ACTIVE, E.RETAG): S.ACTIVE,
    (S.ACTIVE, E.DELETE): S.DELETED,
    (S.ACTIVE, E.HOLD): S.ACTIVE,
    (S.ACTIVE, E.CLAIM): S.REMOVING,
    (S.ACTIVE, E.LOCKED): S.ACTIVE,
    (S.ACTIVE, E.PURGED): S.REMOVED,
    (S.ARCHIVED, E.WRITE): S.ARCHIVED,  # writing is not reopening (the backfill writes too)
    (S.ARCHIVED, E.REOPEN): S.ACTIVE,
    (S.ARCHIVED, E.ARCHIVE): S.ARCHIVED,
    (S.ARCHIVED, E.RETAG): S.ARCHIVED,
    (S.ARCHIVED, E.DELETE): S.DELETED,
    (S.ARCHIVED, E.HOLD): S.ARCHIVED,
    (S.ARCHIVED, E.CLAIM): S.REMOVING,
    (S.ARCHIVED, E.LOCKED): S.ARCHIVED,
    (S.ARCHIVED, E.PURGED): S.REMOVED,
    (S.REMOVING, E.WRITE): S.ACTIVE,
    (S.REMOVING, E.REOPEN): S.ACTIVE,
    (S.REMOVING, E.RETAG): S.REMOVING,
    (S.REMOVING, E.DELETE): S.DELETED,
    (S.REMOVING, E.HOLD): S.ACTIVE,
    (S.REMOVING, E.CLAIM): S.REMOVING,
    (S.REMOVING, E.LOCKED): S.ACTIVE,
    (S.REMOVING, E.PURGED): S.REMOVED,
    (S.DELETED, E.WRITE): S.ACTIVE,
    (S.DELETED, E.STALE): S.DELETED,
    (S.DELETED, E.DELETE): S.DELETED,
    (S.DELETED, E.HOLD): S.DELETED,
    (S.DELETED, E.CLAIM): S.REMOVING,
    (S.DELETED, E.LOCKED): S.DELETED,
    (S.DELETED, E.PURGED): S.REMOVED,
    (S.REMOVED, E.WRITE): S.ACTIVE,
    (S.REMOVED, E.STALE): S.DELETED,
    (S.REMOVED, E.DELETE): S.DELETED,  # something stored again, not recorded yet (else the tombstone notes it)
    (S.REMOVED, E.HOLD): S.ACTIVE,
}
# A chat the sweep had claimed that one of these takes back may carry the sweep's delete marker.
REVIVES = frozenset({(S.REMOVING, E.WRITE), (S.REMOVING, E.REOPEN), (S.REMOVING, E.HOLD), (S.REMOVING, E.LOCKED)})
# Rows marked `*`: the event starts a new life of the key (a new record from the stored object's facts).
NEW_LIFE = frozenset(
    {(S.NEW, e) for e in E}
    | {(S.REMOVED, E.WRITE), (S.REMOVED, E.STALE), (S.REMOVED, E.DELETE), (S.REMOVED, E.HOLD), (S.DELETED, E.WRITE)}
)


def state_of(record: ChatRecord | None, event: Event | None = None) -> State:
    """The row of the table `record` is read on (for `event`)."""
    if record is None:
        return State.NEW
    state = State(record.state)
    if state is State.REMOVING and record.deleted_at is not None and event not in (Event.CLAIM, Event.PURGED):
        return State.DELETED
    return state


def next_state(record: ChatRecord | None, event: Event) -> State | None:
    """The state `event` moves the record to; None when the event changes nothing."""
    return NEXT.get((state_of(record, event), event))


def revives(record: ChatRecord | None, event: Event) -> bool:
    """True when `event` takes back a chat the sweep claimed (whose delete marker may be on it)."""
    return record is not None and record.state == State.REMOVING and (State.REMOVING, event) in REVIVES


def starts_new_life(record: ChatRecord | None, event: Event) -> bool:
    return (state_of(record, event), event) in NEW_LIFE


# -- deciding a record ------------------------------------------------------------------------------


def evaluate(
    chat: Chat,
    consent: ConsentRecord,
    policy: Policy,
    *,
    base: ChatRecord | None = None,
    **state: Any,
) -> ChatRecord:
    """The ledger record of `chat` decided under `consent`; other fields from `base`, then `state`."""
    decision = decide(chat, consent, policy)
    kept: dict[str, Any] = {}
    if base is not None:
        kept = {
            name: getattr(base, name)
            for name in ("state", "held", "hold_at", "version_id", "last_deleted_at", "revision", "history")
        }
    kept.update(state)
    return ChatRecord(
        user_id=chat.user_id,
        key=chat.key,
        last_activity=chat.last_activity,
        incognito=chat.incognito,
        deleted_at=chat.deleted_at,
        eligible=decision.eligible,
        reason=decision.reason,
        retention_days=decision.retention_days,
        expires_at=decision.expires_at,
        policy_version=policy.label,
        consent_version=consent.version if consent.exists else None,
        tier=consent.tier,
        **kept,
    )


def chat_of(record: ChatRecord) -> Chat:
    return Chat(
        key=record.key,
        user_id=record.user_id,
        last_activity=record.last_activity,
        incognito=record.incognito,
        deleted_at=record.deleted_at,
    )


def removed(record: ChatRecord, at: datetime) -> ChatRecord:
    """The tombstone of a chat whose every version is gone (its proof of deletion)."""
    return replace(record, state=State.REMOVED, eligible=False, held=False, removed_at=at, history=())


def with_history(new: ChatRecord, current: ChatRecord | None, event: str, at: datetime | None) -> ChatRecord:
    """`new` with one more history entry for `event` (the last HISTORY_LIMIT kept; none on a tombstone)."""
    if new.state == State.REMOVED:
        return replace(new, history=())
    entry = {
        "event": event,
        "at": format_instant(at) if at else None,
        "eligible": new.eligible,
        "reason": new.reason.value,
        "consent_version": new.consent_version,
        "expires_on": new.expires_on,
        "state": new.state,
    }
    history = (current.history if current else ()) + ({k: v for k, v in entry.items() if v is not None},)
    return replace(new, history=history[-HISTORY_LIMIT:])
