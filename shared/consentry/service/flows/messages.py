"""The work queue's messages: one frozen dataclass per kind of page, and their wire form.

Every sender builds one of these and every reader gets one from `from_wire`;
no flow reads a message dict by key. The wire form keeps the field names the
queue has always carried (`type`, `user_id`, `at`, `now`, `start`, `range`,
`prefix`, ...), so a message sent before this module, waiting in a queue or a
dead-letter queue, still reads. A message that is not one of these shapes
raises `BadMessage`, which the worker dead-letters with its reason.

Example:
    >>> from consentry.service.policy import parse_instant
    >>> page = SweepShard(shard="03", now=parse_instant("2026-01-01T00:00:00Z"))
    >>> page.to_wire()
    {'type': 'sweep', 'shard': '03', 'now': '2026-01-01T00:00:00.000000Z'}
    >>> from_wire(page.to_wire()) == page
    True
    >>> from_wire({"type": "retag"})
    Traceback (most recent call last):
    ...
    consentry.service.flows.messages.BadMessage: retag message: user_id must be text, not None
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from consentry.service.policy import format_instant, parse_instant

M = TypeVar("M", bound="Message")

LISTING = "s3"  # the `part` of an erasure that lists the user's objects in S3, after its ledger ranges


class BadMessage(ValueError):
    """A work message that is not one of the shapes below: dead-lettered, never retried into a KeyError."""


@dataclass(frozen=True, kw_only=True)
class Position:
    """Where a page of a user's S3 listing starts: the key pattern's index and S3's markers."""

    prefix: int = 0
    key_marker: str | None = None
    version_marker: str | None = None


@dataclass(frozen=True, kw_only=True)
class Message:
    """What every work message has: its type on the wire, and the ledger page it continues from."""

    type: ClassVar[str]
    start: Mapping[str, Any] | None = None  # DynamoDB's LastEvaluatedKey of the previous page, as DynamoDB gave it

    @property
    def chained(self) -> bool:
        """Part of a chain that dedupes its pages (a work record per page); a message sent by hand is just run."""
        return True

    def to_wire(self) -> dict[str, Any]:
        """The JSON object the queue carries; fields at their default are left out."""
        wire: dict[str, Any] = {"type": self.type}
        for name, value in _fields(self).items():
            if isinstance(value, Position):
                wire.update(_fields(value))
            elif isinstance(value, datetime):
                wire[name] = format_instant(value)
            elif isinstance(value, tuple):
                wire[name] = [_fields(item) | {"versions": sorted(item.versions)} for item in value]
            else:
                wire[name] = value
        return wire

    def canonical(self) -> str:
        """The wire form as one string (sorted keys): what a work record's id hashes."""
        return json.dumps(self.to_wire(), sort_keys=True)

    def following(self: M, start: Mapping[str, Any]) -> M:
        """The same page's next ledger page."""
        return replace(self, start=start)


@dataclass(frozen=True, kw_only=True)
class RetagUser(Message):
    """Decide again on a user's chats (a page of one hash range, once they do not fit one page)."""

    type: ClassVar[str] = "retag"
    user_id: str
    range: str | None = None
    chain: str = ""  # what asked for it (a stream record's sequence number); none when sent by hand

    @property
    def chained(self) -> bool:
        return bool(self.chain)


@dataclass(frozen=True, kw_only=True)
class SweepShard(Message):
    """One page of one due-index shard's chats due at `now`."""

    type: ClassVar[str] = "sweep"
    shard: str
    now: datetime


@dataclass(frozen=True, kw_only=True)
class EraseUser(Message):
    """One page of an erasure requested at `at`: the root, a range of the ledger, or a page of the S3 pass."""

    type: ClassVar[str] = "erase"
    user_id: str
    at: datetime
    range: str | None = None
    part: str | None = None  # LISTING: the S3 pass over the user's key patterns
    position: Position = field(default_factory=Position)

    def listing(self, position: Position) -> EraseUser:
        return EraseUser(user_id=self.user_id, at=self.at, part=LISTING, position=position)


@dataclass(frozen=True, kw_only=True)
class HoldUser(Message):
    """A legal hold placed (`on`) or released on every chat of a user, one S3 listing page at a time."""

    type: ClassVar[str] = "hold"
    user_id: str
    on: bool
    at: datetime
    position: Position = field(default_factory=Position)


@dataclass(frozen=True)
class PlannedChat:
    """A chat of a reviewed deletion plan, and the versions the plan saw."""

    user_id: str
    key: str
    versions: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class SweepPlanPage(Message):
    """One page of a reviewed deletion plan (`consentry sweep --apply`) for the instant `now`."""

    type: ClassVar[str] = "sweep-plan"
    now: datetime
    chats: tuple[PlannedChat, ...]
    audit: str = ""  # the operator command's audit entry, which the page reports to
    page: str = "0"


KINDS: Mapping[str, type[Message]] = {
    kind.type: kind for kind in (RetagUser, SweepShard, EraseUser, HoldUser, SweepPlanPage)
}


def from_wire(wire: Any) -> Message:
    """The message a queue's JSON object is; `BadMessage` names what is wrong with any other."""
    if not isinstance(wire, Mapping):
        raise BadMessage(f"a work message is a JSON object, not {type(wire).__name__}")
    kind = KINDS.get(wire.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise BadMessage(f"unknown work message type: {wire.get('type')!r}")
    read = _Reader(kind.type, wire)
    common: dict[str, Any] = {"start": read.optional("start", dict)}
    if kind is RetagUser:
        return RetagUser(
            user_id=read.text("user_id"),
            range=read.optional("range", str),
            chain=read.optional("chain", str) or "",
            **common,
        )
    if kind is SweepShard:
        return SweepShard(shard=read.text("shard"), now=read.instant("now"), **common)
    if kind is EraseUser:
        return EraseUser(
            user_id=read.text("user_id"),
            at=read.instant("at"),
            range=read.optional("range", str),
            part=read.optional("part", str),
            position=read.position(),
            **common,
        )
    if kind is HoldUser:
        return HoldUser(
            user_id=read.text("user_id"), on=read.flag("on"), at=read.instant("at"), position=read.position(), **common
        )
    chats = read.optional("chats", list) or []
    return SweepPlanPage(
        now=read.instant("now"),
        chats=tuple(read.planned(chat) for chat in chats),
        audit=read.optional("audit", str) or "",
        page=read.optional("page", str) or "0",
        **common,
    )


class _Reader:
    """Typed reads of one wire message's fields, each failure a `BadMessage` naming the field."""

    def __init__(self, kind: str, wire: Mapping[str, Any]) -> None:
        self.kind, self.wire = kind, wire

    def fail(self, name: str, what: str) -> BadMessage:
        return BadMessage(f"{self.kind} message: {name} must be {what}, not {self.wire.get(name)!r}")

    def text(self, name: str) -> str:
        value = self.wire.get(name)
        if not isinstance(value, str) or not value:
            raise self.fail(name, "text")
        return value

    def optional(self, name: str, kind: type) -> Any:
        value = self.wire.get(name)
        if value is not None and not isinstance(value, kind):
            raise self.fail(name, kind.__name__)
        return value

    def flag(self, name: str) -> bool:
        value = self.wire.get(name)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value

    def instant(self, name: str) -> datetime:
        try:
            return parse_instant(self.text(name))
        except ValueError:
            raise self.fail(name, "an instant with its zone") from None

    def position(self) -> Position:
        prefix = self.wire.get("prefix", 0)
        if not isinstance(prefix, int) or isinstance(prefix, bool) or prefix < 0:
            raise self.fail("prefix", "a key pattern's index")
        return Position(
            prefix=prefix,
            key_marker=self.optional("key_marker", str),
            version_marker=self.optional("version_marker", str),
        )

    def planned(self, chat: Any) -> PlannedChat:
        versions = chat.get("versions") if isinstance(chat, Mapping) else None
        if not (
            isinstance(chat, Mapping)
            and isinstance(chat.get("user_id"), str)
            and isinstance(chat.get("key"), str)
            and isinstance(versions, list)
            and all(isinstance(v, str) for v in versions)
        ):
            raise BadMessage(f"{self.kind} message: each chat has a user_id, a key and a list of versions")
        return PlannedChat(chat["user_id"], chat["key"], frozenset(versions))


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields that are not at their default (a default factory's value counts as default)."""
    out = {}
    for name, declared in value.__dataclass_fields__.items():
        current = getattr(value, name)
        default = declared.default_factory() if callable(declared.default_factory) else declared.default
        if current != default:
            out[name] = current
    return out
