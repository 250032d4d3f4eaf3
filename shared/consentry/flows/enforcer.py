"""Applying decisions: ledger first, then S3 tags, then a check that nothing moved.

Every flow turns its event into `Target`s: a chat and an `Update` that, given
the ledger record, the user's consent record and (when needed) the object's
facts, returns the record the chat should have. `Enforcer.settle` applies a
batch of targets so that, whatever runs concurrently, S3 ends up carrying the
tags of the newest ledger record:

1. read the ledger records, then the consent records (in that order, strongly
   consistent: a consent change after our ledger read is seen by our read, or
   its own retag reads the ledger after our write);
2. write the new record conditionally on the revision read (a concurrent
   writer makes one of us reload and decide again);
3. put the tags when S3 differs (foreign tags kept, 10-tag limit: fail closed);
4. re-read ledger and consent; if either moved since step 1, the target is
   settled again, comparing with S3 itself. A stale decision never stays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from consentry.aws.chat_store import ChatStore, ObjectFacts, plan_tags
from consentry.aws.consent_store import ConsentStore
from consentry.aws.ledger import HISTORY_LIMIT, ChatRecord, Conflict, Ledger
from consentry.aws.work_queue import WorkQueue
from consentry.observability import count, logger
from consentry.policy import Chat, ConsentRecord, Policy, decide, decision_tags, format_instant
from consentry.settings import Clients, Settings

MAX_ROUNDS = 6

Update = Callable[[ChatRecord | None, ConsentRecord, ObjectFacts | None], ChatRecord | None]
"""Given (ledger record, consent record, object facts), the record the chat should have; None: leave it."""


@dataclass(frozen=True)
class Target:
    user_id: str
    key: str
    event: str  # for the record's history: write, reopen, retag, delete, ...
    at: datetime | None
    update: Update
    facts: Literal["always", "if-unknown", "never"] = "never"  # when to HeadObject
    check_s3: bool = False  # compare with S3's tags even when the ledger says nothing changed


@dataclass
class Outcome:
    target: Target
    record: ChatRecord | None = None
    error: Exception | None = None
    wrote_ledger: bool = False
    wrote_s3: bool = False
    consent: tuple[bool, int] = (False, 0)
    notes: list[str] = field(default_factory=list)


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
        kept = {name: getattr(base, name) for name in ("state", "held", "version_id", "revision", "history")}
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


class Enforcer:
    """The adapters of one deployment and the settle loop over them."""

    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings = settings
        self.policy = settings.policy
        self.ledger = Ledger(clients.dynamodb, settings.ledger_table)
        self.consents = ConsentStore(clients.dynamodb, settings.consent_table, settings.policy)
        self.chats = ChatStore(clients.s3, settings.bucket, settings.policy)
        self.queue = WorkQueue(clients.sqs, settings.work_queue_url)

    def settle(self, targets: Sequence[Target], known: Mapping[str, ChatRecord] | None = None) -> list[Outcome]:
        """Apply every target; each outcome carries the record written or the error met."""
        outcomes: list[Outcome | None] = [None] * len(targets)
        pending = list(enumerate(targets))
        for round_ in range(MAX_ROUNDS):
            if not pending:
                break
            if round_ == 0 and known is not None and all(t.key in known for _, t in pending):
                records = dict(known)
            else:
                records = self.ledger.get_many([(t.user_id, t.key) for _, t in pending])
            consents = self.consents.get_many(t.user_id for _, t in pending)
            retry: list[tuple[int, Target]] = []
            written: list[tuple[int, Outcome]] = []
            for i, target in pending:
                try:
                    outcome = self._apply(target, records.get(target.key), consents[target.user_id])
                except Conflict:
                    retry.append((i, target))
                    continue
                except Exception as err:
                    logger.exception("enforcement failed", extra={"key": target.key, "event": target.event})
                    count("EnforcementFailures")
                    outcomes[i] = Outcome(target, error=err)
                    continue
                outcomes[i] = outcome
                if outcome.wrote_ledger or outcome.wrote_s3:
                    written.append((i, outcome))
            retry.extend(self._moved(written))
            # After a conflict or a move, S3 may hold a stale put of ours: compare with S3 itself.
            pending = [(i, replace(t, check_s3=True)) for i, t in retry]
        for i, target in pending:
            logger.error("gave up: the record kept moving", extra={"key": target.key, "event": target.event})
            count("EnforcementFailures")
            outcomes[i] = Outcome(target, error=Conflict(f"{target.key}: still contended after {MAX_ROUNDS} rounds"))
        return [o for o in outcomes if o is not None]

    def _apply(self, target: Target, current: ChatRecord | None, consent: ConsentRecord) -> Outcome:
        read = target.facts == "always" or (target.facts == "if-unknown" and current is None)
        facts = self.chats.head(target.key) if read else None
        consent_id = (consent.exists, consent.version)
        new = target.update(current, consent, facts)
        if new is None or (new.same_state(current) and not target.check_s3):
            return Outcome(target, current, consent=consent_id)
        ours = decision_tags(new.decision, self.policy)
        tags_kept = (
            current is not None
            and current.tag_error is None
            and current.version_id == new.version_id
            and decision_tags(current.decision, self.policy) == ours
        )
        if tags_kept and not target.check_s3:
            return Outcome(
                target, self.write_record(target.event, target.at, new, current), wrote_ledger=True, consent=consent_id
            )
        s3_tags = self.chats.tags(target.key, new.version_id)
        if s3_tags is None:
            logger.info("object gone before tagging", extra={"key": target.key, "event": target.event})
            count("ObjectsGone")
            return Outcome(target, current, consent=consent_id, notes=["gone"])
        plan = plan_tags(s3_tags, ours, self.policy.tags.eligible)
        if plan.fits:
            new = replace(new, tag_error=None)
        else:
            logger.error(
                "tag limit: our tags do not fit beside the object's own; marked not eligible",
                extra={"key": target.key, "foreign_tags": len(s3_tags)},
            )
            count("TagLimitExceeded")
            new = replace(new, eligible=False, tag_error="tag-limit")
        outcome = Outcome(target, current, consent=consent_id)
        if not new.same_state(current):
            outcome.record = self.write_record(target.event, target.at, new, current)
            outcome.wrote_ledger = True
        if plan.tags != s3_tags:
            self.chats.put_tags(target.key, plan.tags, new.version_id)
            outcome.wrote_s3 = True
        return outcome

    def write_record(self, event: str, at: datetime | None, new: ChatRecord, current: ChatRecord | None) -> ChatRecord:
        """Write `new` over `current` (Conflict if it moved), with a history entry for `event` at `at`."""
        entry = {
            "event": event,
            "at": format_instant(at) if at else None,
            "eligible": new.eligible,
            "reason": new.reason.value,
            "consent_version": new.consent_version,
            "expires_on": new.expires_on,
            "state": new.state,
        }
        history = ((current.history if current else ()) + ({k: v for k, v in entry.items() if v is not None},))[
            -HISTORY_LIMIT:
        ]
        return self.ledger.put(replace(new, history=history), current)

    def _moved(self, written: list[tuple[int, Outcome]]) -> list[tuple[int, Target]]:
        """Targets whose ledger record or consent record changed since we decided."""
        if not written:
            return []
        records = self.ledger.get_many([(o.target.user_id, o.target.key) for _, o in written])
        consents = self.consents.get_many(o.target.user_id for _, o in written)
        moved = []
        for i, outcome in written:
            record = records.get(outcome.target.key)
            consent = consents[outcome.target.user_id]
            expected = outcome.record.revision if outcome.record else None
            if (record.revision if record else None) != expected or (
                consent.exists,
                consent.version,
            ) != outcome.consent:
                moved.append((i, outcome.target))
        return moved

    @classmethod
    def from_env(cls) -> Enforcer:
        from consentry import settings

        return cls(*settings.current())
