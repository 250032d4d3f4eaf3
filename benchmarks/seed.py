"""Seeding large states fast, through moto's backends instead of its HTTP front.

100k ledger records through PutItem would take minutes on moto; written into
the backend they take seconds and are the same items (made by
`ChatRecord.to_ledger`, then copied per key). S3 objects are created without
notifications (so the write queue stays empty), with our tags and metadata, so
that the ledger and the bucket agree as after a settled history. Ledger keys are the
deployment's keyed hashes (the command carries the hash key, `hash_key`, and
the shard count of the `due` index, `due_shards`). Consent
records are written without stream records, so that seeding triggers no retag.

A seeding command is a JSON-able dict; `apply` runs it in this process (where
moto's backends live: under `mock_aws`, or inside `benchmarks.server`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from consentry.service.aws.ledger import due_shard
from consentry.service.aws.ledger_schema import DUE_SHARD, PK, SK
from consentry.service.pseudonyms import Pseudonyms

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
CHAT_PATTERN = "chats/{user}/c{i:07d}.json"


def _s3() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT]["aws"]


def _table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


def chat_key(pattern: str, user: str, i: int) -> str:
    return pattern.format(user=user, i=i)


def _in(ranges: Sequence[Sequence[int]], i: int) -> bool:
    return any(lo <= i < hi for lo, hi in ranges)


def _put_object(bucket: str, key: str, tags: Mapping[str, str], metadata: Mapping[str, str]) -> str:
    s3 = _s3()
    fake = s3.put_object(bucket, key, b'{"messages": []}', disable_notification=True)
    if metadata:
        fake.set_metadata({f"x-amz-meta-{k}": v for k, v in metadata.items()})
    if tags:
        s3.put_object_tagging(fake, dict(tags))
    return str(fake.version_id)


class _Records:
    """Copies of one parsed template item, inserted into moto's table without revalidating each.

    The template goes through `Table.put_item` once (moto validates and parses
    it); each copy shares its parsed values but for the keys and the fields
    that differ per chat. Nothing in the benchmarks updates an item in place
    (the ledger is written with PutItem), so sharing the nested values is safe.
    """

    def __init__(self, table: Any, template: dict[str, Any]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.table = table
        self.dynamo_type = DynamoType
        probe = dict(template, **{PK: {"S": "user#seed-template"}, SK: {"S": "chat#seed-template"}})
        self.parsed = table.put_item(probe, overwrite=True)
        table.delete_item(self.parsed.hash_key, self.parsed.range_key)

    def put(self, fields: Mapping[str, Any], drop: Sequence[str]) -> None:
        from moto.dynamodb.models.dynamo_type import Item

        item = Item.__new__(Item)
        attrs = type(self.parsed.attrs)()
        dict.update(attrs, self.parsed.attrs)  # the plain dict update: no size check per copy
        for name in drop:
            dict.pop(attrs, name, None)
        for name, value in fields.items():
            dict.__setitem__(attrs, name, self.dynamo_type(value))
        item.attrs = attrs
        item.hash_key, item.range_key = attrs[PK], attrs[SK]
        self.table.items[item.hash_key][item.range_key] = item


def _chats(command: Mapping[str, Any]) -> int:
    """Ledger records from a template item, and S3 objects for the index ranges in `s3`.

    The objects are stored at the template's last activity (moto's S3 clock), as its write event said:
    stored at the wall clock they would be newer than every event of the scenario, so the sweep would
    take them for renewed chats and an erasure for chats written after its request.
    """
    from consentry.local import s3_clock
    from consentry.service.policy import parse_instant

    activity = dict(command.get("template") or {}).get("last_activity", {}).get("S")
    with s3_clock(parse_instant(activity) if activity else None):
        return _chats_stored(command)


def _chats_stored(command: Mapping[str, Any]) -> int:
    table = _table(command["table"]) if command.get("table") else None
    template: dict[str, Any] = dict(command.get("template") or {})
    records = _Records(table, template) if table is not None else None
    names = Pseudonyms(bytes.fromhex(command["hash_key"])) if records is not None else None
    shards = int(command.get("due_shards", 16))
    written = 0
    for group in command["groups"]:
        user, pattern = group["user"], group["pattern"]
        stored = set(group.get("s3_indices", ()))  # objects for these indices too (besides the `s3` ranges)
        for i in range(group["start"], group["start"] + group["count"]):
            key = chat_key(pattern, user, i)
            version = None
            if i in stored or _in(group.get("s3", []), i):
                version = _put_object(command["bucket"], key, command.get("tags", {}), group.get("metadata", {}))
            if records is None or names is None:
                continue
            pk, sk = (
                f"user#{names.user(user)}",
                f"chat#{names.key(key)}",
            )  # as consentry.service.aws.ledger.Ledger keys them
            fields = {PK: {"S": pk}, SK: {"S": sk}, "user_id": {"S": user}, "key": {"S": key}}
            if version is not None:
                fields["version_id"] = {"S": version}
            if DUE_SHARD in template:
                fields[DUE_SHARD] = {"S": due_shard(key, shards)}
            records.put(fields, drop=() if version is not None else ("version_id",))
            written += 1
    return written


def _consents(command: Mapping[str, Any]) -> int:
    table = _table(command["table"])
    shard, table.stream_shard = table.stream_shard, None  # no stream record: seeding triggers nothing
    try:
        for item in command["items"]:
            table.put_item(item, overwrite=True)
    finally:
        table.stream_shard = shard
    return len(command["items"])


def apply(command: Mapping[str, Any]) -> int:
    """Run one seeding command in this process's moto backends; how many items it made."""
    op = command["op"]
    if op == "chats":
        return _chats(command)
    if op == "consents":
        return _consents(command)
    raise ValueError(f"unknown seeding command {op!r}")


def group(
    user: str, start: int, count: int, pattern: str = "chats/{user}/c{i:07d}.json", **extra: Any
) -> dict[str, Any]:
    return {"user": user, "start": start, "count": count, "pattern": pattern, **extra}


def keys(groups: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for g in groups:
        for i in range(g["start"], g["start"] + g["count"]):
            yield chat_key(g["pattern"], g["user"], i)
