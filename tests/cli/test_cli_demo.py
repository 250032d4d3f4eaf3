"""`consentry demo`, run as a new user runs it: the whole story, in order, fast, with the right outcomes."""

from __future__ import annotations

import re
import time

import pytest
from clirun import Result, run_script

STEPS = (
    "0. The users and their history",
    "1. Writes",
    "2. A new user, opted in by default",
    "3. Opt-out",
    "4. Opt-in",
    "5. Reopen of an archived chat",
    "6. Deletion",
    "7. Legal hold",
    "8. Erasure",
    "9. The nightly sweep, a year later",
    "10. Hold released",
    "Summary",
)


def row(out: str, key: str) -> list[str]:
    """The cells of the last table row for `key` (columns are separated by two or more spaces)."""
    lines = [line for line in out.splitlines() if line.strip().startswith(key + " ")]
    assert lines, f"no row for {key}"
    return re.split(r"\s{2,}", lines[-1].strip())


def section(out: str, title: str) -> str:
    start = out.index(f"== {title} ")
    following = out.find("\n== ", start + 1)
    return out[start : following if following != -1 else None]


@pytest.fixture(scope="module")
def demo() -> tuple[Result, float]:
    # Bounded by the timeout, never judged on the wall clock: this machine is shared and its speed varies.
    started = time.monotonic()
    result = run_script("demo", env={"NO_COLOR": "1"}, timeout=60)
    return result, time.monotonic() - started


def test_demo_plays_every_step_in_order(demo: tuple[Result, float]) -> None:
    result, _ = demo

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    positions = [result.out.index(f"== {step}") for step in STEPS]
    assert positions == sorted(positions)
    for header in ("key", "eligible", "reason", "expires", "what changed"):
        assert header in section(result.out, "3. Opt-out")


def test_demo_tables_show_what_each_rule_did(demo: tuple[Result, float]) -> None:
    out = demo[0].out

    seed = section(out, "0. The users and their history")
    for user in ("ava", "ben", "chen", "dana", "eli", "farah", "gus", "hana", "ivan", "jo", "kim", "lee", "mo"):
        assert re.search(rf"^\s+{user}\s", seed, re.M), user
    for reason in ("consent-pending", "consent-denied", "commercial-tier", "invalid-consent-record", "incognito"):
        assert reason in seed

    new_user = section(out, "2. A new user, opted in by default")
    assert row(new_user, "chats/nina/2025-11-05-first-question.json")[1:4] == ["yes", "consent-granted", "2030-11-04"]
    opt_out = section(out, "3. Opt-out")
    assert row(opt_out, "chats/ava/2025-11-03-grant-proposal.json")[1:5] == [
        "no",
        "consent-denied",
        "2025-12-03",
        "no longer eligible; was consent-granted; expiry was 2030-11-02",
    ]
    opt_in = section(out, "4. Opt-in")
    assert row(opt_in, "chats/chen/2025-08-01-marathon-plan.json")[1:3] == ["no", "before-consent"]
    assert row(opt_in, "chats/chen/2025-11-12-half-marathon-taper.json")[1:3] == ["yes", "consent-granted"]
    reopen = section(out, "5. Reopen of an archived chat")
    assert row(reopen, "chats/chen/2025-09-20-novel-outline.json")[1:4] == ["yes", "consent-granted", "2030-11-13"]
    deletion = section(out, "6. Deletion")
    assert row(deletion, "chats/dana/2025-10-28-birthday-gift-ideas.json")[3:5] == ["removed", "removed: every version"]
    hold = section(out, "7. Legal hold")
    assert "kept until released" in row(hold, "chats/ben/2025-10-11-wedding-toast.json")[4]
    erasure = section(out, "8. Erasure")
    assert erasure.count("removed: every version") == 3
    sweep = section(out, "9. The nightly sweep, a year later")
    assert sweep.count("removed: every version") == 24
    assert "chats/ben/2025-10-11-wedding-toast.json" not in sweep  # held: the sweep skips it
    released = section(out, "10. Hold released")
    assert "removed: every version (hold released)" in released

    summary = section(out, "Summary")
    assert "29: 2 deleted (1 once its legal hold was released), 3 erased, 24 swept" in summary
    assert "eligible now      8" in summary
    assert " 0 failures" in summary
