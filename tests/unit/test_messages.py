"""The work queue's messages: typed values with one wire form, and a clear refusal of any other shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consentry.service.flows.messages import (
    LISTING,
    BadMessage,
    EraseUser,
    HoldUser,
    Message,
    PlannedChat,
    Position,
    RetagUser,
    SweepPlanPage,
    SweepShard,
    from_wire,
)
from consentry.service.policy import parse_instant

AT = parse_instant("2026-03-01T10:00:00Z")
START = {"pk": {"S": "user#ab"}, "sk": {"S": "chat#cd"}}

EVERY_KIND: list[Message] = [
    RetagUser(user_id="u1"),
    RetagUser(user_id="u1", chain="4900000000000000000001", range="a", start=START),
    SweepShard(shard="07", now=AT, start=START),
    EraseUser(user_id="u1", at=AT),
    EraseUser(user_id="u1", at=AT, range="f", start=START),
    EraseUser(user_id="u1", at=AT, part=LISTING, position=Position(prefix=1, key_marker="chats/u1/b.json")),
    HoldUser(user_id="u1", on=True, at=AT, position=Position(key_marker="k", version_marker="v")),
    SweepPlanPage(now=AT, chats=(PlannedChat("u1", "chats/u1/a.json", frozenset({"v2", "v1"})),), audit="a1", page="3"),
]

# Messages as the queue carried them before they were typed: they must still read the same.
SENT_BEFORE = [
    {"type": "retag", "user_id": "u1", "chain": "49", "range": "a", "start": START},
    {"type": "sweep", "shard": "07", "now": "2026-03-01T10:00:00.000000Z"},
    {"type": "erase", "user_id": "u1", "at": "2026-03-01T10:00:00.000000Z", "part": "s3", "prefix": 0},
    {"type": "hold", "user_id": "u1", "on": False, "at": "2026-03-01T10:00:00.000000Z", "prefix": 0},
    {
        "type": "sweep-plan",
        "now": "2026-03-01T10:00:00.000000Z",
        "audit": "a1",
        "page": "2",
        "chats": [{"user_id": "u1", "key": "chats/u1/a.json", "versions": ["v1"]}],
    },
]


@pytest.mark.parametrize("message", EVERY_KIND, ids=lambda m: m.type)
def test_every_message_reads_back_from_its_wire_form_through_json(message: Message) -> None:
    assert from_wire(json.loads(message.canonical())) == message


@pytest.mark.parametrize("wire", SENT_BEFORE, ids=lambda w: str(w["type"]))
def test_a_message_sent_before_the_types_reads_and_keeps_its_meaning(wire: dict[str, Any]) -> None:
    message = from_wire(wire)
    again = message.to_wire()
    assert {k: v for k, v in wire.items() if k != "prefix" or v != 0} == again


def test_the_canonical_form_ignores_the_order_of_fields_so_a_work_record_dedupes_the_same_page() -> None:
    one = from_wire({"type": "sweep", "shard": "07", "now": "2026-03-01T10:00:00Z"})
    other = from_wire(json.loads('{"now": "2026-03-01T10:00:00.000Z", "shard": "07", "type": "sweep"}'))
    assert one.canonical() == other.canonical()
    assert one.canonical() != SweepShard(shard="08", now=AT).canonical()


def test_a_retag_sent_by_hand_is_not_chained_every_other_page_is() -> None:
    assert not RetagUser(user_id="u1").chained
    assert RetagUser(user_id="u1", chain="49").chained
    assert all(m.chained for m in EVERY_KIND if not isinstance(m, RetagUser))


@pytest.mark.parametrize(
    ("wire", "says"),
    [
        (["retag", "u1"], "JSON object"),
        ({"user_id": "u1"}, "unknown work message type"),
        ({"type": "explode"}, "unknown work message type"),
        ({"type": "retag"}, "user_id"),
        ({"type": "retag", "user_id": ""}, "user_id"),
        ({"type": "sweep", "shard": "07", "now": "later"}, "now"),
        ({"type": "erase", "user_id": "u1", "at": 5}, "at"),
        ({"type": "hold", "user_id": "u1", "on": "yes", "at": "2026-03-01T10:00:00Z"}, "on"),
        ({"type": "hold", "user_id": "u1", "on": True, "at": "2026-03-01T10:00:00Z", "prefix": -1}, "prefix"),
        ({"type": "retag", "user_id": "u1", "start": "page 2"}, "start"),
        ({"type": "sweep-plan", "now": "2026-03-01T10:00:00Z", "chats": [{"key": "k"}]}, "each chat"),
    ],
)
def test_a_malformed_message_is_refused_with_what_is_wrong(wire: Any, says: str) -> None:
    with pytest.raises(BadMessage, match=says):
        from_wire(wire)
