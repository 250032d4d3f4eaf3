"""Nothing personal outlives its retention: the ledger, the logs, the queues and the bucket, searched.

A user lives a whole life (chats, a reopen, an archive, an opt-out, a legal
hold, an erasure, sweeps, the hold released), then DynamoDB's TTL runs (moto
runs none: `expire` plays it, from the attribute the table's TTL names) and
everything the local world holds is searched for the user's id and keys, in
plain and URL-encoded forms: every ledger item, every log line and metric
the handlers printed, every message in every queue, every object, version,
tag and metadata in the bucket. The consent table is the account service's,
not ours, and is not searched.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote, quote_plus

import pytest

from consentry.local import LocalRuntime
from consentry.observability import logger as package_logger
from support import expire, ledger, set_consent, t

USER = "jo-7f3a+z q"  # any character allowed in a key segment: '+' and a space included
KEYS = [
    f"chats/{USER}/trip-to-lisbon-4821.json",
    f"chats/{USER}/diary entry+9913.json",
    f"code-sessions/{USER}/refactor-7k2q.jsonl",
]
HELD = KEYS[1]
OTHER = "chats/sam-5v/notes-3310.json"


def needles() -> set[str]:
    """The user's id and keys as anything might print them."""
    found = {USER, quote(USER), quote_plus(USER), quote(USER, safe="")}
    for key in KEYS:
        chat_id = key.rsplit("/", 1)[1]
        found |= {key, quote(key), quote_plus(key, safe="/"), quote(key, safe=""), chat_id, quote_plus(chat_id)}
    return found


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every line the package logger writes, formatted exactly as the functions print them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(package_logger.registered_formatter)
    inner = logging.getLogger("consentry")
    level = inner.level
    inner.addHandler(handler)
    inner.setLevel(logging.DEBUG)
    yield stream
    inner.removeHandler(handler)
    inner.setLevel(level)


def life(rt: LocalRuntime, release: bool) -> None:
    set_consent(rt, USER, "granted", t("2025-09-01"), version=1)
    set_consent(rt, "sam-5v", "granted", t("2025-09-01"), version=1)
    for key in [*KEYS, OTHER]:
        rt.put_chat(key, body=json.dumps({"title": key}).encode(), at=t("2025-10-01"))
    rt.settle()
    rt.chat_event("Chat Reopened", {"user_id": USER, "key": KEYS[0]}, t("2025-10-20"))
    rt.chat_event("Chat Archived", {"user_id": USER, "key": KEYS[2]}, t("2025-10-21"))
    set_consent(rt, USER, "denied", t("2025-11-01"), version=2)
    rt.settle()
    rt.chat_event("Legal Hold Placed", {"user_id": USER, "key": HELD}, t("2025-11-05"))
    rt.chat_event("Erasure Requested", {"user_id": USER}, t("2025-11-10"))
    rt.settle()
    rt.sweep(t("2025-12-20"))
    rt.settle()
    if release:
        rt.chat_event("Legal Hold Released", {"user_id": USER, "key": HELD}, t("2026-01-10"))
        rt.settle()
    rt.sweep(t("2026-02-20"))
    rt.settle()


def holdings(rt: LocalRuntime, logs: str, printed: str) -> dict[str, str]:
    """Everything the local world holds, as text, by where it is."""
    places: dict[str, str] = {"log lines": logs, "printed output (EMF metrics)": printed}
    for item in ledger(rt).scan_items():
        places[f"ledger item {item['sk']['S'][:40]}"] = json.dumps(item, default=str)
    for url in rt.sqs.list_queues().get("QueueUrls", []):
        messages = rt.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        places[f"queue {url.rsplit('/', 1)[1]}"] = json.dumps(messages.get("Messages", []), default=str)
    for bucket in rt.s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        listing = rt.s3.list_object_versions(Bucket=name)
        for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            where = f"s3 {name}/{v['Key']}@{v['VersionId']}"
            places[where] = v["Key"]
            if "ETag" in v:
                obj = rt.s3.get_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
                tags = rt.s3.get_object_tagging(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])["TagSet"]
                places[where] += obj["Body"].read().decode(errors="replace") + json.dumps([obj["Metadata"], tags])
    return places


def hits(places: dict[str, str]) -> dict[str, list[str]]:
    return {
        where: sorted(n for n in needles() if n in text)
        for where, text in places.items()
        if any(n in text for n in needles())
    }


def test_a_users_whole_life_leaves_no_trace_once_retention_has_passed(
    runtime: LocalRuntime, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    life(runtime, release=True)
    expire(runtime, t("2026-04-01"))  # DynamoDB's TTL, played at a time past every tombstone's
    places = holdings(runtime, log_lines.getvalue(), capsys.readouterr().out)
    assert not hits(places), hits(places)
    # The other user's chat is untouched: the search is not blind.
    assert any(OTHER in text for where, text in places.items() if where.startswith("s3 "))


def test_before_the_ttl_a_removed_chat_leaves_only_a_tombstone_without_its_key(
    runtime: LocalRuntime, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    life(runtime, release=True)
    places = holdings(runtime, log_lines.getvalue(), capsys.readouterr().out)
    assert not hits(places), hits(places)
    tombstones = [i for i in ledger(runtime).scan_items() if i.get("state", {}).get("S") == "removed"]
    assert len(tombstones) >= len(KEYS)
    sizes = sorted(item_size(item) for item in tombstones)
    # Hashes, reason, times, policy version, TTL: about 250 bytes per removed chat, against ~630 for a live record.
    assert all(size < 300 for size in sizes), sizes
    print(f"\nbytes left per removed chat (DynamoDB item size of its tombstone): {sizes}")
    assert all(set(item) <= TOMBSTONE_FIELDS for item in tombstones), [set(i) - TOMBSTONE_FIELDS for i in tombstones]


def item_size(item: dict[str, dict[str, str]]) -> int:
    """DynamoDB's item size: attribute names plus values (strings as UTF-8, numbers about 1 byte per 2 digits)."""
    size = 0
    for name, value in item.items():
        [(kind, raw)] = value.items()
        size += len(name.encode())
        size += len(str(raw).encode()) if kind == "S" else (len(str(raw)) + 1) // 2 + 1 if kind == "N" else 1
    return size


TOMBSTONE_FIELDS = {"pk", "sk", "state", "reason", "policy_version", "deleted_at", "last_deleted_at", "removed_at",
                    "revision", "ttl"}  # fmt: skip


def test_a_held_chat_is_the_only_trace_left_and_only_where_it_must_be(
    runtime: LocalRuntime, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    life(runtime, release=False)
    expire(runtime, t("2026-04-01"))
    found = hits(holdings(runtime, log_lines.getvalue(), capsys.readouterr().out))
    assert found, "the held chat must still be there"
    held = ledger(runtime).get(USER, HELD)
    assert held is not None and held.held and held.state == "deleted"
    for where, needles_found in found.items():
        assert where.startswith(("s3 ", "ledger item chat#")), (where, needles_found)
        assert set(needles_found) <= needles_of(HELD), (where, needles_found)


def needles_of(key: str) -> set[str]:
    user, chat_id = key.split("/")[1], key.rsplit("/", 1)[1]
    return {user, quote(user), quote_plus(user), quote(user, safe=""), key, quote(key), quote_plus(key, safe="/"),
            quote(key, safe=""), chat_id, quote_plus(chat_id)}  # fmt: skip


def test_erasure_record_keeps_only_the_request_times_counts_and_held_hashes(runtime: LocalRuntime) -> None:
    life(runtime, release=False)
    [erasure] = ledger(runtime).erasures(USER)
    assert erasure.request_id and erasure.completed_at is not None
    assert (erasure.removed, erasure.held) == (2, 1)
    assert erasure.held_keys == {ledger(runtime).names.key(HELD)}
    item = next(i for i in ledger(runtime).scan_items() if i["sk"]["S"].startswith("erasure#"))
    assert set(item) <= {"pk", "sk", "requested_at", "request_id", "completed_at", "removed", "held", "held_keys",
                         "ranges_done", "ttl"}  # fmt: skip


def test_expire_plays_the_tables_own_ttl_attribute(runtime: LocalRuntime) -> None:
    spec = runtime.dynamodb.describe_time_to_live(TableName=runtime.env["LEDGER_TABLE"])["TimeToLiveDescription"]
    assert spec["TimeToLiveStatus"] == "ENABLED" and spec["AttributeName"]
    life(runtime, release=True)
    before = len(list(ledger(runtime).scan_items()))
    expire(runtime, datetime.fromisoformat("2026-04-01T00:00:00+00:00"))
    assert len(list(ledger(runtime).scan_items())) < before
