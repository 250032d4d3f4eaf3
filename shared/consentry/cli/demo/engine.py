"""The demo's engine: plays the story's triggers on a provisioned runtime and keeps what each step changed.

Every trigger goes through the deployed handlers, delivered by `LocalRuntime`
as Lambda would deliver them. After each step the engine reads the ledger
records of the chats the step's users own and keeps those whose decision or
state changed; a `Narrator` (`render.Narrator`) prints them as it goes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from consentry.cli.demo.story import (
    CAST,
    HISTORY,
    STEPS,
    Act,
    Consent,
    Edit,
    Event,
    Settle,
    Step,
    Write,
    at,
    chat,
    transcript,
)
from consentry.local import LocalRuntime
from consentry.service.aws.dynamo import to_item
from consentry.service.records import ChatRecord, State


@dataclass(frozen=True)
class Change:
    """One chat a step changed: its record before (None: new) and after."""

    key: str
    old: ChatRecord | None
    new: ChatRecord


@dataclass
class Totals:
    written: int = 0
    consent_changes: int = 0
    chat_events: int = 0
    removed: Counter[str] = field(default_factory=Counter)  # by step: how many chats it removed


@dataclass
class Outcome:
    """What the story leaves behind, for the summary and the tests."""

    records: dict[str, ChatRecord] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    steps: list[tuple[Step, list[Change]]] = field(default_factory=list)
    seconds: float = 0.0


class Narrator(Protocol):
    """Who tells the story as it is played (`render.Narrator` prints it)."""

    def seeding(self) -> None: ...

    def seeded(self, records: Mapping[str, ChatRecord]) -> None: ...

    def begin(self, step: Step) -> None: ...

    def end(self, step: Step, changes: list[Change]) -> None: ...


def visible(record: ChatRecord | None) -> tuple[Any, ...] | None:
    """What of a record a step's table shows: a change of any of it is a change of the chat."""
    if record is None:
        return None
    return (record.eligible, record.reason, record.expires_on, record.state, record.held, record.last_activity)


class Story:
    def __init__(self, runtime: LocalRuntime, narrator: Narrator | None = None) -> None:
        self.rt = runtime
        self.narrator = narrator
        self.ledger = runtime.enforcer().ledger
        self.versions: dict[str, int] = {}
        self.chats: dict[str, str] = {}  # key -> user id of every chat written (a scan is slow on moto)
        self.outcome = Outcome()

    # -- triggers, as the product would emit them ------------------------------------------------------

    def apply(self, act: Act) -> None:
        if isinstance(act, Write):
            self.write(act.user_id, act.kind, act.when, act.slug)
        elif isinstance(act, Edit):
            key = chat(act.user_id, act.kind, act.written, act.slug)
            self.rt.put_chat(key, transcript(act.user_id, act.kind, act.slug, act.said), at=at(act.when))
            self.outcome.totals.written += 1
        elif isinstance(act, Consent):
            self.consent(act.user_id, act.record)
        elif isinstance(act, Event):
            self.event(act.detail_type, act.user_id, act.when, act.key)
        elif isinstance(act, Settle):
            self.rt.settle()
        else:
            self.rt.sweep(at(act.when))

    def consent(self, user_id: str, record: Mapping[str, Any]) -> None:
        """The account service writes the user's consent record (the table's stream tells us)."""
        version = self.versions.get(user_id, 0) + 1
        self.versions[user_id] = version
        item = {**record, "user_id": user_id, "version": version}
        self.rt.dynamodb.put_item(TableName=self.rt.env["CONSENT_TABLE"], Item=to_item(item))
        self.outcome.totals.consent_changes += 1

    def write(self, user_id: str, kind: str, when: str, slug: str, incognito: bool = False) -> str:
        key = chat(user_id, kind, when, slug)
        self.chats[key] = user_id
        metadata = {"incognito": "true"} if incognito else {}
        self.rt.put_chat(key, transcript(user_id, kind, slug, when), at=at(when), metadata=metadata)
        self.outcome.totals.written += 1
        return key

    def event(self, detail_type: str, user_id: str, when: str, key: str | None = None) -> None:
        detail = {"user_id": user_id, **({"key": key} if key else {})}
        self.rt.chat_event(detail_type, detail, at(when))
        self.outcome.totals.chat_events += 1

    # -- steps ---------------------------------------------------------------------------------------

    def snapshot(self, users: Iterable[str] | None = None) -> dict[str, ChatRecord]:
        """The ledger records of the chats the story wrote (of `users` only, when given).

        Reads are by key, and only of the users a step touches: moto serves
        records with a long history slowly, and a scan slower still.
        """
        wanted = None if users is None else set(users)
        pairs = [(uid, key) for key, uid in self.chats.items() if wanted is None or uid in wanted]
        return self.ledger.get_many(pairs)

    def seed(self) -> None:
        """The cast's consent records, their history (edits and archives included), settled."""
        if self.narrator is not None:
            self.narrator.seeding()
        for person in CAST:
            if person.record is not None:
                self.consent(person.user_id, person.record)
        self.rt.settle()
        for seed in HISTORY:
            self.write(seed.user_id, seed.kind, seed.written, seed.slug, seed.incognito)
            for edit in seed.edits:
                self.rt.put_chat(seed.key, transcript(seed.user_id, seed.kind, seed.slug, edit), at=at(edit))
                self.outcome.totals.written += 1
        self.rt.settle()
        for seed in HISTORY:
            if seed.archived:
                self.event("Chat Archived", seed.user_id, seed.archived, seed.key)
        self.rt.settle()
        self.outcome.records = self.snapshot()
        if self.narrator is not None:
            self.narrator.seeded(self.outcome.records)

    def step(self, step: Step) -> None:
        """Play one step; keep the chats of its users (everyone's when None) whose decision or state changed."""
        if self.narrator is not None:
            self.narrator.begin(step)
        before = dict(self.outcome.records)
        for act in step.acts:
            self.apply(act)
        self.rt.settle()
        changed = self.snapshot(step.users)
        changes = [
            Change(key, before.get(key), record)
            for key, record in sorted(changed.items())
            if visible(record) != visible(before.get(key))
        ]
        self.outcome.totals.removed[step.title] += sum(
            r.state == State.REMOVED and (k not in before or before[k].state != State.REMOVED)
            for k, r in changed.items()
        )
        self.outcome.steps.append((step, changes))
        self.outcome.records = {**before, **changed}
        if self.narrator is not None:
            self.narrator.end(step, changes)

    def play(self, through: int | None = None) -> Outcome:
        """Seed, then play the steps numbered up to `through` (all when None)."""
        started = time.monotonic()
        self.seed()
        for step in STEPS:
            if through is None or step.number <= through:
                self.step(step)
        self.outcome.seconds = time.monotonic() - started
        return self.outcome
