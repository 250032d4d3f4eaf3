"""The model of the world for the generated histories: what happened, and what POLICY.md then requires.

`World` records the truth as the outside world made it (writes landed in S3,
consent items written by the account service, chat events sent by the app),
independently of what the system has processed so far. `expected()` says what
S3 and the ledger must hold once every event has been processed, and
`check()` compares it with what moto holds. Decisions come from `oracle`,
never from `consentry.service.policy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consentry.service.records import ChatRecord

from .harness import Observed
from .oracle import Verdict, is_incognito, tag_set, verdict


@dataclass
class Chat:
    """The truth about one chat key."""

    key: str
    user: str
    written: bool = False  # a current version exists in S3 (written and not purged since)
    ever_written: bool = False
    activity: datetime | None = None  # latest write or reopen, ever (time only moves forward)
    written_at: datetime | None = None  # LastModified of the current version (the latest write's event time)
    incognito: bool = False  # metadata of the latest write
    writer_tags: dict[str, str] = field(default_factory=dict)  # tags the writer put on the latest write
    deleted_at: datetime | None = None  # Chat Deleted: the key is dead from then on (the first deletion)
    deletions: list[datetime] = field(default_factory=list)  # every Chat Deleted of this life
    console_held: bool = False  # a hold placed from the S3 console: the ledger learns it when a purge meets it
    erasures: list[datetime] = field(default_factory=list)  # requests of the user that cover this chat
    held: bool = False
    announced: bool = True  # an event (or the backfill) told the system about it: the sweep can find it
    hold_at: datetime | None = None  # the latest hold event applied (holds apply in event-time order)
    purged: bool = False  # every version removed (deleted or erased and not held, or swept)

    @property
    def dead(self) -> bool:
        return self.deleted_at is not None or bool(self.erasures)

    def deletion_times(self) -> set[datetime]:
        """Any of these may be the ledger's `deleted_at`: whichever deletion was processed first."""
        return set(self.erasures) | set(self.deletions)


@dataclass
class World:
    users: tuple[str, ...]
    keys: tuple[str, ...]
    consent: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    now: datetime | None = None

    def __post_init__(self) -> None:
        for user in self.users:
            self.consent.setdefault(user, None)
        for key in self.keys:
            user = key.split("/")[1]
            self.chats[key] = Chat(key, user)

    # -- what happened ------------------------------------------------------------------------

    def write(self, key: str, at: datetime, metadata: Mapping[str, str], tags: Mapping[str, str]) -> None:
        chat = self.chats[key]
        if chat.deleted_at is not None and at > max(chat.deletions):
            chat.deleted_at = None  # written after its deletion: a new life of the key, the normal rules
            chat.deletions = []
        chat.erasures = [e for e in chat.erasures if e >= at]  # a later write follows the normal rules
        chat.written = chat.ever_written = True
        chat.written_at = at if chat.written_at is None else max(chat.written_at, at)
        chat.activity = at if chat.activity is None else max(chat.activity, at)
        chat.incognito = is_incognito(metadata)
        chat.writer_tags = dict(tags)
        # A write at or before a deletion of the key belongs to the deleted life: removed too, unless held.
        chat.purged = chat.dead and not chat.held

    def reopen(self, key: str, at: datetime) -> None:
        chat = self.chats[key]
        chat.activity = at if chat.activity is None else max(chat.activity, at)

    def delete(self, key: str, at: datetime) -> None:
        chat = self.chats[key]
        if not chat.dead and chat.written and chat.written_at is not None and chat.written_at > at:
            return  # the current version was written after the deletion: a new life, which it leaves alone
        chat.deleted_at = chat.deleted_at or at
        chat.deletions.append(at)
        if not chat.held:
            chat.purged = True

    def erase(self, user: str, at: datetime) -> None:
        for chat in self.chats.values():
            if chat.user == user and chat.written and chat.activity is not None and chat.activity <= at:
                chat.erasures.append(at)
                if not chat.held:
                    chat.purged = True

    def console_hold(self, key: str) -> None:
        """A legal hold placed from the S3 console on every stored version: no event, no time."""
        chat = self.chats[key]
        if chat.written and not chat.purged:
            chat.held = chat.console_held = True

    def hold(self, key: str, on: bool, at: datetime | None = None) -> None:
        chat = self.chats[key]
        if at is not None and chat.hold_at is not None and at < chat.hold_at:
            return  # an older hold event than the latest applied changes nothing
        if at is not None:
            chat.hold_at = at
        if not chat.written or chat.purged:
            return  # nothing stored to hold
        chat.held = on
        chat.console_held = False  # an event says it now (a release unlocks every version, console's included)
        if not on and chat.dead and chat.written:
            chat.purged = True

    def sweep(self, now: datetime) -> list[str]:
        """A sweep on a settled system: every live, unheld chat due at `now` is removed."""
        swept = []
        for chat in self.chats.values():
            if not chat.written or chat.purged or chat.held or chat.dead or not chat.announced:
                continue
            if self.verdict(chat).expires_at <= now:
                chat.purged = True
                swept.append(chat.key)
        return swept

    # -- what POLICY.md requires ----------------------------------------------------------------

    def verdict(self, chat: Chat) -> Verdict:
        assert chat.activity is not None
        return verdict(self.consent[chat.user], chat.activity, chat.incognito)

    def exists(self, chat: Chat) -> bool:
        return chat.written and not chat.purged

    def check(self, seen: Observed) -> None:
        """S3 and the ledger hold exactly what POLICY.md requires for this history (all events processed)."""
        for key in seen.objects:
            assert key in self.chats, f"an object nobody wrote: {key!r}"
        for key in seen.records:
            assert key in self.chats, f"a ledger record for a key nobody wrote: {key!r}"
        for chat in self.chats.values():
            self._check_chat(chat, seen)

    def _check_chat(self, chat: Chat, seen: Observed) -> None:
        key = chat.key
        obj = seen.objects.get(key)
        record = seen.records.get(key)
        if not chat.ever_written:
            assert obj is None and record is None, f"{key}: never written, yet {obj} / {record}"
            return
        if not self.exists(chat):
            # Deletion is final and complete: no version and no delete marker left.
            assert obj is None, f"{key}: must be gone (every version and marker), S3 holds {obj}"
            if record is not None:
                assert record.state == "removed", f"{key}: gone from S3 but the ledger says {record.state}"
                assert not record.eligible, f"{key}: removed but recorded eligible"
            return
        assert obj is not None and obj.exists, f"{key}: must exist; S3 holds {obj} (object lost)"
        assert record is not None, f"{key}: exists but has no ledger record"
        consent = self.consent[chat.user]
        if chat.dead:
            assert chat.held
            times = chat.deletion_times()
            assert record.deleted_at in times, f"{key}: deleted_at {record.deleted_at} not one of {times}"
            expected = verdict(consent, chat.activity, chat.incognito, deleted_at=record.deleted_at)  # type: ignore[arg-type]
            assert record.state == "deleted", f"{key}: deleted under a hold, ledger state {record.state}"
        else:
            expected = self.verdict(chat)
            assert record.deleted_at is None, f"{key}: live but the ledger has deleted_at {record.deleted_at}"
            assert record.state in ("active", "archived"), f"{key}: live but the ledger state is {record.state}"
        tags, fits = tag_set(chat.writer_tags, expected.tags())
        assert obj.tags == tags, f"{key}: S3 tags {obj.tags} != POLICY.md's {tags} ({expected})"
        self._check_record(record, chat, expected, fits, consent)

    def _check_record(
        self, record: ChatRecord, chat: Chat, expected: Verdict, fits: bool, consent: Mapping[str, Any] | None
    ) -> None:
        key = chat.key
        got: tuple[Any, ...] = (record.reason.value, record.retention_days, record.expires_at, record.last_activity)
        want: tuple[Any, ...] = (expected.reason, expected.retention_days, expected.expires_at, chat.activity)
        if chat.dead:
            # A deleted chat's decision is final (deleted, due at once): later activity and consent are moot.
            got, want = got[:3], want[:3]
        assert got == want, f"{key}: ledger (reason, days, expires, activity) {got} != {want}"
        assert record.eligible == (expected.eligible and fits), f"{key}: ledger eligible {record.eligible}"
        assert (record.tag_error is None) == fits, f"{key}: tag_error {record.tag_error!r} but fits={fits}"
        version = None if consent is None else int(consent["version"])
        assert chat.dead or record.consent_version == version, (
            f"{key}: decided on consent v{record.consent_version}, latest v{version}"
        )
        # A console hold reaches the ledger when a purge meets it (POLICY.md: found, it counts as placed).
        held = {chat.held, False} if chat.console_held else {chat.held}
        assert record.held in held, f"{key}: ledger held={record.held}, latest hold event says {chat.held}"
        assert record.incognito == chat.incognito, f"{key}: ledger incognito={record.incognito}"
