"""Nothing personal outlives its retention: the ledger, the logs, the queues and the bucket, searched.

A user lives a whole life (chats, a reopen, an archive, an opt-out, a legal
hold, an erasure, sweeps, the hold released), then DynamoDB's TTL runs (moto
runs none: `expire` plays it, from the attribute the table's TTL names) and
everything the local world holds is searched for the user's id and keys, in
plain and URL-encoded forms: every ledger item, every log line and metric
the handlers printed, every message in every queue, every object, version,
tag and metadata in every bucket (gzipped ledger exports unpacked). The
training side takes a snapshot mid-life (a ledger export and a manifest, both
holding the user's keys); its bucket's lifecycle is played too (moto runs
none), as the stack and a local server set it. The consent table is the account service's,
not ours, and is not searched.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

import pytest
from botocore.exceptions import ClientError

from consentry.local import LambdaContext, LocalRuntime
from consentry.service import deployment, handlers, observability, settings
from consentry.service.aws.audit import AuditLog
from consentry.service.deployment import FUNCTIONS
from consentry.service.flows import lifecycle
from consentry.service.flows.enforcer import Enforcer
from consentry.service.handlers.batch import WITHHELD, HandlerError, escaped
from consentry.service.observability import logger as package_logger
from consentry.service.pseudonyms import Pseudonyms
from consentry.training import export as exports
from consentry.training import retention, snapshot
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
    """Every line the package logger writes, formatted exactly as the functions print them; and every record any
    other logger emits at WARNING or above (Lambda's root level), raw, as the runtime's own handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(package_logger.registered_formatter)
    inner = logging.getLogger("consentry")
    level = inner.level
    inner.addHandler(handler)
    inner.setLevel(logging.DEBUG)
    others = logging.StreamHandler(stream)
    others.setLevel(logging.WARNING)
    others.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    others.addFilter(lambda record: not record.name.startswith("consentry"))
    root = logging.getLogger()
    root.addHandler(others)
    yield stream
    root.removeHandler(others)
    inner.removeHandler(handler)
    inner.setLevel(level)


@pytest.fixture
def runtime_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the Lambda runtime writes of every error that leaves a handler (errorType, errorMessage, stackTrace)."""
    seen: list[str] = []
    invoke = LocalRuntime.invoke

    def recorded(self: LocalRuntime, name: str, event: dict[str, Any]) -> Any:
        try:
            return invoke(self, name, event)
        except Exception as err:
            frames = traceback.format_tb(err.__traceback__)
            seen.append(json.dumps({"errorType": type(err).__name__, "errorMessage": str(err), "stackTrace": frames}))
            raise

    monkeypatch.setattr(LocalRuntime, "invoke", recorded)
    return seen


def every_message(rt: LocalRuntime, url: str) -> list[dict[str, Any]]:
    """Every message a queue holds (each received once and hidden meanwhile), not the first ten."""
    found: list[dict[str, Any]] = []
    while True:
        got = rt.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        if not got.get("Messages"):
            return found
        found += got["Messages"]


TRAINING = "training-side"


def moto_export_done(_: float) -> None:
    """The export's poll pause: wait for moto's export thread (a real pause on AWS)."""
    for thread in threading.enumerate():
        if type(thread).__name__ == "TableExport":
            thread.join()


def take_snapshot(rt: LocalRuntime) -> str:
    """What `consentry snapshot` does on a local server: the ledger exported now, its manifest published beside it.

    The training bucket then holds the export (every live record: user ids, keys) and the manifest (eligible keys):
    the stores docs/privacy.md lists with their lifetimes."""
    exports.prepare_local(rt.dynamodb, rt.s3, rt.env["LEDGER_TABLE"], TRAINING)
    done = snapshot.export_ledger(
        rt.dynamodb, rt.env["LEDGER_TABLE"], TRAINING, sleep=moto_export_done, latest=datetime.now(UTC)
    )
    with snapshot.workspace() as into:
        files = exports.download(rt.s3, done, into / "export")
        manifest = snapshot.manifest_files(files, done.at, rt.bucket, into)
        assert manifest.entries > 0
        csv, _ = snapshot.publish(rt.s3, manifest, snapshot.default_location(TRAINING, done))
    return csv


def play_lifecycle(rt: LocalRuntime, bucket: str, now: datetime) -> int:
    """S3 lifecycle's expirations on an unversioned bucket, as AWS runs them at `now` (moto stores rules, runs none).

    Only the rule shapes the training bucket uses are played (a prefix, whole days); any other shape fails here."""
    removed = 0
    for rule in rt.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]:
        if "Expiration" not in rule:
            assert set(rule) <= {"ID", "Filter", "Status", "AbortIncompleteMultipartUpload"}, rule
            continue
        assert rule["Status"] == "Enabled" and set(rule["Filter"]) == {"Prefix"}, rule
        days = timedelta(days=rule["Expiration"]["Days"])
        for page in rt.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=rule["Filter"]["Prefix"]):
            for obj in page.get("Contents", []):
                if obj["LastModified"] + days <= now:
                    rt.s3.delete_object(Bucket=bucket, Key=obj["Key"])
                    removed += 1
    return removed


def life(rt: LocalRuntime, release: bool, snapshot_taken: Callable[[LocalRuntime], object] | None = None) -> None:
    set_consent(rt, USER, "granted", t("2025-09-01"), version=1)
    set_consent(rt, "sam-5v", "granted", t("2025-09-01"), version=1)
    for key in [*KEYS, OTHER]:
        rt.put_chat(key, body=json.dumps({"title": key}).encode(), at=t("2025-10-01"))
    rt.settle()
    rt.chat_event("Chat Reopened", {"user_id": USER, "key": KEYS[0]}, t("2025-10-20"))
    if snapshot_taken is not None:
        snapshot_taken(rt)  # while the user's chats are eligible: the training side copies their keys
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


def holdings(rt: LocalRuntime, logs: str, printed: str, errors: list[str] | None = None) -> dict[str, str]:
    """Everything the local world holds, as text, by where it is."""
    places: dict[str, str] = {"log lines": logs, "printed output (EMF metrics)": printed}
    places["the runtime's error output"] = "\n".join(errors or [])
    for item in ledger(rt).scan_items():
        places[f"ledger item {item['sk']['S'][:40]}"] = json.dumps(item, default=str)
    for url in rt.sqs.list_queues().get("QueueUrls", []):
        places[f"queue {url.rsplit('/', 1)[1]}"] = json.dumps(every_message(rt, url), default=str)
    for bucket in rt.s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        listing = rt.s3.list_object_versions(Bucket=name)
        for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            where = f"s3 {name}/{v['Key']}@{v['VersionId']}"
            places[where] = v["Key"]
            if "ETag" in v:
                obj = rt.s3.get_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
                tags = rt.s3.get_object_tagging(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])["TagSet"]
                places[where] += readable(obj["Body"].read()) + json.dumps([obj["Metadata"], tags])
    return places


def readable(body: bytes) -> str:
    """An object's bytes as text, compressed ones (a ledger export's gzipped JSON) unpacked first."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body.decode(errors="replace")


def hits(places: dict[str, str]) -> dict[str, list[str]]:
    return {
        where: sorted(n for n in needles() if n in text)
        for where, text in places.items()
        if any(n in text for n in needles())
    }


def test_a_users_whole_life_leaves_no_trace_once_retention_has_passed(
    runtime: LocalRuntime, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str], runtime_errors: list[str]
) -> None:
    life(runtime, release=True, snapshot_taken=take_snapshot)
    # The training side copied the user's keys (the search is not blind there either) ...
    training = [where for where in hits(holdings(runtime, "", "")) if where.startswith(f"s3 {TRAINING}/")]
    assert {w.split("/", 1)[1].split("/", 1)[0] for w in training} == {"exports", "manifests"}, training
    # ... and its lifecycle removes them: played past the longest expiry from now, the objects' creation (wall clock).
    longest = max(retention.expirations().values())
    assert play_lifecycle(runtime, TRAINING, datetime.now(UTC) + timedelta(days=longest + 1)) >= len(training)
    expire(runtime, t("2026-04-01"))  # DynamoDB's TTL, played at a time past every tombstone's
    places = holdings(runtime, log_lines.getvalue(), capsys.readouterr().out, runtime_errors)
    assert not hits(places), hits(places)
    # The other user's chat is untouched: the search is not blind.
    assert any(OTHER in text for where, text in places.items() if where.startswith("s3 "))


def test_before_the_ttl_a_removed_chat_leaves_only_a_tombstone_without_its_key(
    runtime: LocalRuntime, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str], runtime_errors: list[str]
) -> None:
    life(runtime, release=True)
    places = holdings(runtime, log_lines.getvalue(), capsys.readouterr().out, runtime_errors)
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


# -- what leaves a handler when it fails ---------------------------------------------------------

NASTY_USER = 'jo "7f" <a>\t+z%20q'
NASTY_KEY = f"chats/{NASTY_USER}/trip\nto\\lisbon+1%2B.json"
ARN = f"arn:aws:s3:::chat-logs/{NASTY_KEY}"


def _denied(*args: object, **kwargs: object) -> NoReturn:
    """What S3 answers a role without the right: the message quotes the object's ARN, key and all."""
    message = f"User: arn:aws:sts::123456789012:assumed-role/r/f is not authorized to perform: s3:GetObject on " \
              f'resource: "{ARN}" because no identity-based policy allows it'  # fmt: skip
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "GetObject")


def _denied_naming_the_user(*args: object, **kwargs: object) -> NoReturn:
    """An error that also names the user bare, outside any key."""
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"{ARN} of user {NASTY_USER}"}}, "GetObject")


def _events() -> dict[str, dict[str, Any]]:
    """One event per entry point, naming the user and the key where that event source does."""
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "eventTime": "2025-10-01T00:00:00Z",
                "s3": {"bucket": {"name": "chat-logs"}, "object": {"key": quote_plus(NASTY_KEY)}},
            }
        ]
    }
    return {
        "tag_on_write": {"Records": [{"messageId": "m1", "body": json.dumps(notification)}]},
        "consent_changed": {"Records": [{"eventName": "MODIFY", "dynamodb": {
            "SequenceNumber": "1", "Keys": {"user_id": {"S": NASTY_USER}},
            "OldImage": {"training_consent": {"S": "granted"}}, "NewImage": {"training_consent": {"S": "denied"}}}}]},
        "chat_events": {"id": "e1", "source": "chat.app", "detail-type": "Chat Deleted", "time": "2025-10-02T00:00:00Z",
                        "detail": {"user_id": NASTY_USER, "key": NASTY_KEY}},
        "retention_sweep": {"id": "s1", "source": "aws.events", "detail-type": "Scheduled Event",
                            "time": "2025-10-03T00:00:00Z", "detail": {}},
        "worker": {"Records": [{"messageId": "w1", "body": json.dumps({"type": "retag", "user_id": NASTY_USER}),
                                "attributes": {"ApproximateReceiveCount": "1"}}]},
        "backfill": {"invocationSchemaVersion": "2.0", "invocationId": "i1", "job": {"id": "j1"},
                     "tasks": [{"taskId": "t1", "s3Bucket": "chat-logs", "s3Key": quote(NASTY_KEY, safe="/")}]},
    }  # fmt: skip


def nasty_needles() -> set[str]:
    parts = {NASTY_USER, NASTY_KEY, "trip\nto", "lisbon+1", '"7f"', "<a>"}
    return parts | {json.dumps(p)[1:-1] for p in parts} | {quote(p) for p in parts} | {quote_plus(p) for p in parts}


@pytest.fixture
def warm_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pseudonyms]:
    """A container whose Enforcer ran before (the key patterns and the hash key known), and whose next call fails."""
    saved = (observability._scrub, observability._protected)
    names = Pseudonyms(b"h" * 32)
    observability.protect([("chats/", ".json"), ("code-sessions/", ".jsonl")], names)
    monkeypatch.setattr(Enforcer, "from_env", classmethod(_denied_naming_the_user))
    for variable in ("CONSENT_TABLE", "LEDGER_TABLE", "WORK_QUEUE_URL"):
        monkeypatch.setenv(variable, "x")
    monkeypatch.setenv("CHAT_BUCKET", "chat-logs")
    settings.current.cache_clear()
    yield names
    settings.current.cache_clear()
    observability._scrub, observability._protected = saved


@pytest.mark.parametrize("function", [f.name for f in FUNCTIONS])
def test_an_aws_error_quoting_an_object_arn_leaves_no_handler_with_its_key(
    function: str,
    warm_container: Pseudonyms,
    log_lines: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = getattr(handlers, f"{function}_handler")
    if function == "retention_sweep":  # its event names nobody: a user id bare in a text cannot be known there
        monkeypatch.setattr(Enforcer, "from_env", classmethod(_denied))
    try:
        returned = handler(_events()[function], LambdaContext(function))
        escaped: BaseException | None = None
    except Exception as err:
        returned, escaped = None, err
    if function in ("consent_changed", "worker"):  # a failed record is reported, the batch does not raise
        assert escaped is None and returned and returned["batchItemFailures"]
    else:
        assert escaped is not None, returned
    # What the Lambda runtime writes (errorType, errorMessage, stackTrace) and what goes back as the result.
    runtime_sees = "" if escaped is None else "".join(traceback.format_exception(escaped)) + repr(escaped)
    seen = {"runtime": runtime_sees, "result": json.dumps(returned), "logs": log_lines.getvalue(),
            "printed": capsys.readouterr().out}  # fmt: skip
    assert {where: sorted(n for n in nasty_needles() if n in text) for where, text in seen.items()} == {
        where: [] for where in seen
    }
    if escaped is not None and function != "retention_sweep":  # the sweep's event names nobody
        assert f"<key {warm_container.key(NASTY_KEY)}>" in str(escaped)  # the operator can still find the chat
    assert "AccessDenied" in runtime_sees + seen["logs"] + seen["result"]  # the error's kind is not lost


def test_before_the_hash_key_is_read_an_escaping_error_keeps_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = (observability._scrub, observability._protected)
    observability._scrub, observability._protected = None, None

    def broken(*args: object, **kwargs: object) -> NoReturn:
        raise ValueError(f"cannot read {ARN}")

    try:
        monkeypatch.setattr(Enforcer, "from_env", classmethod(_denied))
        with pytest.raises(ClientError) as denied:
            handlers.backfill_handler(_events()["backfill"], LambdaContext("backfill"))
        monkeypatch.setattr(Enforcer, "from_env", classmethod(broken))
        with pytest.raises(ValueError) as raised:
            handlers.backfill_handler(_events()["backfill"], LambdaContext("backfill"))
    finally:
        observability._scrub, observability._protected = saved
    assert denied.value.response["Error"] == {"Code": "AccessDenied", "Message": WITHHELD}
    assert str(raised.value) == WITHHELD


def test_an_error_that_needs_more_than_its_text_escapes_as_a_handler_error(warm_container: Pseudonyms) -> None:
    class Odd(Exception):
        def __init__(self, key: str, code: int) -> None:
            super().__init__(f"{code}: {key}")

    assert str(escaped(Odd(NASTY_KEY, 7))) == f"Odd: 7: <key {warm_container.key(NASTY_KEY)}>"
    assert type(escaped(Odd(NASTY_KEY, 7))) is HandlerError


# -- the audit trail of a legal hold -----------------------------------------------------------------


def _audit(rt: LocalRuntime) -> AuditLog:
    return AuditLog(rt.dynamodb, rt.env["LEDGER_TABLE"], tombstone_days=30)


def _item(rt: LocalRuntime, pk: str, sk: str) -> dict[str, Any] | None:
    found = rt.dynamodb.get_item(TableName=rt.env["LEDGER_TABLE"], Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return found.get("Item")


def _ttl(rt: LocalRuntime, entry_id: str) -> datetime | None:
    item = _item(rt, f"audit#{entry_id[:7]}", entry_id)
    assert item is not None
    return datetime.fromtimestamp(int(item["ttl"]["N"]), UTC) if "ttl" in item else None


def test_the_audit_entry_of_a_hold_lives_as_long_as_the_hold_and_30_days_after(runtime: LocalRuntime) -> None:
    log = _audit(runtime)
    placed = log.start("hold", "arn:op", t("2025-11-05"), "here", {"action": "place", "key_hash": "k1"},
                       names_someone=True)  # fmt: skip
    other = log.start("hold", "arn:op", t("2025-11-06"), "here", {"action": "place", "user_hash": "u1"},
                      names_someone=True)  # fmt: skip
    erased = log.start("erase", "arn:op", t("2025-11-07"), "here", {"user_hash": "u2"}, names_someone=True)
    assert _ttl(runtime, placed.id) is None and _ttl(runtime, other.id) is None  # in force: kept
    assert _ttl(runtime, erased.id) == t("2025-12-07")  # anything else naming someone: as a tombstone
    released = log.start("hold", "arn:op", t("2028-03-01"), "here", {"action": "release", "key_hash": "k1"},
                         names_someone=True)  # fmt: skip
    assert _ttl(runtime, placed.id) == t("2028-03-31")  # years later: still there, then 30 days more
    assert _ttl(runtime, released.id) == t("2028-03-31")
    assert _ttl(runtime, other.id) is None  # another subject's hold is still in force
    assert _item(runtime, "audit-hold#k1", placed.id) is None
    assert _item(runtime, "audit-hold#u1", other.id) is not None


def test_a_hold_placement_that_failed_expires_as_any_entry(runtime: LocalRuntime) -> None:
    log = _audit(runtime)
    placed = log.start("hold", "arn:op", t("2025-11-05"), "here", {"action": "place", "key_hash": "k1"},
                       names_someone=True)  # fmt: skip
    log.finish(placed, "failed", {}, t("2025-11-05T00:01"))
    assert _ttl(runtime, placed.id) == t("2025-12-05T00:01")
    assert _item(runtime, "audit-hold#k1", placed.id) is None


def test_the_search_reads_every_message_of_a_queue_not_the_first_ten(runtime: LocalRuntime) -> None:
    url = runtime.env["WORK_QUEUE_URL"]
    for start in range(0, 25, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 25))]
        runtime.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(m["Body"] for m in every_message(runtime, url)) == sorted(f"m{i}" for i in range(25))


def test_the_search_reads_what_the_runtime_writes_of_an_escaping_error(
    runtime: LocalRuntime, runtime_errors: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_consent(runtime, USER, "granted", t("2025-09-01"))
    runtime.put_chat(KEYS[0], at=t("2025-10-01"))
    runtime.settle()

    def denied(*args: object, **kwargs: object) -> NoReturn:
        message = f'not authorized on resource: "arn:aws:s3:::{runtime.bucket}/{KEYS[0]}" (user {USER})'
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "PutObjectTagging")

    monkeypatch.setattr(lifecycle, "reopen", denied)
    with pytest.raises(ClientError):
        runtime.chat_event("Chat Reopened", {"user_id": USER, "key": KEYS[0]}, t("2025-10-20"))
    [error] = runtime_errors
    assert "AccessDenied" in error and "<key " in error
    assert not hits({"the runtime's error output": error})


def test_the_ledger_is_restorable_a_week_back_and_a_snapshot_window_follows_it(runtime: LocalRuntime) -> None:
    """A removed record can come back from a restore or a snapshot for the recovery period only (docs/privacy.md)."""
    table = runtime.env["LEDGER_TABLE"]
    backups = runtime.dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    recovery = backups["PointInTimeRecoveryDescription"]
    assert (recovery["PointInTimeRecoveryStatus"], recovery["RecoveryPeriodInDays"]) == ("ENABLED", 7)
    found = exports.window(runtime.dynamodb, table)
    assert found.days == deployment.LEDGER_RECOVERY_DAYS == 7
    with pytest.raises(exports.OutsideWindow, match="at most 7 days"):
        found.check(found.latest - timedelta(days=8), table)
