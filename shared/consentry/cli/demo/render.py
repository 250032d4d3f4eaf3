"""The demo's rendering: a heading, a few lines and a table of changed chats per step, a summary; or JSON.

`play(runtime, out)` runs the story on any provisioned runtime (the demo, the
seed of `consentry serve --seed`, the tests), printing to `out` if given;
`main()` is the command.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from consentry.cli.demo.engine import Change, Outcome, Story
from consentry.cli.demo.story import CAST, Step, at
from consentry.cli.output import Style, print_json, table
from consentry.local import LocalRuntime
from consentry.service.records import ChatRecord, State


class Narrator:
    """Prints the story as the engine plays it."""

    def __init__(self, out: TextIO, style: Style | None = None) -> None:
        self.out = out
        self.style = style or Style(color=False)

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def heading(self, number: int, title: str, when: str) -> None:
        self.say()
        self.say(self.style.bold(f"== {number}. {title} ".ljust(60, "=") + f" {when} UTC"))

    def seeding(self) -> None:
        self.heading(0, "The users and their history", "2025-02-14 .. 2025-10-31")
        self.say("Fourteen users, every tier and consent state; chats and coding sessions over nine months.")
        self.say("Policy consumer-terms-2025 is in force from 2025-08-28.")

    def seeded(self, records: Mapping[str, ChatRecord]) -> None:
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

    def begin(self, step: Step) -> None:
        self.heading(step.number, step.title, step.when)
        for line in step.lines:
            self.say(line)

    def end(self, step: Step, changes: list[Change]) -> None:
        self.say()
        if changes:
            rows = [self.row(c) for c in changes]
            self.say(table(["key", "eligible", "reason", "expires", "what changed"], rows))
        else:
            self.say("  (no chat changed)")

    def row(self, changed: Change) -> list[str]:
        s, new = self.style, changed.new
        if new.state == State.REMOVED:
            eligible, expires = s.dim("-"), s.dim("removed")
        else:
            eligible, expires = s.yes_no(new.eligible), new.expires_on
        return [changed.key, eligible, new.reason.value, expires, change(changed.old, new)]

    def summary(self, story: Story, seconds: float) -> None:
        records = story.outcome.records
        totals = story.outcome.totals
        stored = [r for r in records.values() if r.state != State.REMOVED]
        eligible = [r for r in stored if r.eligible]
        delivered = story.rt.delivered
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


def steps_json(outcome: Outcome) -> list[dict[str, Any]]:
    """Each step's changed chats, as data (`consentry demo --json`)."""
    return [
        {
            "step": step.number,
            "title": step.title,
            "at": at(step.when),
            "chats": [
                {
                    "key": c.key,
                    "eligible": c.new.eligible and c.new.state != State.REMOVED,
                    "reason": c.new.reason.value,
                    "expires_on": None if c.new.state == State.REMOVED else c.new.expires_on,
                    "state": c.new.state,
                    "held": c.new.held,
                    "change": change(c.old, c.new),
                }
                for c in changes
            ],
        }
        for step, changes in outcome.steps
    ]


def play(
    runtime: LocalRuntime, out: TextIO | None = None, style: Style | None = None, through: int | None = None
) -> Outcome:
    """Seed the cast and play the steps up to `through` (all) on a provisioned runtime; print to `out` if given."""
    narrator = Narrator(out, style) if out is not None else None
    story = Story(runtime, narrator)
    outcome = story.play(through)
    if narrator is not None:
        narrator.summary(story, outcome.seconds)
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
            story = Story(runtime)
            story.play()
            data = {
                "server": runtime.endpoint_url,
                "bucket": runtime.bucket,
                "ledger_table": runtime.env["LEDGER_TABLE"],
                "consent_table": runtime.env["CONSENT_TABLE"],
                "steps": steps_json(story.outcome),
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
        narrator = Narrator(out, style)
        story = Story(runtime, narrator)
        story.play()
        narrator.summary(story, time.monotonic() - started)
    return 0
