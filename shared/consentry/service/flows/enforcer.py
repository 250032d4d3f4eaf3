"""Applying decisions: ledger first, then S3, then a check that nothing moved.

Every flow turns its event into `Change`s: a chat, the `Event` of the state
table (`consentry.service.records`) and an `Update` that, given the ledger
record, the user's consent record and (when needed) the object's facts,
returns the record the chat should have. `Enforcer.settle` is the one loop
that writes records; it applies a batch of changes so that, whatever runs
concurrently, S3 ends up carrying the tags of the newest ledger record:

1. read the ledger records, then the consent records (in that order, strongly
   consistent: a consent change after our ledger read is seen by our read, or
   its own retag reads the ledger after our write);
2. write the new record conditionally on the revision read (a concurrent
   writer makes one of us reload and decide again);
3. verify S3: put the tags on the record's version when S3 differs (foreign
   tags kept, 10-tag limit: fail closed), hold a version written under a
   legal hold, take a revived chat's delete marker off; a version that is
   gone is a chat removed (or rewritten) meanwhile, which is recorded;
4. re-read ledger and consent; if either moved since step 1, the change is
   settled again, comparing with S3 itself. A stale decision never stays.

A flow that dies between any two of these steps leaves a record whose retry
finishes the work: every chat-event flow verifies S3 even when the ledger
already says what it would write (`check_s3`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime
from enum import Enum
from functools import partial
from typing import TypeVar

from consentry.service.aws.chat_store import ChatStore, ObjectFacts, plan_tags
from consentry.service.aws.consent_store import ConsentStore
from consentry.service.aws.ledger import Conflict, Ledger
from consentry.service.aws.work_queue import WorkQueue
from consentry.service.deadline import OutOfTime
from consentry.service.observability import count, logger, protect
from consentry.service.policy import ConsentRecord, decision_tags
from consentry.service.pseudonyms import Pseudonyms
from consentry.service.records import ChatRecord, Event, State, removed, revives, with_history
from consentry.service.settings import Clients, Settings

MAX_ROUNDS = 6

Update = Callable[[ChatRecord | None, ConsentRecord, ObjectFacts | None], ChatRecord | None]
"""Given (ledger record, consent record, object facts), the record the chat should have; None: leave it."""

T = TypeVar("T")
R = TypeVar("R")


class ReadFacts(Enum):
    """When `settle` reads the object's facts (`ChatStore.head`, a ranged GetObject) before deciding."""

    ALWAYS = "always"
    IF_UNKNOWN = "if-unknown"  # only when the ledger has no live record of the chat
    NEVER = "never"


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ or __hash__ to generate at import
class Change:
    """One event's change to one chat, for `Enforcer.settle`: which chat, which event, and its `Update`."""

    user_id: str
    key: str
    event: Event
    at: datetime | None
    update: Update
    _: KW_ONLY
    facts: ReadFacts = ReadFacts.NEVER  # when to read the object's facts (ChatStore.head)
    check_s3: bool = False  # compare with S3's tags even when the ledger says nothing changed
    label: str = ""  # the history entry's name (default: the event's)
    verify: bool = True  # False: the caller deals with S3 itself (tombstones, locks found by a purge)
    history_at: datetime | None = None  # the history entry's time when `at` is None (a retag: the consent change's)
    version_id: str | None = None  # the version a write notification names: gone, the event changes nothing


@dataclass(eq=False)  # never compared
class Outcome:
    change: Change
    record: ChatRecord | None = None
    error: Exception | None = None
    wrote_ledger: bool = False
    wrote_s3: bool = False
    consent: tuple[bool, int] = (False, 0)
    notes: list[str] = field(default_factory=list)


class VersionGone(Exception):
    """The version a write notification names is no longer stored."""


class Retry(Exception):
    """Settle this change again (with fresh facts when `facts`)."""

    def __init__(self, facts: bool = False) -> None:
        super().__init__()
        self.facts = facts


class Enforcer:
    """The adapters of one deployment and the settle loop over them."""

    def __init__(self, settings: Settings, clients: Clients, names: Pseudonyms | None = None) -> None:
        self.settings = settings
        self.policy = settings.policy
        self.names = names or clients.pseudonyms(settings.hash_key_secret_id)
        self.ledger = Ledger(
            clients.dynamodb,
            settings.ledger_table,
            self.names,
            tombstone_days=settings.policy.tombstone_days,
            due_shards=settings.due_shards,
        )
        self.consents = ConsentStore(clients.dynamodb, settings.consent_table, settings.policy, self.names)
        self.chats = ChatStore(clients.s3, settings.bucket, settings.policy, clients.s3_once)
        self.queue = WorkQueue(clients.sqs, settings.work_queue_url)
        self.threads = settings.threads
        protect([(pattern.prefix, pattern.suffix) for pattern in self.policy.keys], self.names)

    def ref(self, key: str) -> dict[str, str]:
        """How a chat is named in logs: its pseudonym, never its key."""
        return {"key_hash": self.names.key(key)}

    def parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items`, up to `self.threads` at once (S3 and DynamoDB calls are I/O); results in order."""
        if self.threads <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.threads, len(items))) as pool:
            return list(pool.map(fn, items))

    @contextmanager
    def threads_at_most(self, limit: int) -> Iterator[None]:
        """Fewer calls in flight meanwhile: a page of one of a user's 16 hash ranges, which all run at once.

        All of a user's records share one DynamoDB partition (1,000 write units a second): 16 pages of 16
        threads each would ask several times that, and a call throttled through every SDK attempt fails its
        page (retried only after the queue's visibility timeout). docs/cost.md, Opt-out latency.
        """
        saved = self.threads
        self.threads = max(1, min(saved, limit))
        try:
            yield
        finally:
            self.threads = saved

    def settle(self, changes: Sequence[Change], known: Mapping[str, ChatRecord] | None = None) -> list[Outcome]:
        """Apply every change; each outcome carries the record written or the error met.

        Changes of different chats run at once; two changes of one chat (two
        notifications of one key in a batch) run one round after the other,
        the second on the record the first left.
        """
        outcomes: list[Outcome | None] = [None] * len(changes)
        pending = [(i, t, 0) for i, t in enumerate(changes)]  # (index, target, tries that met a move)
        first = True
        while pending:
            keys: set[str] = set()
            now: list[tuple[int, Change, int]] = []
            later: list[tuple[int, Change, int]] = []
            for job in pending:
                (later if job[1].key in keys else now).append(job)
                keys.add(job[1].key)
            if first and known is not None and all(t.key in known for _, t, _ in now):
                records = dict(known)
            else:
                records = self.ledger.get_many([(t.user_id, t.key) for _, t, _ in now])
            first = False
            consents = self.consents.get_many(t.user_id for _, t, _ in now if t.verify)
            tries = {i: n for i, _, n in now}
            retry: list[tuple[int, Change]] = []
            written: list[tuple[int, Outcome]] = []
            attempt = partial(self._attempt, records, consents)
            for i, target, result in self.parallel(attempt, [(i, t) for i, t, _ in now]):
                if isinstance(result, Retry):
                    retry.append((i, replace(target, facts=ReadFacts.ALWAYS) if result.facts else target))
                    continue
                outcomes[i] = result
                if (result.wrote_ledger or result.wrote_s3) and target.verify:
                    written.append((i, result))
            retry.extend(self._moved(written))
            # After a conflict or a move, S3 may hold a stale put of ours: compare with S3 itself.
            pending = later
            for i, target in retry:
                if tries[i] + 1 < MAX_ROUNDS:
                    pending.append((i, replace(target, check_s3=True), tries[i] + 1))
                    continue
                logger.error("gave up: the record kept moving", extra={**self.ref(target.key), "event": target.event})
                count("EnforcementFailures")
                gave_up = Conflict(f"{self.names.key(target.key)}: still contended after {MAX_ROUNDS} rounds")
                outcomes[i] = Outcome(target, error=gave_up)
            pending.sort(key=lambda job: job[0])  # a chat's changes keep their order
        return [o for o in outcomes if o is not None]

    def _attempt(
        self, records: Mapping[str, ChatRecord], consents: Mapping[str, ConsentRecord], job: tuple[int, Change]
    ) -> tuple[int, Change, Outcome | Retry]:
        i, target = job
        consent = consents.get(target.user_id) or ConsentRecord(target.user_id, exists=False)
        try:
            return i, target, self._apply(target, records.get(target.key), consent)
        except Conflict:
            return i, target, Retry()
        except Retry as again:
            return i, target, again
        except OutOfTime:
            raise
        except Exception as err:
            logger.exception("enforcement failed", extra={**self.ref(target.key), "event": target.event})
            count("EnforcementFailures")
            return i, target, Outcome(target, error=err)

    def _apply(self, target: Change, current: ChatRecord | None, consent: ConsentRecord) -> Outcome:
        if target.at is None and target.history_at is None:
            target = replace(target, history_at=consent_changed(consent))
        read = target.facts is ReadFacts.ALWAYS or (
            target.facts is ReadFacts.IF_UNKNOWN and (current is None or current.removed)
        )
        try:
            facts = self.facts(target) if read else None
        except VersionGone:
            return Outcome(target, current, consent=(consent.exists, consent.version))  # a late notification
        consent_id = (consent.exists, consent.version)
        new = target.update(current, consent, facts)
        outcome = Outcome(target, current, consent=consent_id)
        if new is None or new.same_state(current):
            if target.check_s3 and target.verify and current is not None and not current.removed:
                return self._verify(target, current, current, outcome, facts)
            return outcome
        if not target.verify:
            outcome.record = self._write(target, new, current)
            outcome.wrote_ledger = True
            return outcome
        return self._verify(target, new, current, outcome, facts)

    def facts(self, target: Change) -> ObjectFacts | None:
        """The current version's facts; VersionGone when the version a notification names is gone.

        A notification is about the version it names: gone (purged with a
        deleted life, or removed by a sweep), the event changes nothing stored.
        Still stored but not current, it is a late one: the current version's
        facts decide, as for a notification that names no version.
        """
        facts = self.chats.head(target.key)
        if target.version_id is None or (facts is not None and facts.version_id == target.version_id):
            return facts
        if self.chats.tags(target.key, target.version_id) is None:  # one call the write role may make
            raise VersionGone(target.version_id)
        return facts

    def _verify(
        self,
        target: Change,
        new: ChatRecord,
        current: ChatRecord | None,
        outcome: Outcome,
        facts: ObjectFacts | None = None,
    ) -> Outcome:
        """Write `new` (unless it is `current`) and make S3 carry it: tags on its version, holds, markers.

        The version's tags are read unless the facts just read say it has none (a new chat whose writer
        put no tags): then there is nothing foreign to keep and nothing of ours to find.
        """
        ours = decision_tags(new.decision, self.policy) if new.state != State.REMOVED else None
        tags_kept = (
            current is not None
            and not target.check_s3
            and current.tag_error is None
            and current.version_id == new.version_id
            and ours == decision_tags(current.decision, self.policy)
        )
        untagged = facts is not None and facts.tag_count == 0 and facts.version_id == new.version_id
        s3_tags = None if tags_kept or ours is None else {} if untagged else self.chats.tags(target.key, new.version_id)
        if not tags_kept and ours is not None and s3_tags is None:
            return self._gone(target, current, outcome)
        plan = None
        if s3_tags is not None and ours is not None:
            plan = plan_tags(s3_tags, ours, self.policy.tags.eligible)
            if plan.fits:
                new = replace(new, tag_error=None)
            else:
                logger.error(
                    "tag limit: our tags do not fit beside the object's own; marked not eligible",
                    extra={**self.ref(target.key), "foreign_tags": len(s3_tags)},
                )
                count("TagLimitExceeded")
                new = replace(new, eligible=False, tag_error="tag-limit")
        if not new.same_state(current):
            outcome.record = self._write(target, new, current)
            outcome.wrote_ledger = True
        if plan is not None and plan.tags != s3_tags:
            if not self.chats.put_tags(target.key, plan.tags, new.version_id):
                return self._gone(target, outcome.record or current, outcome)
            outcome.wrote_s3 = True
        # A version written under a legal hold is held too (lifecycle would expire it as noncurrent): every
        # version stored now, so that one a late or retried notification names, no longer current, is not missed.
        if target.event is Event.WRITE and new.held and self.hold_as_recorded(target.user_id, target.key, True):
            outcome.wrote_s3 = True
        if revives(current, target.event) and self.chats.remove_markers(target.key):
            outcome.wrote_s3 = True
        return outcome

    def hold_as_recorded(self, user_id: str, key: str, held: bool) -> int:
        """Legal hold on (or off) on every version stored now, then the record read again, until they agree.

        A decision to hold (or release) is made on the record as it was read. A newer hold event recorded
        and applied meanwhile (a release run whole between a hold's record and its pass over S3, or between
        a held chat's write and its lock) would be undone by the older decision's pass: while the record read
        after the pass says otherwise, the pass is made again as it says. Returns the versions changed.
        """
        changed = 0
        while True:
            changed += self.chats.set_legal_hold(key, held)
            latest = self.ledger.get_many([(user_id, key)]).get(key)  # strongly consistent (and the tagger's grant)
            if latest is None or latest.removed or latest.held == held:
                return changed
            held = latest.held

    def _gone(self, target: Change, current: ChatRecord | None, outcome: Outcome) -> Outcome:
        """The version to tag is gone: rewritten (settle again on the current version) or removed (recorded)."""
        facts = self.chats.head(target.key)
        if facts is not None:
            raise Retry(facts=True)
        outcome.notes.append("gone")
        logger.info("object gone before tagging", extra={**self.ref(target.key), "event": target.event})
        count("ObjectsGone")
        if current is None or current.removed or self.chats.versions(target.key):
            return outcome  # never seen, already recorded, or a sweep is between its marker and its purge
        at = target.at or current.expires_at
        outcome.record = self._write(replace(target, label="gone"), removed(current, at), current)
        outcome.wrote_ledger = True
        return outcome

    def _write(self, target: Change, new: ChatRecord, current: ChatRecord | None) -> ChatRecord:
        """The one write of a chat record (conditional on the revision read: Conflict if it moved)."""
        label = target.label or target.event.value
        return self.ledger.write(with_history(new, current, label, target.at or target.history_at), current)

    def _moved(self, written: list[tuple[int, Outcome]]) -> list[tuple[int, Change]]:
        """Targets whose ledger record or consent record changed since we decided."""
        if not written:
            return []
        records = self.ledger.get_many([(o.change.user_id, o.change.key) for _, o in written])
        consents = self.consents.get_many(o.change.user_id for _, o in written)
        moved = []
        for i, outcome in written:
            record = records.get(outcome.change.key)
            consent = consents[outcome.change.user_id]
            expected = outcome.record.revision if outcome.record else None
            if (record.revision if record else None) != expected or (
                consent.exists,
                consent.version,
            ) != outcome.consent:
                moved.append((i, outcome.change))
        return moved

    @classmethod
    def from_env(cls) -> Enforcer:
        from consentry.service import settings

        return cls(*settings.current())


def consent_changed(consent: ConsentRecord) -> datetime | None:
    """When the consent record last changed what the policy reads (its answer or its tier); None if never."""
    return max((t for t in (consent.consent_changed_at, consent.tier_changed_at) if t is not None), default=None)


def raise_first(outcomes: Iterable[Outcome]) -> None:
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
