"""The record's state machine: the table a reader checks is the table the flows consult."""

from __future__ import annotations

from consentry.service import records
from consentry.service.records import NEW_LIFE, NEXT, REVIVES, Event, State


def documented_table() -> dict[tuple[State, Event], str]:
    """The cells of the table in `consentry.service.records`' docstring."""
    assert records.__doc__ is not None
    rows = [line for line in records.__doc__.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")][1:]
    cells = {}
    for row in rows[1:]:
        state, *values = (cell.strip() for cell in row.strip("|").split("|"))
        for event, value in zip(header, values, strict=True):
            cells[(State(state), Event(event))] = value
    return cells


def test_the_documented_table_is_the_table_in_code() -> None:
    cells = documented_table()
    assert set(cells) == {(s, e) for s in State for e in Event}, "a row or a column is missing"
    for (state, event), cell in cells.items():
        target = cell.rstrip(" R*")
        assert NEXT.get((state, event)) == (None if target == "." else State(target)), (state, event, cell)
        assert (cell.endswith(" R")) == ((state, event) in REVIVES), (state, event, cell)
        if cell.endswith("*"):
            assert (state, event) in NEW_LIFE, (state, event, cell)


def test_a_claimed_deleted_chat_follows_the_deleted_row() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from consentry.service.policy import Reason
    from consentry.service.records import ChatRecord

    at = datetime(2025, 10, 1, tzinfo=UTC)
    claimed = ChatRecord("u1", "chats/u1/c1.json", at, False, Reason.DELETED, 0, at, "p@1", state="removing")
    assert records.next_state(claimed, Event.REOPEN) == State.ACTIVE
    deleted = replace(claimed, deleted_at=at)
    assert records.next_state(deleted, Event.REOPEN) is None
    assert records.next_state(deleted, Event.PURGED) == State.REMOVED
    assert records.next_state(deleted, Event.LOCKED) == State.DELETED
