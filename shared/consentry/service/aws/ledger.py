"""The ledger: our own DynamoDB table, one record per chat object.

Keys are pseudonyms (`consentry.service.pseudonyms`): `pk = "user#<hash of user id>"`,
`sk = "chat#<hash of key>"`, so a user's chats are one Query away (no bucket
listing), and the keys of a removed chat's record say nothing about it. A
live record carries `user_id` and `key` as attributes; a removed chat's record
is a *tombstone*: no user id, key, activity, tier or history, only the proof
of the deletion (reason, deletion time, policy version) and a `ttl` after
which DynamoDB deletes it. Erasure requests live beside a user's chats under
`sk = "erasure#<requested_at>"`; finished work pages under `pk = "work#<id>"`.

Because the sort keys are hashes, a user's chats spread evenly over the 16
hex digits that start them: a retag or an erasure pages through 16 ranges at
once (`RANGES`).

The sparse global secondary index `due` (partition `due_shard`, sort
`expires_at`, keys only) holds every record that the sweep may have to
delete: live and deleted-but-not-removed records that are not under a legal
hold. Its partition is one of the configured shards chosen by a hash of the
object key, so that writes spread and the sweep queries `expires_at <= now`
per shard, which also catches up anything a missed night left behind.

Every write of a chat record is conditional: on the record's `revision`
(`write`, optimistic concurrency: two workers that read the same revision
cannot both write; the loser reloads the facts and decides again), or on the
facts that make a chat due (`claim`, the sweep's first step).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from consentry.service.aws.dynamo import batch_get, conditional, epoch, from_item, to_item
from consentry.service.aws.ledger_schema import DUE_INDEX, DUE_SHARD, EXPIRES_AT, PK, SK, TTL
from consentry.service.policy import Reason, format_instant, parse_instant
from consentry.service.pseudonyms import Pseudonyms
from consentry.service.records import ChatRecord, State

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from consentry.service.aws.audit import AuditLog

USER, CHAT, ERASURE, WORK, LOCK = "user#", "chat#", "erasure#", "work#", "lock#"  # key prefixes (module docstring)
RANGES = tuple("0123456789abcdef")  # first hex digit of a chat's hashed sort key
WORK_RECORD_DAYS = 14  # a finished page is remembered as long as SQS may redeliver it (DLQ retention)


class Conflict(Exception):
    """Another writer changed the record since we read it."""


def due_shard(key: str, shards: int) -> str:
    return f"{zlib.crc32(key.encode()) % shards:03d}"


def shard_names(shards: int) -> list[str]:
    return [f"{n:03d}" for n in range(shards)]


def _instant(values: Mapping[str, Any], name: str) -> datetime | None:
    return parse_instant(values[name]) if name in values else None


class DueChat(NamedTuple):
    """What the keys-only `due` index gives of a record: enough to claim it."""

    pk: str
    sk: str
    expires_at: datetime


class Deletion(NamedTuple):
    """A deleted chat of a user as the ledger holds it, tombstones included: no user id, no key."""

    deleted_at: datetime
    state: State
    held: bool
    key_hash: str  # the chat's pseudonym (`Pseudonyms.key`), as an erasure's `held_keys` name it


class ErasureRecord(NamedTuple):
    """One erasure request and what it has done: the proof of a right-to-erasure request.

    It holds no user id and no key: the request's id and time, when its last
    page finished (the time SQS stamped on that page's message), the counts,
    and the hashes of the chats a legal hold keeps (each moved from `held` to
    `removed` when its hold is released and the chat removed).
    """

    requested_at: datetime
    request_id: str = ""
    removed: int = 0
    held: int = 0
    held_keys: frozenset[str] = frozenset()
    ranges_done: frozenset[str] = frozenset()
    completed_at: datetime | None = None


class Ledger:
    """The ledger table: reads, conditional writes, the user and due listings."""

    def __init__(
        self, client: DynamoDBClient, table: str, pseudonyms: Pseudonyms, *, tombstone_days: int, due_shards: int = 16
    ) -> None:
        self.client = client
        self.table = table
        self.names = pseudonyms
        self.tombstone_days = tombstone_days
        self.due_shards = due_shards

    # -- keys ------------------------------------------------------------------------------------

    def user_pk(self, user_id: str) -> str:
        return f"{USER}{self.names.user(user_id)}"

    def chat_sk(self, key: str) -> str:
        return f"{CHAT}{self.names.key(key)}"

    def _key(self, user_id: str, key: str) -> dict[str, Any]:
        return to_item({PK: self.user_pk(user_id), SK: self.chat_sk(key)})

    def due_chat(self, record: ChatRecord) -> DueChat:
        """How the `due` index names a live record: what `claim` takes (a chat a flow found otherwise)."""
        return DueChat(self.user_pk(record.user_id), self.chat_sk(record.key), record.expires_at)

    def audit_log(self) -> AuditLog:
        """The operators' audit trail, which lives in this table under keys of its own (`aws.audit`)."""
        from consentry.service.aws.audit import AuditLog

        return AuditLog(self.client, self.table, tombstone_days=self.tombstone_days)

    # -- items -----------------------------------------------------------------------------------

    def item(self, record: ChatRecord) -> dict[str, Any]:
        """The record as stored: a live record whole, a removed one as a tombstone."""
        common = {
            PK: self.user_pk(record.user_id),
            SK: self.chat_sk(record.key),
            "state": record.state,
            "reason": record.reason.value,
            "policy_version": record.policy_version,
            "deleted_at": format_instant(record.deleted_at) if record.deleted_at else None,
            "last_deleted_at": format_instant(record.last_deleted_at) if record.last_deleted_at else None,
            "revision": record.revision,
        }
        if record.removed:
            removed_at = record.removed_at or record.expires_at
            return to_item(
                {
                    **common,
                    "removed_at": format_instant(removed_at),
                    TTL: epoch(removed_at + timedelta(days=self.tombstone_days)),
                }
            )
        values: dict[str, Any] = {
            **common,
            "user_id": record.user_id,
            "key": record.key,
            "last_activity": format_instant(record.last_activity),
            "eligible": record.eligible,
            "retention_days": record.retention_days,
            EXPIRES_AT: format_instant(record.expires_at),
            "expires_on": record.expires_on,
            "consent_version": record.consent_version,
            "tier": record.tier,
            "incognito": record.incognito,
            "held": record.held,
            "hold_at": format_instant(record.hold_at) if record.hold_at else None,
            "tag_error": record.tag_error,
            "version_id": record.version_id,
            "history": list(record.history),
        }
        if record.in_due_index:
            values[DUE_SHARD] = due_shard(record.key, self.due_shards)
        return to_item(values)

    @staticmethod
    def record(item: Mapping[str, Any], user_id: str = "", key: str = "") -> ChatRecord:
        """A stored item as a record; a tombstone gets the user id and key it was looked up by."""
        v = from_item(item)
        if v.get("state") == State.REMOVED:
            removed_at = _instant(v, "removed_at") or parse_instant("1970-01-01T00:00:00Z")
            return ChatRecord(
                user_id=user_id,
                key=key,
                last_activity=removed_at,
                eligible=False,
                reason=Reason(v["reason"]),
                retention_days=0,
                expires_at=removed_at,
                policy_version=v.get("policy_version", ""),
                state=State.REMOVED,
                deleted_at=_instant(v, "deleted_at"),
                last_deleted_at=_instant(v, "last_deleted_at"),
                removed_at=removed_at,
                revision=int(v.get("revision", 0)),
            )
        return ChatRecord(
            user_id=v["user_id"],
            key=v["key"],
            last_activity=parse_instant(v["last_activity"]),
            eligible=bool(v["eligible"]),
            reason=Reason(v["reason"]),
            retention_days=int(v["retention_days"]),
            expires_at=parse_instant(v[EXPIRES_AT]),
            policy_version=v["policy_version"],
            consent_version=int(v["consent_version"]) if "consent_version" in v else None,
            tier=v.get("tier"),
            incognito=bool(v.get("incognito", False)),
            state=State(v.get("state", State.ACTIVE)),
            deleted_at=_instant(v, "deleted_at"),
            last_deleted_at=_instant(v, "last_deleted_at"),
            held=bool(v.get("held", False)),
            hold_at=_instant(v, "hold_at"),
            tag_error=v.get("tag_error"),
            version_id=v.get("version_id"),
            revision=int(v.get("revision", 0)),
            history=tuple(v.get("history", [])),
        )

    # -- reads -----------------------------------------------------------------------------------

    def get(self, user_id: str, key: str) -> ChatRecord | None:
        response = self.client.get_item(TableName=self.table, Key=self._key(user_id, key), ConsistentRead=True)
        item = response.get("Item")
        return self.record(item, user_id, key) if item else None

    def get_many(self, chats: Sequence[tuple[str, str]]) -> dict[str, ChatRecord]:
        """Records by key for (user_id, key) pairs, strongly consistent."""
        by_keys = {(self.user_pk(u), self.chat_sk(k)): (u, k) for u, k in dict.fromkeys(chats)}
        found: dict[str, ChatRecord] = {}
        for item in batch_get(self.client, self.table, [to_item({PK: pk, SK: sk}) for pk, sk in by_keys]):
            user_id, key = by_keys[(item[PK]["S"], item[SK]["S"])]
            found[key] = self.record(item, user_id, key)
        return found

    def records_by_keys(self, keys: Sequence[tuple[str, str]]) -> list[ChatRecord]:
        """The live records of (pk, sk) pairs, as the `due` index names them (tombstones left out)."""
        wanted = [to_item({PK: pk, SK: sk}) for pk, sk in dict.fromkeys(keys)]
        return [self.record(item) for item in batch_get(self.client, self.table, wanted) if "user_id" in item]

    def user_chats(
        self,
        user_id: str,
        start: Mapping[str, Any] | None = None,
        limit: int = 500,
        hash_range: str | None = None,
    ) -> tuple[list[ChatRecord], dict[str, Any] | None]:
        """One page of a user's live chat records (in one range of `RANGES` if given), and where the next starts."""
        low, high = (CHAT, f"{CHAT}~") if hash_range is None else (f"{CHAT}{hash_range}", f"{CHAT}{hash_range}~")
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "FilterExpression": "attribute_exists(user_id)",  # tombstones are not chats any more
            "ExpressionAttributeValues": to_item({":pk": self.user_pk(user_id), ":low": low, ":high": high}),
            "ConsistentRead": True,
            "Limit": limit,
        }
        if start:
            query["ExclusiveStartKey"] = start
        response = self.client.query(TableName=self.table, **query)
        return [self.record(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")

    def all_user_chats(self, user_id: str) -> Iterator[ChatRecord]:
        start: dict[str, Any] | None = None
        while True:
            page, start = self.user_chats(user_id, start)
            yield from page
            if not start:
                return

    def deletions(self, user_id: str) -> Iterator[Deletion]:
        """Each deleted chat of a user, tombstones included."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chat)",
            FilterExpression="attribute_exists(deleted_at)",
            ProjectionExpression="deleted_at, #state, held, sk",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_item({":pk": self.user_pk(user_id), ":chat": CHAT}),
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                v = from_item(item)
                yield Deletion(
                    deleted_at=parse_instant(v["deleted_at"]),
                    state=State(v.get("state", State.ACTIVE)),
                    held=bool(v.get("held", False)),
                    key_hash=v[SK].removeprefix(CHAT),
                )

    def due(
        self, shard: str, now: datetime, start: Mapping[str, Any] | None = None, limit: int = 100
    ) -> tuple[list[DueChat], dict[str, Any] | None]:
        """One page of the keys of records in `shard` whose expiry is at or before `now` (eventually consistent)."""
        query: dict[str, Any] = {
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": f"{DUE_SHARD} = :s AND {EXPIRES_AT} <= :now",
            "ExpressionAttributeValues": to_item({":s": shard, ":now": format_instant(now)}),
            "Limit": limit,
        }
        if start:
            query["ExclusiveStartKey"] = start
        response = self.client.query(TableName=self.table, **query)
        found = [
            DueChat(item[PK]["S"], item[SK]["S"], parse_instant(item[EXPIRES_AT]["S"]))
            for item in response.get("Items", [])
        ]
        return found, response.get("LastEvaluatedKey")

    def scan(self) -> Iterator[ChatRecord]:
        """Every live chat record (tests and the local tools; not used by the handlers)."""
        for item in self.scan_items():
            if item[SK]["S"].startswith(CHAT) and "user_id" in item:
                yield self.record(item)

    def scan_with_tombstones(self) -> Iterator[ChatRecord]:
        """Every chat record, tombstones included (read back as `removed`, with no user id or key)."""
        for item in self.scan_items():
            if item[SK]["S"].startswith(CHAT):
                yield self.record(item)

    def tombstones(self, user_id: str) -> int:
        """How many removed chats of a user still have their tombstone (not yet expired)."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chat)",
            FilterExpression="#state = :removed",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_item({":pk": self.user_pk(user_id), ":chat": CHAT, ":removed": "removed"}),
            Select="COUNT",
        )
        return sum(int(page.get("Count", 0)) for page in pages)

    def scan_items(self) -> Iterator[dict[str, Any]]:
        """Every item of the table, raw (tests: what the ledger holds, tombstones and all)."""
        for page in self.client.get_paginator("scan").paginate(TableName=self.table):
            yield from page.get("Items", [])

    # -- writes of chat records -------------------------------------------------------------------

    def write(self, record: ChatRecord, expected: ChatRecord | None) -> ChatRecord:
        """Write `record` if the stored one is still `expected` (None: no item); raise Conflict otherwise.

        The one write of a chat record: every flow's change goes through here
        (or through `claim`), through `consentry.service.records`.
        """
        new = replace(record, revision=(expected.revision if expected else 0) + 1)
        condition: dict[str, Any]
        if expected is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "revision = :r",
                "ExpressionAttributeValues": {":r": {"N": str(expected.revision)}},
            }
        if conditional(self.client.put_item, TableName=self.table, Item=self.item(new), **condition) is None:
            raise Conflict(self.names.key(record.key))
        return new

    def claim(self, chat: DueChat, now: datetime) -> ChatRecord | None:
        """The sweep's claim: `state = removing` if the chat is live, unheld and due at `now`; None otherwise.

        Conditional on those facts rather than on a revision read before, so
        that the sweep reads nothing but the index to claim (the record comes
        back with the write).
        """
        response = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=to_item({PK: chat.pk, SK: chat.sk}),
            UpdateExpression="SET #state = :removing, revision = revision + :one",
            ConditionExpression=(
                "attribute_exists(user_id) AND held = :false AND #state <> :removed AND expires_at <= :now"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_item(
                {
                    ":removing": "removing",
                    ":removed": "removed",
                    ":one": 1,
                    ":false": False,
                    ":now": format_instant(now),
                }
            ),
            ReturnValues="ALL_NEW",
        )
        return None if response is None else self.record(response["Attributes"])

    # -- erasure requests ----------------------------------------------------------------------------

    def _erasure_key(self, user_id: str, requested_at: datetime) -> dict[str, Any]:
        return to_item({PK: self.user_pk(user_id), SK: f"{ERASURE}{format_instant(requested_at)}"})

    def start_erasure(self, user_id: str, requested_at: datetime, request_id: str) -> bool:
        """Record an erasure request; False when it was already recorded."""
        written = conditional(
            self.client.put_item,
            TableName=self.table,
            Item={
                **self._erasure_key(user_id, requested_at),
                **to_item({"requested_at": format_instant(requested_at), "request_id": request_id}),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return written is not None

    def erasure_range_done(self, user_id: str, requested_at: datetime, part: str) -> ErasureRecord | None:
        """Note that one part of an erasure finished; the record after it (None: no such request)."""
        response = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=self._erasure_key(user_id, requested_at),
            UpdateExpression="ADD ranges_done :part",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":part": {"SS": [part]}},
            ReturnValues="ALL_NEW",
        )
        return None if response is None else _erasure(response["Attributes"])

    def release_erasure_hold(self, user_id: str, requested_at: datetime, key: str, at: datetime) -> bool:
        """Move one held chat of an erasure to `removed`, once per key; False when nothing changed.

        When it was the last held chat, the erasure's record expires `tombstone_days` after `at`.
        """
        token = self.names.key(key)
        erasure = self._erasure_key(user_id, requested_at)
        moved = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=erasure,
            UpdateExpression="ADD removed :one, held :minus DELETE held_keys :k",
            ConditionExpression="attribute_exists(pk) AND contains(held_keys, :token)",
            ExpressionAttributeValues=to_item({":one": 1, ":minus": -1, ":k": {token}, ":token": token}),
        )
        if moved is None:
            return False
        conditional(  # not the last held chat, or not finished yet: no expiry
            self.client.update_item,
            TableName=self.table,
            Key=erasure,
            UpdateExpression="SET #ttl = :ttl",
            ConditionExpression="attribute_exists(completed_at) AND attribute_not_exists(held_keys)",
            ExpressionAttributeNames={"#ttl": TTL},
            ExpressionAttributeValues=to_item({":ttl": epoch(at + timedelta(days=self.tombstone_days))}),
        )
        return True

    def finish_erasure(
        self, user_id: str, requested_at: datetime, completed_at: datetime, removed: int, held_keys: set[str]
    ) -> None:
        """Set the counts and held chats' hashes, and the completion time once; a `ttl` when nothing is held.

        Conditional, so that a redelivered last page with the same counts writes nothing.
        """
        held = len(held_keys)
        values: dict[str, Any] = {":c": format_instant(completed_at), ":r": removed, ":h": held}
        update = "SET completed_at = if_not_exists(completed_at, :c), removed = :r, held = :h"
        if held_keys:
            values[":k"] = held_keys
            update += ", held_keys = :k"
        else:
            # From the request's time (an event's), not the completion's (SQS's clock): done within the hour.
            values[":ttl"] = epoch(requested_at + timedelta(days=self.tombstone_days))
            update += ", #ttl = :ttl REMOVE held_keys"
        conditional(  # a redelivered last page with the same counts: nothing to write
            self.client.update_item,
            TableName=self.table,
            Key=self._erasure_key(user_id, requested_at),
            UpdateExpression=update,
            ConditionExpression="attribute_not_exists(completed_at) OR removed <> :r OR held <> :h",
            ExpressionAttributeValues=to_item(values),
            **({} if held_keys else {"ExpressionAttributeNames": {"#ttl": TTL}}),
        )

    def erasures(self, user_id: str) -> list[ErasureRecord]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues=to_item({":pk": self.user_pk(user_id), ":e": ERASURE}),
            ConsistentRead=True,
        )
        return [_erasure(item) for item in response.get("Items", [])]

    # -- finished work pages ---------------------------------------------------------------------------

    def work_done(self, work_id: str) -> bool:
        response = self.client.get_item(
            TableName=self.table, Key=to_item({PK: f"{WORK}{work_id}", SK: "work"}), ConsistentRead=True
        )
        return "Item" in response

    def finish_work(self, work_id: str, at: datetime) -> None:
        """Remember a finished page (a redelivered or duplicated message skips it), for as long as SQS redelivers."""
        self.client.put_item(
            TableName=self.table,
            Item=to_item({PK: f"{WORK}{work_id}", SK: "work", TTL: epoch(at + timedelta(days=WORK_RECORD_DAYS))}),
        )

    # -- the operator's reads and leases ---------------------------------------------------------------

    def held_due(self, now: datetime) -> list[ChatRecord]:
        """Live chat records due at `now` that a legal hold keeps (the `due` index leaves them out), by expiry.

        A filtered Scan: the operator's plan reads it once, the handlers never."""
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression=(
                "begins_with(sk, :chat) AND attribute_exists(user_id) AND held = :true AND #state <> :removed "
                "AND expires_at <= :now"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_item(
                {":chat": CHAT, ":true": True, ":removed": State.REMOVED.value, ":now": format_instant(now)}
            ),
        )
        found = [self.record(item) for page in pages for item in page.get("Items", [])]
        return sorted(found, key=lambda r: (r.expires_at, r.key))

    def take_lease(self, name: str, holder: str, until: datetime, clock: datetime) -> dict[str, Any] | None:
        """Hold the lease `name` for `holder` until `until`, unless another's runs past `clock`.

        None when taken; else the lease as it stands (`holder`, `until`), which
        this call left alone. It expires by `until` (a crashed holder never
        blocks the next) and its item by TTL a day later."""
        key = to_item({PK: f"{LOCK}{name}", SK: "lock"})
        taken = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=key,
            UpdateExpression="SET holder = :me, #until = :until, #ttl = :ttl",
            ConditionExpression="attribute_not_exists(pk) OR #until < :clock",
            ExpressionAttributeNames={"#until": "until", "#ttl": TTL},
            ExpressionAttributeValues=to_item(
                {
                    ":me": holder,
                    ":until": format_instant(until),
                    ":clock": format_instant(clock),
                    ":ttl": epoch(until + timedelta(days=1)),
                }
            ),
        )
        if taken is not None:
            return None
        found = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return from_item(found) if found else {}

    def release_lease(self, name: str, holder: str, clock: datetime) -> None:
        """End `holder`'s lease `name` at `clock`; nothing when another holds it now."""
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=to_item({PK: f"{LOCK}{name}", SK: "lock"}),
            UpdateExpression="SET #until = :clock",
            ConditionExpression="holder = :me",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues=to_item({":me": holder, ":clock": format_instant(clock)}),
        )


def _erasure(item: Mapping[str, Any]) -> ErasureRecord:
    v = from_item(item)
    return ErasureRecord(
        requested_at=parse_instant(v["requested_at"]),
        request_id=v.get("request_id", ""),
        removed=int(v.get("removed", 0)),
        held=int(v.get("held", 0)),
        held_keys=frozenset(v.get("held_keys", ())),
        ranges_done=frozenset(v.get("ranges_done", ())),
        completed_at=_instant(v, "completed_at"),
    )
