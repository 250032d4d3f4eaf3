"""The retention sweep: every due chat removed completely, without losing an event that races it.

Nightly, `start_sweep` queues one message per shard of the `due` index; each
page of a shard runs `sweep_chats`, whose protocol (docs/deletion.md gives
the interleaving argument) is:

1. **claim** each due chat: a conditional write (`state = removing` if live,
   unheld and due), no read before it;
2. **list** its versions; a version newer than the one the ledger knows is a
   write whose event is not processed yet: the chat is recorded as written
   (its LastModified as activity) and decided again (swept if still due);
3. **mark**: a delete marker on the key, the reversible first destructive
   move (the chat is gone for readers and training at once; a write landing
   after it is a new version, above the marker, and survives);
4. **check** the ledger (one batched read): a reopen, write, hold or deletion
   recorded since the claim has taken the chat back; its marker is removed
   and the chat is decided again (claimed again if still due);
5. **purge** exactly the versions listed and the marker (many chats per
   DeleteObjects); a version an Object Lock keeps makes the chat held;
6. **record** the tombstone, conditional on the revision checked; if an event
   landed after the check, the tombstone is still written when the record
   names a version the purge removed (the chat is gone: the ledger says so).
   Only the sweep whose tombstone the ledger keeps counts the removal: a
   second sweep of the same chat side by side (its claim also succeeds on a
   `removing` record, so that a crashed sweep's claim is taken over) finds
   the tombstone written and counts `skipped:taken`.

Per due chat: 2 DynamoDB writes (claim, tombstone), 2 items read (the index
entry, the check), and per page one Query and one BatchGetItem; in S3 one
ListObjectVersions and one DeleteObject, and a share of one DeleteObjects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from consentry.service.aws.chat_store import ObjectVersion
from consentry.service.aws.ledger import DueChat, shard_names
from consentry.service.flows.enforcer import MAX_ROUNDS, Change, Enforcer, ReadFacts, raise_first
from consentry.service.flows.fanout import Work, once
from consentry.service.flows.lifecycle import on_write, purge
from consentry.service.flows.messages import PlannedChat, SweepShard
from consentry.service.observability import count, logger
from consentry.service.policy import format_instant
from consentry.service.records import ChatRecord, Event, State

SWEEP_PAGE = 100


@dataclass
class SweepResult:
    """What one sweep page did, by key (`removed`, `gone`, `held`, `kept`, `skipped:taken`), and the due chats it
    did not claim."""

    by_key: dict[str, str] = field(default_factory=dict)
    skipped: int = 0

    def summary(self) -> dict[str, int]:
        values = list(self.by_key.values())
        return {
            "removed": values.count("removed") + values.count("gone"),
            "held": values.count("held"),
            "kept": values.count("kept"),
            "skipped": self.skipped + sum(value.startswith("skipped:") for value in values),
        }


def start_sweep(enforcer: Enforcer, now: datetime) -> dict[str, Any]:
    """Nightly: one sweep message per due-index shard; reports the oldest due object's age."""
    shards = shard_names(enforcer.settings.due_shards)
    oldest: datetime | None = None
    for shard in shards:
        first, _ = enforcer.ledger.due(shard, now, limit=1)
        if first and (oldest is None or first[0].expires_at < oldest):
            oldest = first[0].expires_at
    enforcer.queue.send([SweepShard(shard=shard, now=now) for shard in shards])
    age = int((now - oldest).total_seconds()) if oldest else 0
    return {"now": format_instant(now), "shards": len(shards), "oldest_due_age_seconds": age}


def sweep_page(enforcer: Enforcer, work: Work[SweepShard]) -> dict[str, int]:
    """Remove one page of due chats of one shard (every version), skipping held ones; then the next page."""
    m = work.message

    def page() -> tuple[dict[str, int], list[SweepShard]]:
        due, following = enforcer.ledger.due(m.shard, m.now, m.start, SWEEP_PAGE)
        summary = sweep_chats(enforcer, due, m.now).summary()
        return summary, ([m.following(following)] if following else [])

    return once(enforcer, work, page) or {"removed": 0, "held": 0, "kept": 0, "skipped": 0}


def _newest(versions: Sequence[ObjectVersion]) -> ObjectVersion | None:
    """The version that is not a delete marker with the latest LastModified."""
    real = [v for v in versions if not v.delete_marker]
    return max(real, key=lambda v: v.last_modified) if real else None


def sweep_chats(enforcer: Enforcer, due: Sequence[DueChat], now: datetime) -> SweepResult:
    """The protocol of the module docstring over a page of due chats."""
    result = SweepResult()
    pending = list(due)
    for round_ in range(MAX_ROUNDS):
        if not pending:
            break
        claimed = [record for record in enforcer.parallel(partial(_claim, enforcer, now), pending) if record]
        if round_ == 0:
            result.skipped += len(pending) - len(claimed)  # not due after all, held, or gone (the index lags)
        # Taken back meanwhile: decided again next round (claimed again only if still due).
        back = _sweep_claimed(enforcer, claimed, now, result)
        pending = [enforcer.ledger.due_chat(r) for r in back]
    return result


def _claim(enforcer: Enforcer, now: datetime, chat: DueChat) -> ChatRecord | None:
    return enforcer.ledger.claim(chat, now)


def _sweep_claimed(
    enforcer: Enforcer, claimed: list[ChatRecord], now: datetime, result: SweepResult
) -> list[ChatRecord]:
    """Steps 2 to 6 for claimed chats; the chats to decide again (taken back meanwhile, or renewed)."""
    listings = enforcer.parallel(enforcer.chats.versions, [r.key for r in claimed])
    listed = {r.key: versions for r, versions in zip(claimed, listings, strict=True)}
    renewed = [r for r in claimed if _renewed(r, listed[r.key])]
    _keep_renewed(enforcer, renewed, listed, result)
    marking = [r for r in claimed if r not in renewed]
    placed = enforcer.parallel(partial(_mark, enforcer), [(r, listed[r.key]) for r in marking])
    markers = {r.key: marker for r, marker in zip(marking, placed, strict=True)}
    latest = enforcer.ledger.get_many([(r.user_id, r.key) for r in marking])
    go: dict[str, ChatRecord] = {}
    back: list[ChatRecord] = []
    for record in marking:
        now_record = latest.get(record.key)
        if now_record is not None and _still_ours(record, now_record, now):
            go[record.key] = now_record
        else:
            back.append(record)
    enforcer.parallel(partial(_unmark, enforcer), [(r, markers[r.key]) for r in back])
    for record in back:
        result.by_key[record.key] = "kept"
    if go:
        doomed = {key: [*listed[key], *markers[key]] for key in go}
        result.by_key.update(purge(enforcer, go, now, versions=doomed, by_life=False))
    # A renewed chat is decided again on its newer activity: swept in this run if still due.
    return back + renewed


def _renewed(record: ChatRecord, versions: Sequence[ObjectVersion]) -> bool:
    """A version newer than the ledger's: a write not processed yet (or whose notification was lost).

    Newer by LastModified: S3's order of versions in the same instant is not one every S3 (moto) agrees on.
    """
    real = [v for v in versions if not v.delete_marker]
    known = next((v for v in real if v.version_id == record.version_id), None)
    if known is None:
        return bool(real) and record.version_id is not None
    return any(v.last_modified > known.last_modified for v in real)


def _keep_renewed(
    enforcer: Enforcer, renewed: list[ChatRecord], listed: Mapping[str, Sequence[ObjectVersion]], result: SweepResult
) -> None:
    """Record the newer version as a write at its LastModified: the chat is no longer due, and is kept."""
    changes = []
    for record in renewed:
        newest = _newest(listed[record.key])
        assert newest is not None
        logger.info("a write the ledger has not seen yet renews a due chat; kept", extra=enforcer.ref(record.key))
        update = on_write(newest.last_modified, enforcer.policy)
        changes.append(
            Change(
                record.user_id,
                record.key,
                Event.WRITE,
                newest.last_modified,
                update,
                facts=ReadFacts.ALWAYS,
                check_s3=True,
                label="sweep-renewed",
            )
        )
        result.by_key[record.key] = "kept"
    raise_first(enforcer.settle(changes))


def _mark(enforcer: Enforcer, chat: tuple[ChatRecord, Sequence[ObjectVersion]]) -> list[ObjectVersion]:
    """The delete marker (none when nothing is stored any more: the purge only records the tombstone)."""
    record, versions = chat
    if not versions:
        return []
    marker = enforcer.chats.place_marker(record.key)
    return [ObjectVersion(record.key, marker, datetime.min.replace(tzinfo=UTC), delete_marker=True)]


def _unmark(enforcer: Enforcer, chat: tuple[ChatRecord, Sequence[ObjectVersion]]) -> None:
    record, markers = chat
    if markers:
        enforcer.chats.remove_markers(record.key, markers)
        count("SweepsTakenBack")


def _still_ours(claimed: ChatRecord, latest: ChatRecord, now: datetime) -> bool:
    """Nothing took the chat back since the claim: still claimed, unheld, due, on the same version and life."""
    return (
        latest.state == State.REMOVING
        and not latest.held
        and latest.expires_at <= now
        and latest.version_id == claimed.version_id
        and latest.deleted_at == claimed.deleted_at
    )


def due(enforcer: Enforcer, now: datetime) -> list[ChatRecord]:
    """Every record due at `now` (dry runs, reports): the index, then the records (strongly consistent)."""
    found: list[DueChat] = []
    for shard in shard_names(enforcer.settings.due_shards):
        start: dict[str, Any] | None = None
        while True:
            page, start = enforcer.ledger.due(shard, now, start, 1000)
            found.extend(page)
            if not start:
                break
    records = enforcer.ledger.records_by_keys([(chat.pk, chat.sk) for chat in found])
    live = [r for r in records if not r.removed and not r.held and r.decision.is_due(now)]
    return sorted(live, key=lambda r: (r.expires_at, r.key))


# -- a reviewed plan (`consentry sweep --plan FILE`, then `--apply FILE`) ------------------------------


def sweep_planned(enforcer: Enforcer, planned: Sequence[PlannedChat], now: datetime) -> dict[str, str]:
    """Remove exactly the chats of a plan, each checked first; the outcome by key.

    A chat is swept (the protocol of the module docstring) only while it is
    still due at `now`, not held, and stores exactly the versions planned;
    otherwise it is left alone: `skipped:gone` (no live record),
    `skipped:held`, `skipped:not-due` (reopened or rewritten since),
    `skipped:versions-changed`, or `skipped:changed` (taken between this
    check and the claim). Swept chats end `removed`, `gone` (nothing was
    stored any more), `held` (an Object Lock refused), `kept` (an event
    took the chat back during the sweep) or `skipped:taken` (another sweep
    removed it meanwhile, and counted it).
    """
    records = enforcer.ledger.get_many([(p.user_id, p.key) for p in planned])
    outcome: dict[str, str] = {}
    due_now = []
    for chat in planned:
        record = records.get(chat.key)
        if record is None or record.removed:
            outcome[chat.key] = "skipped:gone"
        elif record.held:
            outcome[chat.key] = "skipped:held"
        elif not record.decision.is_due(now):
            outcome[chat.key] = "skipped:not-due"
        else:
            due_now.append((chat, record))
    listings = enforcer.parallel(enforcer.chats.versions, [chat.key for chat, _ in due_now])
    go = []
    for (chat, record), versions in zip(due_now, listings, strict=True):
        if frozenset(v.version_id for v in versions if not v.delete_marker) != chat.versions:
            outcome[chat.key] = "skipped:versions-changed"
        else:
            go.append(enforcer.ledger.due_chat(record))
    swept = sweep_chats(enforcer, go, now)
    for chat, _ in due_now:
        if chat.key not in outcome:
            outcome[chat.key] = swept.by_key.get(chat.key, "skipped:changed")
    return outcome
