"""The audit trail: one ledger item per state-changing operator command, under its own key space.

`pk = "audit#<yyyy-mm>"` (one partition per month: `consentry audit --since T`
queries the months since T), `sk = "<started_at>#<random>"`, which is also
the entry's id. An entry says who ran the command (the caller's ARN, from
STS), when (the wall clock: an operational fact, not a policy decision), with
which arguments, on which deployment, and what it changed (counts). It never
holds a user id or a key in plain text: arguments that name one carry its
keyed hash (`consentry.service.pseudonyms`). Work the deployment does for the command
(the worker's pages of a planned sweep) adds its results under `pages`.

Expiry (`ttl`): an entry that names a user or a chat (a hash) lives as long as
a tombstone does (`tombstone_days`): nothing that can be matched to a user
outlives the proof of a deletion. Entries that name nobody (a sweep's counts,
a redrive) are kept `UNNAMED_DAYS` (or `tombstone_days` if longer), through one
yearly audit cycle.

A legal hold may last years, and who placed it must be known while it is in
force: the entry of a `hold place` has no expiry until a `hold release` of
the same subject (the same key hash, or the same user hash), and then lives
`tombstone_days` more. A pointer item `pk = "audit-hold#<subject hash>"`,
`sk = <entry id>` finds the placements a release closes. A placement that
failed expires as any entry naming someone.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from consentry.service.aws.dynamo import conditional, epoch, from_item, to_item
from consentry.service.aws.ledger_schema import PK, SK, TTL
from consentry.service.policy import format_instant, parse_instant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AUDIT = "audit#"
HELD = "audit-hold#"  # pointers to the placements of a hold still in force, by subject hash
UNNAMED_DAYS = 400  # a yearly audit, with a month to spare


def hold_subject(command: str, arguments: Mapping[str, Any]) -> tuple[str, str] | None:
    """(action, subject hash) of a `hold` entry, else None."""
    subject = arguments.get("key_hash") or arguments.get("user_hash")
    if command != "hold" or not subject or arguments.get("action") not in ("place", "release"):
        return None
    return str(arguments["action"]), str(subject)


def months(since: datetime, until: datetime) -> list[str]:
    """`yyyy-mm` of every month from `since` to `until`, oldest first."""
    year, month = since.year, since.month
    found = []
    while (year, month) <= (until.year, until.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


@dataclass(frozen=True)
class AuditEntry:
    """One command as the audit trail holds it."""

    id: str
    command: str
    caller: str
    started_at: datetime
    where: str
    arguments: Mapping[str, Any]
    names_someone: bool = False
    status: str = "started"  # started | done | queued | failed
    changed: Mapping[str, int] = field(default_factory=dict)
    finished_at: datetime | None = None
    pages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class AuditLog:
    """Audit entries in the ledger table."""

    def __init__(self, client: DynamoDBClient, table: str, *, tombstone_days: int) -> None:
        self.client = client
        self.table = table
        self.tombstone_days = tombstone_days

    def _key(self, entry_id: str) -> dict[str, Any]:
        return to_item({PK: f"{AUDIT}{entry_id[:7]}", SK: entry_id})

    def start(
        self,
        command: str,
        caller: str,
        at: datetime,
        where: str,
        arguments: Mapping[str, Any],
        *,
        names_someone: bool,
    ) -> AuditEntry:
        """Record a command before it changes anything (a command that dies midway still left its trace)."""
        entry = AuditEntry(
            id=f"{format_instant(at)}#{secrets.token_hex(4)}",
            command=command,
            caller=caller,
            started_at=at,
            where=where,
            arguments=dict(arguments),
            names_someone=names_someone,
        )
        days = self.tombstone_days if names_someone else max(UNNAMED_DAYS, self.tombstone_days)
        hold = hold_subject(command, arguments)
        placed = hold is not None and hold[0] == "place"
        item = {
            **self._key(entry.id),
            **to_item(
                {
                    "command": command,
                    "caller": caller,
                    "started_at": format_instant(at),
                    "where": where,
                    "arguments": dict(arguments),
                    "names_someone": names_someone,
                    "status": entry.status,
                    "changed": {},
                    "pages": {},
                    **({} if placed else {TTL: epoch(at + timedelta(days=days))}),
                }
            ),
        }
        if placed:
            assert hold is not None
            self.client.put_item(TableName=self.table, Item=to_item({PK: f"{HELD}{hold[1]}", SK: entry.id}))
        self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        if hold is not None and hold[0] == "release":
            self._hold_ended(hold[1], at)
        return entry

    def _hold_ended(self, subject: str, at: datetime) -> None:
        """The placements of `subject`'s hold expire `tombstone_days` after its release, with their pointers."""
        ttl = to_item({":ttl": epoch(at + timedelta(days=self.tombstone_days))})
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": f"{HELD}{subject}"}),
            ConsistentRead=True,
        )
        for page in pages:
            for pointer in page.get("Items", []):
                self._expire(from_item(pointer)[SK], ttl)
                self.client.delete_item(TableName=self.table, Key={PK: pointer[PK], SK: pointer[SK]})

    def _expire(self, entry_id: str, ttl: dict[str, Any]) -> None:
        conditional(  # a pointer whose entry was never written (the command died between the two): nothing
            self.client.update_item,
            TableName=self.table,
            Key=self._key(entry_id),
            UpdateExpression="SET #ttl = :ttl",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#ttl": TTL},
            ExpressionAttributeValues=ttl,
        )

    def finish(self, entry: AuditEntry, status: str, changed: Mapping[str, int], at: datetime) -> None:
        """What the command changed (counts), and how it ended (a failed placement holds nothing: it expires)."""
        hold = hold_subject(entry.command, entry.arguments)
        if status == "failed" and hold is not None and hold[0] == "place":
            self._expire(entry.id, to_item({":ttl": epoch(at + timedelta(days=self.tombstone_days))}))
            self.client.delete_item(TableName=self.table, Key=to_item({PK: f"{HELD}{hold[1]}", SK: entry.id}))
        self.client.update_item(
            TableName=self.table,
            Key=self._key(entry.id),
            UpdateExpression="SET #status = :s, changed = :c, finished_at = :f",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item({":s": status, ":c": dict(changed), ":f": format_instant(at)}),
        )

    def page_done(self, entry_id: str, page: str, result: Mapping[str, Any]) -> bool:
        """The result of one page of work the deployment did for an entry; False when there is no such entry.

        Set, not added: a page run twice (SQS redelivers) writes the same result once.
        """
        written = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=self._key(entry_id),
            UpdateExpression="SET pages.#page = :result",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#page": page},
            ExpressionAttributeValues=to_item({":result": dict(result)}),
        )
        return written is not None

    def get(self, entry_id: str) -> AuditEntry | None:
        response = self.client.get_item(TableName=self.table, Key=self._key(entry_id), ConsistentRead=True)
        item = response.get("Item")
        return _entry(item) if item else None

    def since(self, since: datetime, until: datetime) -> list[AuditEntry]:
        """Every entry started from `since` to `until`, oldest first."""
        found: list[AuditEntry] = []
        paginator = self.client.get_paginator("query")
        for month in months(since, until):
            pages = paginator.paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues=to_item(
                    {":pk": f"{AUDIT}{month}", ":low": format_instant(since), ":high": format_instant(until) + "~"}
                ),
            )
            found.extend(_entry(item) for page in pages for item in page.get("Items", []))
        return found


def _entry(item: Mapping[str, Any]) -> AuditEntry:
    v = from_item(item)
    return AuditEntry(
        id=v[SK],
        command=v.get("command", ""),
        caller=v.get("caller", ""),
        started_at=parse_instant(v["started_at"]),
        where=v.get("where", ""),
        arguments=v.get("arguments", {}),
        names_someone=bool(v.get("names_someone", False)),
        status=v.get("status", "started"),
        changed={k: int(n) for k, n in v.get("changed", {}).items()},
        finished_at=parse_instant(v["finished_at"]) if v.get("finished_at") else None,
        pages=v.get("pages", {}),
    )


__all__ = ["AUDIT", "HELD", "UNNAMED_DAYS", "AuditEntry", "AuditLog", "months"]
