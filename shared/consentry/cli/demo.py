"""`consentry demo`: the policy played on an embedded AWS, step by step.

Fourteen users cover every tier and every consent state; their chats and
coding sessions span February to November 2025. Then the story: new writes, a
new user opted in by default, an opt-out, an opt-in, the reopening of an
archived chat, a deletion, a legal hold, an erasure request, the nightly sweep
a year later and the release of the hold. Every step goes through the
deployed handlers, delivered by `LocalRuntime` as Lambda would deliver them,
and prints the chats it changed. All times come from the events (S3
`eventTime`, EventBridge `time`): the story does not read the clock.

`play(runtime, out)` runs the story on any provisioned runtime (the demo, the
seed of `consentry serve --seed`, the tests); `main()` is the command.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from consentry.aws.dynamo import to_item
from consentry.cli.commands.output import Style, print_json, table
from consentry.local import LocalRuntime
from consentry.policy import format_instant
from consentry.records import ChatRecord, State


def at(text: str) -> datetime:
    """A story time, UTC: at("2025-11-10 19:45")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """A user and the consent record the account service keeps for them (None: no record at all)."""

    user_id: str
    about: str
    record: Mapping[str, Any] | None


@dataclass(frozen=True)
class Seed:
    """A chat (or coding session) of the history, written at `written` (and edited at `edits`)."""

    user_id: str
    kind: str  # chat | code
    written: str
    slug: str
    edits: tuple[str, ...] = ()
    incognito: bool = False
    archived: str | None = None

    @property
    def key(self) -> str:
        return chat(self.user_id, self.kind, self.written, self.slug)


def chat(user_id: str, kind: str, written: str, slug: str) -> str:
    day = written[:10]
    if kind == "code":
        return f"code-sessions/{user_id}/{day}-{slug}.jsonl"
    return f"chats/{user_id}/{day}-{slug}.json"


def _record(tier: str | None, consent: str | None = None, changed: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"version": 1, **extra}
    if tier is not None:
        item["tier"] = tier
    if consent is not None:
        item["training_consent"] = consent
    if changed is not None:
        item["consent_changed_at"] = format_instant(at(changed))
    return item


CAST = (
    Person("ava", "pro; said yes to the pop-up on 2025-09-03", _record("pro", "granted", "2025-09-03 18:20")),
    Person("ben", "free; existing user, has not answered the pop-up", _record("free", "pending")),
    Person("chen", "max; said no on 2025-09-05", _record("max", "denied", "2025-09-05 08:00")),
    Person("dana", "free; signed up 2025-09-20, switch on by default", _record("free", "granted", "2025-09-20 10:00")),
    Person("eli", "team (commercial); no contractual retention", _record("team")),
    Person("farah", "enterprise; 365-day contract", _record("enterprise", retention_days=365)),
    Person("gus", "education; 180-day contract", _record("education", retention_days=180)),
    Person("hana", "government; 7-year contract", _record("government", retention_days=2555)),
    Person("ivan", "API; 7-day contract", _record("api", retention_days=7)),
    Person("jo", "free; said yes on 2025-09-10", _record("free", "granted", "2025-09-10 12:00")),
    Person("kim", "consent record with an unknown tier", _record("platinum", "granted", "2025-09-08 09:00")),
    Person("lee", "no consent record at all", None),
    Person(
        "mo",
        "moved from team to pro on 2025-10-01, then said yes",
        _record("pro", "granted", "2025-10-01 12:00", tier_changed_at=format_instant(at("2025-10-01 11:00"))),
    ),
)

HISTORY = (
    Seed("ava", "chat", "2025-02-14 20:11", "valentines-dinner-ideas"),
    Seed("ava", "chat", "2025-06-02 09:30", "lisbon-trip-plan"),
    Seed("ava", "code", "2025-09-15 14:05", "fix-flaky-ci"),
    Seed("ava", "chat", "2025-10-02 21:40", "resume-rewrite", edits=("2025-10-03 08:15",)),
    Seed("ava", "chat", "2025-10-20 23:15", "therapy-notes", incognito=True),
    Seed("ava", "chat", "2025-10-25 10:00", "sourdough-starter"),
    Seed("ben", "chat", "2025-03-08 17:45", "garden-layout"),
    Seed("ben", "code", "2025-09-22 19:30", "python-homework"),
    Seed("ben", "chat", "2025-10-11 22:05", "wedding-toast"),
    Seed("chen", "code", "2025-05-19 13:00", "rust-borrow-checker"),
    Seed("chen", "chat", "2025-08-01 06:40", "marathon-plan"),
    Seed("chen", "chat", "2025-09-20 21:10", "novel-outline", archived="2025-10-01 09:00"),
    Seed("chen", "code", "2025-10-18 15:20", "ray-tracer"),
    Seed("dana", "chat", "2025-09-20 10:05", "welcome-tour"),
    Seed("dana", "code", "2025-10-05 16:45", "todo-app-react"),
    Seed("dana", "chat", "2025-10-12 12:30", "job-offer-negotiation"),
    Seed("dana", "chat", "2025-10-28 18:00", "birthday-gift-ideas", edits=("2025-10-29 09:10",)),
    Seed("eli", "chat", "2025-07-14 10:00", "q3-okrs"),
    Seed("eli", "code", "2025-10-09 11:30", "billing-migration"),
    Seed("farah", "chat", "2025-03-04 09:00", "vendor-contract-review"),
    Seed("farah", "chat", "2025-10-16 14:00", "security-questionnaire"),
    Seed("gus", "chat", "2025-09-29 08:30", "thermodynamics-notes"),
    Seed("hana", "chat", "2025-10-06 13:15", "policy-brief-draft"),
    Seed("ivan", "code", "2025-10-30 02:00", "batch-eval-run"),
    Seed("jo", "chat", "2025-04-22 19:00", "flat-hunting"),
    Seed("jo", "chat", "2025-09-12 20:20", "cover-letter"),
    Seed("jo", "code", "2025-10-14 10:10", "scraper-script"),
    Seed("kim", "chat", "2025-10-08 12:00", "meal-prep"),
    Seed("lee", "chat", "2025-09-18 21:00", "guitar-chords"),
    Seed("lee", "code", "2025-10-21 09:45", "bash-aliases"),
    Seed("mo", "chat", "2025-09-10 09:00", "team-standup-notes"),
    Seed("mo", "chat", "2025-10-15 20:00", "side-project-pitch"),
)


def transcript(user_id: str, kind: str, slug: str, when: str) -> bytes:
    """A small, plausible body: a chat transcript (JSON) or a coding session (JSON lines)."""
    title = slug.replace("-", " ")
    if kind == "code":
        lines = [
            {"t": when, "role": "user", "text": f"help me with: {title}"},
            {"t": when, "role": "tool", "name": "run_tests", "exit_code": 1},
            {"t": when, "role": "assistant", "text": "The failing test depends on ordering; here is a fix."},
        ]
        return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"
    body = {
        "user_id": user_id,
        "title": title.capitalize(),
        "created_at": when,
        "messages": [
            {"role": "user", "text": f"Can you help with {title}?"},
            {"role": "assistant", "text": "Of course. Let's start with what you already have."},
        ],
    }
    return json.dumps(body, indent=1).encode()


# -- the story ---------------------------------------------------------------------------------------


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
    steps: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)  # each step's changed chats, as data (--json)
    seconds: float = 0.0


class Story:
    def __init__(self, runtime: LocalRuntime, out: TextIO | None = None, style: Style | None = None) -> None:
        self.rt = runtime
        self.out = out
        self.style = style or Style(color=False)
        self.ledger = runtime.enforcer().ledger
        self.versions: dict[str, int] = {}
        self.chats: dict[str, str] = {}  # key -> user id of every chat written (a scan is slow on moto)
        self.outcome = Outcome()
        self.through: int | None = None

    # -- output --------------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        if self.out is not None:
            print(text, file=self.out)

    def heading(self, number: int, title: str, when: str) -> None:
        self.say()
        self.say(self.style.bold(f"== {number}. {title} ".ljust(60, "=") + f" {when} UTC"))

    # -- triggers, as the product would emit them ------------------------------------------------------

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

    def step(
        self,
        number: int,
        title: str,
        when: str,
        lines: Iterable[str],
        action: Callable[[], None],
        users: Iterable[str] | None = None,
    ) -> None:
        """Play one step; print the chats of `users` (everyone when None) whose decision or state changed."""
        if self.through is not None and number > self.through:
            return
        self.heading(number, title, when)
        for line in lines:
            self.say(line)
        before = dict(self.outcome.records)
        action()
        self.rt.settle()
        changed = self.snapshot(users)
        after = {**before, **changed}
        rows = [
            self.row(key, before.get(key), record)
            for key, record in sorted(changed.items())
            if _visible(record) != _visible(before.get(key))
        ]
        self.outcome.totals.removed[title] += sum(
            r.state == State.REMOVED and (k not in before or before[k].state != State.REMOVED)
            for k, r in changed.items()
        )
        self.outcome.steps.append((title, rows))
        self.outcome.changes.append(
            {
                "step": number,
                "title": title,
                "at": at(when),
                "chats": [
                    {
                        "key": key,
                        "eligible": record.eligible and record.state != State.REMOVED,
                        "reason": record.reason.value,
                        "expires_on": None if record.state == State.REMOVED else record.expires_on,
                        "state": record.state,
                        "held": record.held,
                        "change": change(before.get(key), record),
                    }
                    for key, record in sorted(changed.items())
                    if _visible(record) != _visible(before.get(key))
                ],
            }
        )
        self.outcome.records = after
        self.say()
        if rows:
            self.say(table(["key", "eligible", "reason", "expires", "what changed"], rows))
        else:
            self.say("  (no chat changed)")

    def row(self, key: str, old: ChatRecord | None, new: ChatRecord) -> list[str]:
        s = self.style
        if new.state == State.REMOVED:
            eligible, expires = s.dim("-"), s.dim("removed")
        else:
            eligible, expires = s.yes_no(new.eligible), new.expires_on
        return [key, eligible, new.reason.value, expires, change(old, new)]

    # -- the story -----------------------------------------------------------------------------------

    def seed(self) -> None:
        self.heading(0, "The users and their history", "2025-02-14 .. 2025-10-31")
        self.say("Fourteen users, every tier and consent state; chats and coding sessions over nine months.")
        self.say("Policy consumer-terms-2025 is in force from 2025-08-28.")
        for person in CAST:
            if person.record is not None:
                self.consent(person.user_id, person.record)
        self.rt.settle()
        for seed in HISTORY:
            self.write(seed.user_id, seed.kind, seed.written, seed.slug, seed.incognito)
            for edit in seed.edits:
                key = seed.key
                self.rt.put_chat(key, transcript(seed.user_id, seed.kind, seed.slug, edit), at=at(edit))
                self.outcome.totals.written += 1
        self.rt.settle()
        for seed in HISTORY:
            if seed.archived:
                self.event("Chat Archived", seed.user_id, seed.archived, seed.key)
        self.rt.settle()
        records = self.snapshot()
        self.outcome.records = records
        by_user: dict[str, list[ChatRecord]] = {}
        for record in records.values():
            by_user.setdefault(record.user_id, []).append(record)
        rows = []
        for person in CAST:
            mine = by_user.get(person.user_id, [])
            reasons = Counter(r.reason.value for r in mine)
            rows.append(
                [
                    person.user_id,
                    person.about,
                    str(len(mine)),
                    self.style.good(str(sum(r.eligible for r in mine))) if any(r.eligible for r in mine) else "0",
                    ", ".join(f"{reason} x{n}" if n > 1 else reason for reason, n in reasons.most_common()),
                ]
            )
        self.say()
        self.say(table(["user", "who", "chats", "eligible", "reasons"], rows))
        self.outcome.steps.append(("seed", rows))

    def play(self, through: int | None = None) -> Outcome:
        """Seed, then play the steps numbered up to `through` (all when None)."""
        started = time.monotonic()
        self.through = through
        self.seed()
        self.step(
            1,
            "Writes",
            "2025-11-03",
            [
                "ava, ben and eli write; ava edits her resume chat (a new version is a new write).",
                "Policy: a write sets the last activity; tags say eligible, reason, retention, expiry, policy.",
            ],
            self._writes,
            users=["ava", "ben", "eli"],
        )
        self.step(
            2,
            "A new user, opted in by default",
            "2025-11-05 08:00",
            [
                "nina signs up: the switch is on by default (consent record version 1: granted), then chats and codes.",
            ],
            self._new_user,
            users=["nina"],
        )
        self.step(
            3,
            "Opt-out",
            "2025-11-10 19:45",
            [
                'ava switches off "Help improve the assistant" (consent record version 2: denied).',
                "Policy: opting out takes effect on every stored chat, not only new ones; retention falls to 30 days.",
            ],
            self._opt_out,
            users=["ava"],
        )
        self.step(
            4,
            "Opt-in",
            "2025-11-12 07:30",
            [
                "chen, who had said no, switches training on (version 2: granted), then writes a new chat.",
                "Policy: only chats new or resumed after the grant become eligible; older ones stay out.",
            ],
            self._opt_in,
            users=["chen"],
        )
        self.step(
            5,
            "Reopen of an archived chat",
            "2025-11-14 21:00",
            [
                "chen reopens novel-outline, archived on 2025-10-01 (Chat Reopened).",
                "Policy: reopening is activity; the chat becomes eligible (chen has opted in), retention restarts.",
            ],
            self._reopen,
            users=["chen"],
        )
        self.step(
            6,
            "Deletion",
            "2025-11-18 12:00",
            [
                "dana deletes birthday-gift-ideas (Chat Deleted); it has two versions.",
                "Policy: ineligible at once; every version and delete marker removed at once.",
            ],
            self._delete,
            users=["dana"],
        )
        self.step(
            7,
            "Legal hold",
            "2025-11-19 10:00",
            [
                "Legal places a hold on ben's wedding-toast (Legal Hold Placed); on 2025-11-20 ben deletes it.",
                "Policy: the hold wins: tagged deleted, not eligible, kept (Object Lock) until the hold is released.",
            ],
            self._hold,
            users=["ben"],
        )
        self.step(
            8,
            "Erasure",
            "2025-11-22 09:00",
            [
                "jo asks for erasure of her data (Erasure Requested), through the work queue.",
                "Policy: every chat of jo's with activity up to the request is removed, within the hour.",
            ],
            self._erasure,
            users=["jo"],
        )
        self.step(
            9,
            "The nightly sweep, a year later",
            "2026-11-20 03:00",
            [
                "The scheduled sweep runs with now = 2026-11-20T03:00:00Z (the event's time, not the clock).",
                "Policy: due objects (expires_at <= now) lose every version; held objects are skipped.",
            ],
            lambda: self._sweep("2026-11-20 03:00"),
        )
        self.step(
            10,
            "Hold released",
            "2026-11-21 10:00",
            [
                "Legal releases the hold on ben's wedding-toast (Legal Hold Released).",
                "Policy: a chat deleted under hold is removed as soon as the hold is released.",
            ],
            self._release,
            users=["ben"],
        )
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def _writes(self) -> None:
        self.write("ava", "chat", "2025-11-03 09:14", "grant-proposal")
        self.write("ben", "code", "2025-11-03 11:02", "excel-macros")
        self.write("eli", "chat", "2025-11-03 15:30", "q4-roadmap")
        key = chat("ava", "chat", "2025-10-02", "resume-rewrite")
        self.rt.put_chat(key, transcript("ava", "chat", "resume-rewrite", "2025-11-03"), at=at("2025-11-03 20:00"))
        self.outcome.totals.written += 1

    def _new_user(self) -> None:
        self.consent("nina", _record("free", "granted", "2025-11-05 08:00"))
        self.rt.settle()
        self.write("nina", "chat", "2025-11-05 08:03", "first-question")
        self.write("nina", "code", "2025-11-05 08:40", "hello-world")

    def _opt_out(self) -> None:
        self.consent("ava", _record("pro", "denied", "2025-11-10 19:45"))

    def _opt_in(self) -> None:
        self.consent("chen", _record("max", "granted", "2025-11-12 07:30"))
        self.rt.settle()
        self.write("chen", "chat", "2025-11-12 07:45", "half-marathon-taper")

    def _reopen(self) -> None:
        self.event("Chat Reopened", "chen", "2025-11-14 21:00", chat("chen", "chat", "2025-09-20", "novel-outline"))

    def _delete(self) -> None:
        self.event(
            "Chat Deleted", "dana", "2025-11-18 12:00", chat("dana", "chat", "2025-10-28", "birthday-gift-ideas")
        )

    def _hold(self) -> None:
        key = chat("ben", "chat", "2025-10-11", "wedding-toast")
        self.event("Legal Hold Placed", "ben", "2025-11-19 10:00", key)
        self.event("Chat Deleted", "ben", "2025-11-20 16:00", key)

    def _erasure(self) -> None:
        self.event("Erasure Requested", "jo", "2025-11-22 09:00")

    def _sweep(self, when: str) -> None:
        self.rt.sweep(at(when))

    def _release(self) -> None:
        self.event("Legal Hold Released", "ben", "2026-11-21 10:00", chat("ben", "chat", "2025-10-11", "wedding-toast"))

    # -- the summary -------------------------------------------------------------------------------------

    def summary(self, seconds: float) -> None:
        records = self.outcome.records
        totals = self.outcome.totals
        stored = [r for r in records.values() if r.state != State.REMOVED]
        eligible = [r for r in stored if r.eligible]
        delivered = self.rt.delivered
        s = self.style
        self.say()
        self.say(s.bold("== Summary ".ljust(60, "=")))
        removed = totals.removed
        deleted, released = removed["Deletion"], removed["Hold released"]
        eligible_by_user = Counter(r.user_id for r in stored if r.eligible)
        rows = [
            ["users", f"{len(CAST) + 1}: every tier; consent granted, denied, pending, absent, invalid"],
            ["chat objects", f"{len(records)} ({totals.written} writes, edits included)"],
            ["still stored", f"{len(stored)}: " + _count_by(stored)],
            [
                "eligible now",
                s.good(str(len(eligible)))
                + f", until {_until(stored)}: "
                + ", ".join(f"{uid} {n}" for uid, n in sorted(eligible_by_user.items())),
            ],
            [
                "removed",
                f"{len(records) - len(stored)}: {deleted + released} deleted ({released} once its legal hold "
                f"was released), {removed['Erasure']} erased, {removed['The nightly sweep, a year later']} swept",
            ],
            [
                "events delivered",
                f"{delivered.writes} S3 notifications, {delivered.stream} consent-stream records, "
                f"{totals.chat_events} chat events, 1 scheduled sweep, {delivered.work} work-queue messages, "
                f"{delivered.failures} failures",
            ],
            ["time", f"{seconds:.1f} s; story time 2025-02-14 .. 2026-11-21, taken from the events only"],
        ]
        self.say(table(["", ""], rows).split("\n", 2)[2])
        self.say()
        self.say("Explore: `consentry serve --seed` replays this story up to the erasure and keeps serving it; then:")
        self.say("  consentry explain chats/chen/2025-09-20-novel-outline.json")
        self.say("  consentry explain --user ava      consentry report      consentry sweep --dry-run --now 2026-11-20")


def _visible(record: ChatRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    return (record.eligible, record.reason, record.expires_on, record.state, record.held, record.last_activity)


def change(old: ChatRecord | None, new: ChatRecord) -> str:
    """What a step did to one chat, in a few words."""
    if old is None:
        return "new"
    notes = []
    if new.state == State.REMOVED and old.state != State.REMOVED:
        return "removed: every version" + (" (hold released)" if old.held else "")
    if new.held != old.held:
        notes.append("legal hold on" if new.held else "legal hold off")
    if new.state != old.state:
        notes.append(f"{old.state} -> {new.state}")
    if new.eligible != old.eligible:
        notes.append("now eligible" if new.eligible else "no longer eligible")
    if new.reason != old.reason and not (new.eligible and not old.eligible):
        notes.append(f"was {old.reason.value}")
    if new.expires_on != old.expires_on:
        notes.append(f"expiry was {old.expires_on}")
    if new.held and new.state == State.DELETED:
        notes.append("kept until released")
    return "; ".join(notes) or "activity moved"


def _count_by(records: Iterable[ChatRecord]) -> str:
    counts = Counter(r.reason.value + (" (held)" if r.held else "") for r in records)
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())


def _until(records: Iterable[ChatRecord]) -> str:
    expiries = sorted(r.expires_on for r in records if r.eligible)
    if not expiries:
        return "-"
    return expiries[0] if expiries[0] == expiries[-1] else f"{expiries[0]} .. {expiries[-1]}"


SWEEP_STEP = 9  # the sweep a year later; `serve --seed` stops before it, to leave it to the operator


def play(
    runtime: LocalRuntime, out: TextIO | None = None, style: Style | None = None, through: int | None = None
) -> Outcome:
    """Seed the cast and play the steps up to `through` (all) on a provisioned runtime; print to `out` if given."""
    story = Story(runtime, out, style)
    outcome = story.play(through)
    if out is not None:
        story.summary(outcome.seconds)
    return outcome


def summary_json(story: Story, seconds: float) -> dict[str, Any]:
    """The summary's numbers (`consentry demo --json`)."""
    outcome = story.outcome
    stored = [r for r in outcome.records.values() if r.state != State.REMOVED]
    delivered = story.rt.delivered
    return {
        "users": len(CAST) + 1,
        "chat_objects": len(outcome.records),
        "writes": outcome.totals.written,
        "stored": len(stored),
        "eligible": sum(r.eligible for r in stored),
        "held": sum(r.held for r in stored),
        "removed": len(outcome.records) - len(stored),
        "removed_by_step": {title: n for title, n in outcome.totals.removed.items() if n},
        "by_reason": dict(Counter(r.reason.value for r in stored).most_common()),
        "delivered": {
            "s3_notifications": delivered.writes,
            "consent_stream_records": delivered.stream,
            "chat_events": outcome.totals.chat_events,
            "work_messages": delivered.work,
            "failures": delivered.failures,
        },
        "seconds": round(seconds, 1),
    }


def main(out: TextIO | None = None, prefix: str = "consentry", as_json: bool = False) -> int:
    """`consentry demo`: start the embedded server, provision, play, summarize (as JSON with `as_json`)."""
    out = out or sys.stdout
    style = Style(out)
    started = time.monotonic()
    with LocalRuntime.serve(prefix) as runtime:
        if as_json:
            story = Story(runtime, None, Style(color=False))
            story.play()
            data = {
                "server": runtime.endpoint_url,
                "bucket": runtime.bucket,
                "ledger_table": runtime.env["LEDGER_TABLE"],
                "consent_table": runtime.env["CONSENT_TABLE"],
                "steps": story.outcome.changes,
                "summary": summary_json(story, time.monotonic() - started),
            }
            print_json(data, out)
            return 0
        print(style.bold("consentry demo: the consumer-terms-2025 policy on an embedded AWS (moto)"), file=out)
        print(
            f"  server {runtime.endpoint_url}, bucket {runtime.bucket}, ledger {runtime.env['LEDGER_TABLE']}, "
            f"consent table {runtime.env['CONSENT_TABLE']}",
            file=out,
        )
        story = Story(runtime, out, style)
        story.play()
        story.summary(time.monotonic() - started)
    return 0
