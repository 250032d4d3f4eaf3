"""The ledger: our own DynamoDB table, one record per chat object.

Keys: `pk = "user#<user_id>"`, `sk = "chat#<key>"`, so a user's chats are one
Query away (no bucket listing). Erasure requests live beside them under
`sk = "erasure#<requested_at>"`.

The sparse global secondary index `due` (partition `due_shard`, sort
`expires_at`) holds every record that the sweep may have to delete: live and
deleted-but-not-removed records that are not under a legal hold. Its partition
key is one of `DUE_SHARDS` shards chosen by a hash of the object key, so that
writes spread and the sweep queries `expires_at <= now` per shard, which also
catches up anything a missed night left behind.

Every write is conditional on the record's `revision` (optimistic
concurrency): two workers that read the same revision cannot both write; the
loser reloads the facts and decides again.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from consentry.policy import Decision, Reason, format_instant, parse_instant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PK = "pk"
SK = "sk"
DUE_INDEX = "due"
DUE_SHARD = "due_shard"
EXPIRES_AT = "expires_at"
DUE_SHARDS = 16
HISTORY_LIMIT = 20
BATCH_GET_LIMIT = 100

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class Conflict(Exception):
    """Another writer changed the record since we read it."""


def user_pk(user_id: str) -> str:
    return f"user#{user_id}"


def chat_sk(key: str) -> str:
    return f"chat#{key}"


def due_shard(key: str) -> str:
    return f"{zlib.crc32(key.encode()) % DUE_SHARDS:02d}"


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


@dataclass(frozen=True)
class ChatRecord:
    """What the ledger knows of one chat object, and the decision applied to it.

    `state`: `active`, `archived`, `deleted` (deleted or erased, waiting for
    removal: under a legal hold, or removal not yet done) or `removed`.
    """

    user_id: str
    key: str
    last_activity: datetime
    eligible: bool
    reason: Reason
    retention_days: int
    expires_at: datetime
    policy_version: str
    consent_version: int | None = None  # None: no consent record when decided
    tier: str | None = None
    incognito: bool = False
    state: str = "active"
    deleted_at: datetime | None = None
    held: bool = False
    tag_error: str | None = None
    version_id: str | None = None  # the object version the tags were written on
    revision: int = 0
    history: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)

    @property
    def decision(self) -> Decision:
        return Decision(self.eligible, self.reason, self.retention_days, self.expires_at)

    @property
    def expires_on(self) -> str:
        return self.expires_at.strftime("%Y-%m-%d")

    @property
    def in_due_index(self) -> bool:
        return self.state != "removed" and not self.held

    def same_state(self, other: ChatRecord | None) -> bool:
        """True when writing `self` over `other` would change nothing."""
        return other is not None and replace(self, revision=other.revision) == other

    def to_ledger(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            PK: user_pk(self.user_id),
            SK: chat_sk(self.key),
            "user_id": self.user_id,
            "key": self.key,
            "last_activity": format_instant(self.last_activity),
            "eligible": self.eligible,
            "reason": self.reason.value,
            "retention_days": self.retention_days,
            EXPIRES_AT: format_instant(self.expires_at),
            "expires_on": self.expires_on,
            "policy_version": self.policy_version,
            "consent_version": self.consent_version,
            "tier": self.tier,
            "incognito": self.incognito,
            "state": self.state,
            "deleted_at": format_instant(self.deleted_at) if self.deleted_at else None,
            "held": self.held,
            "tag_error": self.tag_error,
            "version_id": self.version_id,
            "revision": self.revision,
            "history": list(self.history),
        }
        if self.in_due_index:
            values[DUE_SHARD] = due_shard(self.key)
        return to_item(values)

    @classmethod
    def from_ledger(cls, item: Mapping[str, Any]) -> ChatRecord:
        v = from_item(item)
        return cls(
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
            state=v.get("state", "active"),
            deleted_at=parse_instant(v["deleted_at"]) if "deleted_at" in v else None,
            held=bool(v.get("held", False)),
            tag_error=v.get("tag_error"),
            version_id=v.get("version_id"),
            revision=int(v.get("revision", 0)),
            history=tuple(v.get("history", [])),
        )


@dataclass(frozen=True)
class ErasureRecord:
    """One erasure request and what it has done: the proof of a right-to-erasure request.

    `requested_at` is the request's event time; `completed_at` is when its last
    listing page ran (every covered chat not under a legal hold removed by
    then; the wall clock, an operational fact). `removed` counts the chats
    removed (every version and delete marker); `held` the chats covered but
    kept by a legal hold, each removed, and moved from `held` to `removed`,
    when its hold is released.
    """

    user_id: str
    requested_at: datetime
    removed: int = 0
    held: int = 0
    completed_at: datetime | None = None


class Ledger:
    """The ledger table: reads, conditional writes, the user and due listings."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, user_id: str, key: str) -> ChatRecord | None:
        response = self.client.get_item(
            TableName=self.table, Key=to_item({PK: user_pk(user_id), SK: chat_sk(key)}), ConsistentRead=True
        )
        item = response.get("Item")
        return ChatRecord.from_ledger(item) if item else None

    def get_many(self, chats: Sequence[tuple[str, str]]) -> dict[str, ChatRecord]:
        """Records by key for (user_id, key) pairs, BATCH_GET_LIMIT per call."""
        found: dict[str, ChatRecord] = {}
        unique = list(dict.fromkeys(chats))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            keys = [to_item({PK: user_pk(u), SK: chat_sk(k)}) for u, k in unique[start : start + BATCH_GET_LIMIT]]
            for item in batch_get(self.client, self.table, keys):
                record = ChatRecord.from_ledger(item)
                found[record.key] = record
        return found

    def put(self, record: ChatRecord, expected: ChatRecord | None) -> ChatRecord:
        """Write `record` if the stored one is still `expected`; raise Conflict otherwise."""
        new = replace(record, revision=(expected.revision if expected else 0) + 1)
        condition: dict[str, Any]
        if expected is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "revision = :r",
                "ExpressionAttributeValues": {":r": {"N": str(expected.revision)}},
            }
        try:
            self.client.put_item(TableName=self.table, Item=new.to_ledger(), **condition)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Conflict(record.key) from err
            raise
        return new

    def user_chats(
        self, user_id: str, start: Mapping[str, Any] | None = None, limit: int = 500
    ) -> tuple[list[ChatRecord], dict[str, Any] | None]:
        """One page of a user's chat records, and where the next page starts."""
        return self._page(
            start,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chat)",
            ExpressionAttributeValues=to_item({":pk": user_pk(user_id), ":chat": "chat#"}),
            ConsistentRead=True,
            Limit=limit,
        )

    def all_user_chats(self, user_id: str) -> Iterator[ChatRecord]:
        start: dict[str, Any] | None = None
        while True:
            page, start = self.user_chats(user_id, start)
            yield from page
            if not start:
                return

    def deletions(self, user_id: str) -> Iterator[tuple[datetime, str, bool]]:
        """(deleted_at, state, held) of each deleted chat of a user: only those attributes are read."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chat)",
            FilterExpression="attribute_exists(deleted_at)",
            ProjectionExpression="deleted_at, #state, held",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_item({":pk": user_pk(user_id), ":chat": "chat#"}),
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                v = from_item(item)
                yield parse_instant(v["deleted_at"]), v.get("state", "active"), bool(v.get("held", False))

    def due(
        self, shard: str, now: datetime, start: Mapping[str, Any] | None = None, limit: int = 100
    ) -> tuple[list[ChatRecord], dict[str, Any] | None]:
        """One page of records in `shard` whose expiry is at or before `now`."""
        return self._page(
            start,
            IndexName=DUE_INDEX,
            KeyConditionExpression=f"{DUE_SHARD} = :s AND {EXPIRES_AT} <= :now",
            ExpressionAttributeValues=to_item({":s": shard, ":now": format_instant(now)}),
            Limit=limit,
        )

    def _page(self, start: Mapping[str, Any] | None, **query: Any) -> tuple[list[ChatRecord], dict[str, Any] | None]:
        if start:
            query["ExclusiveStartKey"] = start
        response = self.client.query(TableName=self.table, **query)
        return [ChatRecord.from_ledger(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")

    def scan(self) -> Iterator[ChatRecord]:
        """Every chat record (reports and tests; not used by the handlers)."""
        for page in self.client.get_paginator("scan").paginate(TableName=self.table):
            for item in page.get("Items", []):
                if from_item({SK: item[SK]})[SK].startswith("chat#"):
                    yield ChatRecord.from_ledger(item)

    # -- erasure requests ----------------------------------------------------

    def start_erasure(self, user_id: str, requested_at: datetime) -> bool:
        """Record an erasure request; False when it was already recorded."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        PK: user_pk(user_id),
                        SK: f"erasure#{format_instant(requested_at)}",
                        "user_id": user_id,
                        "requested_at": format_instant(requested_at),
                        "removed": 0,
                        "held": 0,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_erasure_hold(self, user_id: str, requested_at: datetime, key: str) -> bool:
        """Move one held chat of an erasure to `removed`, once per key; False when nothing changed."""
        token = f"released#{key}"
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({PK: user_pk(user_id), SK: f"erasure#{format_instant(requested_at)}"}),
                UpdateExpression="ADD removed :one, held :minus, pages :p",
                ConditionExpression="attribute_exists(pk) AND held > :zero AND NOT contains(pages, :page)",
                ExpressionAttributeValues=to_item({":one": 1, ":minus": -1, ":zero": 0, ":p": {token}, ":page": token}),
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish_erasure(
        self, user_id: str, requested_at: datetime, completed_at: datetime, removed: int, held: int
    ) -> None:
        """Set the counts, and the completion time once (a redelivered last page keeps the first).

        Conditional, so that a redelivered last page with the same counts writes nothing.
        """
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({PK: user_pk(user_id), SK: f"erasure#{format_instant(requested_at)}"}),
                UpdateExpression="SET completed_at = if_not_exists(completed_at, :c), removed = :r, held = :h",
                ConditionExpression="attribute_not_exists(completed_at) OR removed <> :r OR held <> :h",
                ExpressionAttributeValues=to_item({":c": format_instant(completed_at), ":r": removed, ":h": held}),
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def erasures(self, user_id: str) -> list[ErasureRecord]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues=to_item({":pk": user_pk(user_id), ":e": "erasure#"}),
            ConsistentRead=True,
        )
        records = []
        for item in response.get("Items", []):
            v = from_item(item)
            records.append(
                ErasureRecord(
                    user_id=v["user_id"],
                    requested_at=parse_instant(v["requested_at"]),
                    removed=int(v.get("removed", 0)),
                    held=int(v.get("held", 0)),
                    completed_at=parse_instant(v["completed_at"]) if "completed_at" in v else None,
                )
            )
        return records


def batch_get(client: DynamoDBClient, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchGetItem with strong consistency, retrying unprocessed keys."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    for attempt in range(8):
        if not keys:
            break
        if attempt:
            time.sleep(min(0.05 * 2**attempt, 1.0))  # unprocessed keys mean throttling: back off
        response = client.batch_get_item(RequestItems=request)
        items.extend(response.get("Responses", {}).get(table, []))
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return items
    raise RuntimeError(f"BatchGetItem left keys unprocessed on {table} after retries")
