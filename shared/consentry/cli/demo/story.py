"""The demo's story as data: the cast, their history, and the steps as the triggers the product would emit.

Fourteen users cover every tier and every consent state; their chats and
coding sessions span February to November 2025. Then the steps: new writes, a
new user opted in by default, an opt-out, an opt-in, the reopening of an
archived chat, a deletion, a legal hold, an erasure request, the nightly sweep
a year later and the release of the hold. Times are story times (UTC), never
the clock. `consentry.cli.demo.engine` plays them; `render` prints them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consentry.service.policy import format_instant


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


def record(tier: str | None, consent: str | None = None, changed: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"version": 1, **extra}
    if tier is not None:
        item["tier"] = tier
    if consent is not None:
        item["training_consent"] = consent
    if changed is not None:
        item["consent_changed_at"] = format_instant(at(changed))
    return item


CAST = (
    Person("ava", "pro; said yes to the pop-up on 2025-09-03", record("pro", "granted", "2025-09-03 18:20")),
    Person("ben", "free; existing user, has not answered the pop-up", record("free", "pending")),
    Person("chen", "max; said no on 2025-09-05", record("max", "denied", "2025-09-05 08:00")),
    Person("dana", "free; signed up 2025-09-20, switch on by default", record("free", "granted", "2025-09-20 10:00")),
    Person("eli", "team (commercial); no contractual retention", record("team")),
    Person("farah", "enterprise; 365-day contract", record("enterprise", retention_days=365)),
    Person("gus", "education; 180-day contract", record("education", retention_days=180)),
    Person("hana", "government; 7-year contract", record("government", retention_days=2555)),
    Person("ivan", "API; 7-day contract", record("api", retention_days=7)),
    Person("jo", "free; said yes on 2025-09-10", record("free", "granted", "2025-09-10 12:00")),
    Person("kim", "consent record with an unknown tier", record("platinum", "granted", "2025-09-08 09:00")),
    Person("lee", "no consent record at all", None),
    Person(
        "mo",
        "moved from team to pro on 2025-10-01, then said yes",
        record("pro", "granted", "2025-10-01 12:00", tier_changed_at=format_instant(at("2025-10-01 11:00"))),
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


# -- the triggers a step emits, as the product would --------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """The chat app writes a new chat (or coding session)."""

    user_id: str
    kind: str
    when: str
    slug: str


@dataclass(frozen=True)
class Edit:
    """The chat app writes a new version of a chat written at `written`; its transcript as of `said`."""

    user_id: str
    kind: str
    written: str
    slug: str
    said: str
    when: str


@dataclass(frozen=True)
class Consent:
    """The account service writes the user's consent record (the table's stream tells the handlers)."""

    user_id: str
    record: Mapping[str, Any]


@dataclass(frozen=True)
class Event:
    """The chat app's (or legal's) EventBridge event; `key` absent for a user-wide one."""

    detail_type: str
    user_id: str
    when: str
    key: str | None = None


@dataclass(frozen=True)
class Settle:
    """Wait for every handler to finish before the next trigger (the product's order of events)."""


@dataclass(frozen=True)
class Sweep:
    """The scheduled sweep, with the event's time as now."""

    when: str


Act = Write | Edit | Consent | Event | Settle | Sweep


@dataclass(frozen=True)
class Step:
    """One step: its triggers, and the users whose chats it shows (everyone's when None)."""

    number: int
    title: str
    when: str
    lines: tuple[str, ...]
    acts: tuple[Act, ...]
    users: tuple[str, ...] | None = None


TOAST = chat("ben", "chat", "2025-10-11", "wedding-toast")

STEPS = (
    Step(
        1,
        "Writes",
        "2025-11-03",
        (
            "ava, ben and eli write; ava edits her resume chat (a new version is a new write).",
            "Policy: a write sets the last activity; tags say eligible, reason, retention, expiry, policy.",
        ),
        (
            Write("ava", "chat", "2025-11-03 09:14", "grant-proposal"),
            Write("ben", "code", "2025-11-03 11:02", "excel-macros"),
            Write("eli", "chat", "2025-11-03 15:30", "q4-roadmap"),
            Edit("ava", "chat", "2025-10-02", "resume-rewrite", "2025-11-03", "2025-11-03 20:00"),
        ),
        ("ava", "ben", "eli"),
    ),
    Step(
        2,
        "A new user, opted in by default",
        "2025-11-05 08:00",
        ("nina signs up: the switch is on by default (consent record version 1: granted), then chats and codes.",),
        (
            Consent("nina", record("free", "granted", "2025-11-05 08:00")),
            Settle(),
            Write("nina", "chat", "2025-11-05 08:03", "first-question"),
            Write("nina", "code", "2025-11-05 08:40", "hello-world"),
        ),
        ("nina",),
    ),
    Step(
        3,
        "Opt-out",
        "2025-11-10 19:45",
        (
            'ava switches off "Help improve the assistant" (consent record version 2: denied).',
            "Policy: opting out takes effect on every stored chat, not only new ones; retention falls to 30 days.",
        ),
        (Consent("ava", record("pro", "denied", "2025-11-10 19:45")),),
        ("ava",),
    ),
    Step(
        4,
        "Opt-in",
        "2025-11-12 07:30",
        (
            "chen, who had said no, switches training on (version 2: granted), then writes a new chat.",
            "Policy: only chats new or resumed after the grant become eligible; older ones stay out.",
        ),
        (
            Consent("chen", record("max", "granted", "2025-11-12 07:30")),
            Settle(),
            Write("chen", "chat", "2025-11-12 07:45", "half-marathon-taper"),
        ),
        ("chen",),
    ),
    Step(
        5,
        "Reopen of an archived chat",
        "2025-11-14 21:00",
        (
            "chen reopens novel-outline, archived on 2025-10-01 (Chat Reopened).",
            "Policy: reopening is activity; the chat becomes eligible (chen has opted in), retention restarts.",
        ),
        (Event("Chat Reopened", "chen", "2025-11-14 21:00", chat("chen", "chat", "2025-09-20", "novel-outline")),),
        ("chen",),
    ),
    Step(
        6,
        "Deletion",
        "2025-11-18 12:00",
        (
            "dana deletes birthday-gift-ideas (Chat Deleted); it has two versions.",
            "Policy: ineligible at once; every version and delete marker removed at once.",
        ),
        (Event("Chat Deleted", "dana", "2025-11-18 12:00", chat("dana", "chat", "2025-10-28", "birthday-gift-ideas")),),
        ("dana",),
    ),
    Step(
        7,
        "Legal hold",
        "2025-11-19 10:00",
        (
            "Legal places a hold on ben's wedding-toast (Legal Hold Placed); on 2025-11-20 ben deletes it.",
            "Policy: the hold wins: tagged deleted, not eligible, kept (Object Lock) until the hold is released.",
        ),
        (
            Event("Legal Hold Placed", "ben", "2025-11-19 10:00", TOAST),
            Event("Chat Deleted", "ben", "2025-11-20 16:00", TOAST),
        ),
        ("ben",),
    ),
    Step(
        8,
        "Erasure",
        "2025-11-22 09:00",
        (
            "jo asks for erasure of her data (Erasure Requested), through the work queue.",
            "Policy: every chat of jo's with activity up to the request is removed, within the hour.",
        ),
        (Event("Erasure Requested", "jo", "2025-11-22 09:00"),),
        ("jo",),
    ),
    Step(
        9,
        "The nightly sweep, a year later",
        "2026-11-20 03:00",
        (
            "The scheduled sweep runs with now = 2026-11-20T03:00:00Z (the event's time, not the clock).",
            "Policy: due objects (expires_at <= now) lose every version; held objects are skipped.",
        ),
        (Sweep("2026-11-20 03:00"),),
    ),
    Step(
        10,
        "Hold released",
        "2026-11-21 10:00",
        (
            "Legal releases the hold on ben's wedding-toast (Legal Hold Released).",
            "Policy: a chat deleted under hold is removed as soon as the hold is released.",
        ),
        (Event("Legal Hold Released", "ben", "2026-11-21 10:00", TOAST),),
        ("ben",),
    ),
)
SWEEP_STEP = 9  # the sweep a year later; `serve --seed` stops before it, to leave it to the operator
