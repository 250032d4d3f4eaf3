"""Training snapshots on moto and DuckDB: the ledger exported at T, its manifest, verify, the report's counts.

moto runs the export for real (ExportTableToPointInTime writes gzipped
DynamoDB JSON into the bucket named), in a thread of its own: the poll's
pause joins that thread instead of sleeping. moto ignores `ExportTime` (its
export is the table as it is when asked), so "the ledger as it was at T" is
shown here by exports taken before and after a change.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from botocore.stub import Stubber

from consentry.cli import report
from consentry.local import LocalRuntime
from consentry.service.aws.batch_ops import encode_key
from consentry.service.records import ChatRecord
from consentry.training import counts, snapshot
from consentry.training import export as exports
from consentry.training.snapshot import SnapshotEntry, SnapshotError
from support import set_consent, t, versions

GRANT = t("2025-09-01")
T = t("2025-12-01")
EXPORTS = "test-training"
LIVE = ("active", "archived")


def moto_export_done(_: float) -> None:
    """The poll's pause: wait for moto's export threads (a real pause on AWS)."""
    for thread in threading.enumerate():
        if type(thread).__name__ == "TableExport":
            thread.join()


def ledger_files(rt: LocalRuntime, into: Path) -> list[Path]:
    """Export the ledger now (PITR on, bucket made: the local world) and download its files.

    As the CLI does on a local server, the window ends at the operator's clock: each export its own prefix."""
    exports.prepare_local(rt.dynamodb, rt.s3, rt.env["LEDGER_TABLE"], EXPORTS)
    done = snapshot.export_ledger(
        rt.dynamodb, rt.env["LEDGER_TABLE"], EXPORTS, sleep=moto_export_done, latest=datetime.now(UTC)
    )
    return exports.download(rt.s3, done, into / "export")


def manifest(rt: LocalRuntime, files: list[Path], at: datetime, into: Path) -> list[SnapshotEntry]:
    taken = snapshot.manifest_files(files, at, rt.bucket, into)
    with taken.csv.open(encoding="utf-8", newline="") as stream:
        entries = snapshot.read(stream)
    assert taken.entries == len(entries)
    return sorted(entries, key=lambda e: e.key)  # unordered: rows stream from the export to the files


def eligible_at(record: ChatRecord, at: datetime) -> bool:
    """The old snapshot's definition, on one current ledger record: the oracle."""
    return (
        record.eligible
        and record.state in LIVE
        and record.deleted_at is None
        and record.tag_error is None
        and record.last_activity <= at < record.expires_at
        and bool(record.version_id)
        and record.consent_version is not None
    )


def current_version(rt: LocalRuntime, key: str) -> str:
    return next(v["VersionId"] for v in versions(rt, key) if v["IsLatest"])


def reasons(verification: snapshot.Verification) -> dict[str, str]:
    return {r.entry.key: r.reason for r in verification.revocations()}


@pytest.fixture
def seeded(runtime: LocalRuntime) -> LocalRuntime:
    set_consent(runtime, "u1", "granted", GRANT, version=3)
    set_consent(runtime, "u2", "granted", GRANT, version=1)
    set_consent(runtime, "denier", "denied", GRANT)
    runtime.put_chat("chats/u1/c1.json", at=t("2025-10-01"))
    runtime.put_chat("code-sessions/u1/s1.jsonl", at=t("2025-10-02"))
    runtime.put_chat("chats/u2/c1.json", at=t("2025-10-03"))
    runtime.put_chat("chats/denier/c1.json", at=t("2025-10-01"))
    runtime.put_chat("chats/pending/c1.json", at=t("2025-10-01"))
    runtime.put_chat("chats/u1/incognito.json", at=t("2025-10-01"), metadata={"incognito": "true"})
    runtime.put_chat("chats/u1/after-t.json", at=t("2025-12-02"))
    runtime.settle()
    return runtime


# -- the export -------------------------------------------------------------------------------------


def test_export_is_asked_for_at_t_into_its_own_prefix_and_its_files_are_the_ledger(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    exports.prepare_local(seeded.dynamodb, seeded.s3, seeded.env["LEDGER_TABLE"], EXPORTS)
    held = exports.window(seeded.dynamodb, seeded.env["LEDGER_TABLE"])
    sent: list[dict[str, Any]] = []
    seeded.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.ExportTableToPointInTime", lambda params, **_: sent.append(dict(params))
    )

    done = snapshot.export_ledger(
        seeded.dynamodb, seeded.env["LEDGER_TABLE"], EXPORTS, held.latest, sleep=moto_export_done
    )

    assert sent[0]["ExportTime"] == held.latest == done.at
    assert sent[0]["S3Bucket"] == EXPORTS and sent[0]["ExportFormat"] == "DYNAMODB_JSON"
    assert done.prefix == exports.prefix_for(held.latest) and sent[0]["ClientToken"]
    text = b"".join(gzip.decompress(p.read_bytes()) for p in exports.download(seeded.s3, done, tmp_path))
    lines = [json.loads(line) for line in text.splitlines()]
    chat_items = [i["Item"] for i in lines if i["Item"]["sk"]["S"].startswith("chat#") and "key" in i["Item"]]
    assert sorted(i["key"]["S"] for i in chat_items) == sorted(r.key for r in seeded.enforcer().ledger.scan())
    assert lines[0]["Item"]["eligible"].keys() == {"BOOL"} and lines[0]["Item"]["revision"].keys() == {"N"}


def test_an_instant_outside_what_pitr_holds_is_refused_before_any_export(seeded: LocalRuntime) -> None:
    table = seeded.env["LEDGER_TABLE"]
    exports.prepare_local(seeded.dynamodb, seeded.s3, table, EXPORTS)
    held = exports.window(seeded.dynamodb, table)

    for at in (held.earliest - timedelta(seconds=1), held.latest + timedelta(minutes=1), T):
        with pytest.raises(exports.OutsideWindow, match="outside what point-in-time recovery"):
            exports.start(seeded.dynamodb, table, at, EXPORTS)
    arn = seeded.dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    assert seeded.dynamodb.list_exports(TableArn=arn)["ExportSummaries"] == []


def test_pitr_holds_at_most_35_days_whatever_the_service_says(runtime: LocalRuntime) -> None:
    latest = t("2026-03-01")
    with Stubber(runtime.dynamodb) as stub:
        stub.add_response(
            "describe_continuous_backups",
            {
                "ContinuousBackupsDescription": {
                    "ContinuousBackupsStatus": "ENABLED",
                    "PointInTimeRecoveryDescription": {
                        "PointInTimeRecoveryStatus": "ENABLED",
                        "EarliestRestorableDateTime": latest - timedelta(days=60),
                        "LatestRestorableDateTime": latest,
                    },
                }
            },
        )
        held = exports.window(runtime.dynamodb, "ledger")
    assert held.earliest == latest - timedelta(days=35)
    with pytest.raises(exports.OutsideWindow):
        held.check(latest - timedelta(days=36), "ledger")


def test_no_pitr_no_export(runtime: LocalRuntime) -> None:
    runtime.dynamodb.update_continuous_backups(  # provision() turns it on, as the stack does
        TableName=runtime.env["LEDGER_TABLE"],
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    with pytest.raises(exports.PitrOff, match="point-in-time recovery is off"):
        exports.start(runtime.dynamodb, runtime.env["LEDGER_TABLE"], None, EXPORTS)


def test_an_export_into_a_missing_bucket_fails_with_the_services_reason(runtime: LocalRuntime) -> None:
    exports.prepare_local(runtime.dynamodb, runtime.s3, runtime.env["LEDGER_TABLE"], EXPORTS)
    with pytest.raises(exports.ExportFailed, match="S3NoSuchBucket"):
        snapshot.export_ledger(runtime.dynamodb, runtime.env["LEDGER_TABLE"], "no-such-bucket", sleep=moto_export_done)


def test_wait_polls_with_backoff_until_the_export_completes(runtime: LocalRuntime) -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger/export/01-abc"
    pauses: list[float] = []
    with Stubber(runtime.dynamodb) as stub:
        for status in ("IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"):
            stub.add_response(
                "describe_export",
                {"ExportDescription": {"ExportArn": arn, "ExportStatus": status, "S3Bucket": "b", "S3Prefix": "p"}},
            )
        done = exports.wait(runtime.dynamodb, arn, T, sleep=pauses.append)
    assert pauses == [0.0, 0.0, 0.0, 0.0, exports.BACKOFF_START]
    assert (done.export_id, done.bucket, done.prefix) == ("01-abc", "b", "p")


# -- the manifest: eligible at T in the export ------------------------------------------------------------


def test_manifest_lists_exactly_the_chats_eligible_at_t_with_version_consent_and_policy(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    files = ledger_files(seeded, tmp_path)
    entries = manifest(seeded, files, T, tmp_path / "m")

    assert [e.key for e in entries] == ["chats/u1/c1.json", "chats/u2/c1.json", "code-sessions/u1/s1.jsonl"]
    assert entries[0] == SnapshotEntry(
        bucket=seeded.bucket,
        key="chats/u1/c1.json",
        version_id=current_version(seeded, "chats/u1/c1.json"),
        consent_version=3,
        policy_version="consumer-terms-2025@1",
        expires_on="2030-09-30",
    )
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path / 'm' / 'manifest.parquet'}')").fetchall()
    assert sorted((SnapshotEntry(*row[:6]) for row in rows), key=lambda e: e.key) == entries


def test_manifest_keeps_the_old_meaning_of_eligible_at_t_on_the_exported_records(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    seeded.chat_event("Chat Deleted", {"user_id": "u2", "key": "chats/u2/c1.json"}, t("2025-12-05"))
    seeded.settle()
    files = ledger_files(seeded, tmp_path)
    records = list(seeded.enforcer().ledger.scan())
    for at in (t("2025-09-30"), T, t("2025-12-03"), t("2030-09-30"), t("2030-10-04"), t("2031-01-01")):
        expected = sorted(r.key for r in records if eligible_at(r, at))
        assert [e.key for e in manifest(seeded, files, at, tmp_path / at.strftime("%Y%m%d"))] == expected, at
    assert [e.key for e in manifest(seeded, files, t("2030-10-04"), tmp_path / "late")] == ["chats/u1/after-t.json"]


def test_a_snapshot_is_the_ledger_at_its_instant_later_changes_do_not_touch_it(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    before = ledger_files(seeded, tmp_path / "before")
    set_consent(seeded, "u2", "denied", t("2026-01-01"), version=2)  # opted out after the first export
    seeded.settle()
    after = ledger_files(seeded, tmp_path / "after")

    at = t("2026-02-01")
    assert "chats/u2/c1.json" in [e.key for e in manifest(seeded, before, at, tmp_path / "m1")]
    assert "chats/u2/c1.json" not in [e.key for e in manifest(seeded, after, at, tmp_path / "m2")]


def test_batch_operations_csv_is_headerless_with_keys_encoded_as_encode_key(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    odd = ["chats/ü ser+1/c,1 é~*.json", "chats/u%20/a'b\"c.json", "code-sessions/u 2/s+1.jsonl"]
    set_consent(runtime, "ü ser+1", "granted", GRANT)
    set_consent(runtime, "u%20", "granted", GRANT)
    set_consent(runtime, "u 2", "granted", GRANT)
    for key in odd:
        runtime.put_chat(key, at=t("2025-10-01"))
    runtime.settle()

    taken = snapshot.manifest_files(ledger_files(runtime, tmp_path), T, runtime.bucket, tmp_path / "m")

    rows = list(csv.reader(io.StringIO(taken.csv.read_text(encoding="utf-8"))))
    assert sorted(row[1] for row in rows) == sorted(encode_key(k) for k in odd)
    assert all(len(row) == len(snapshot.BATCH_OPERATIONS_FIELDS) and row[0] == runtime.bucket for row in rows)
    with taken.csv.open(encoding="utf-8", newline="") as stream:
        assert sorted(e.key for e in snapshot.read(stream)) == sorted(odd)


def test_manifest_csv_written_and_read_without_duckdb() -> None:
    entries = [
        SnapshotEntry("chat-logs", "chats/ü ser+1/c,1 é.json", "v-1", 7, "consumer-terms-2025@1", "2030-01-02"),
        SnapshotEntry("chat-logs", "chats/u1/c1.json", "v-2", 1, "consumer-terms-2025@1", "2030-01-03"),
    ]
    out = io.StringIO()
    snapshot.write(entries, out)
    assert out.getvalue().splitlines()[0] == (
        "chat-logs,chats/%C3%BC%20ser%2B1/c%2C1%20%C3%A9.json,v-1,7,consumer-terms-2025@1,2030-01-02"
    )
    assert snapshot.read(io.StringIO(out.getvalue())) == entries


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bucket,key\r\n", "Line: 1"),
        ("b,chats/u1/c1.json,v1,three,consumer-terms-2025@1,2030-01-01\r\n", "Line: 1"),
        ("b,chats/u1/c1.json,v1,3,consumer-terms-2025@1,2030-13-01\r\n", "Line: 1"),
        (
            "b,chats/u1/c1.json,,3,consumer-terms-2025@1,2030-01-01\r\n",
            "'chats/u1/c1.json': bucket, key and version_id",
        ),
    ],
)
def test_malformed_manifest_is_refused_with_the_line_or_entry(
    runtime: LocalRuntime, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(SnapshotError, match=message):
        snapshot.verify_files([], bad, T, runtime.bucket, tmp_path / "v")
    with pytest.raises(SnapshotError):
        snapshot.read(io.StringIO(text))


# -- verify: what in a manifest may no longer be read now ---------------------------------------------------


def taken(rt: LocalRuntime, tmp_path: Path, at: datetime = T) -> Path:
    return snapshot.manifest_files(ledger_files(rt, tmp_path / "then"), at, rt.bucket, tmp_path / "m").parquet


def verify(rt: LocalRuntime, parquet: Path, now: datetime, tmp_path: Path) -> snapshot.Verification:
    return snapshot.verify_files(ledger_files(rt, tmp_path / "now"), parquet, now, rt.bucket, tmp_path / "v")


def test_unchanged_snapshot_verifies_clean(seeded: LocalRuntime, tmp_path: Path) -> None:
    result = verify(seeded, taken(seeded, tmp_path), t("2026-01-01"), tmp_path)
    assert (result.checked, result.revoked, result.by_reason) == (3, 0, {})


def test_verify_lists_entries_revoked_by_opt_out_deletion_erasure_and_new_version(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    set_consent(seeded, "u3", "granted", GRANT)
    seeded.put_chat("chats/u3/c1.json", at=t("2025-10-01"))
    seeded.put_chat("chats/u3/c2.json", at=t("2025-10-01"))
    seeded.settle()
    parquet = taken(seeded, tmp_path)

    set_consent(seeded, "u2", "denied", t("2025-12-10"), version=2)
    seeded.chat_event("Chat Deleted", {"user_id": "u1", "key": "chats/u1/c1.json"}, t("2025-12-11"))
    seeded.chat_event("Erasure Requested", {"user_id": "u3"}, t("2025-12-12"))
    seeded.put_chat("code-sessions/u1/s1.jsonl", body=b'{"edited": true}', at=t("2025-12-13"))
    seeded.settle()

    result = verify(seeded, parquet, t("2026-01-01"), tmp_path)
    assert reasons(result) == {
        "chats/u1/c1.json": "deleted",
        "chats/u2/c1.json": "consent-denied",
        "chats/u3/c1.json": "erased",
        "chats/u3/c2.json": "erased",
        "code-sessions/u1/s1.jsonl": "version-changed",
    }
    assert result.by_reason == {"consent-denied": 1, "deleted": 1, "erased": 2, "version-changed": 1}
    assert (result.checked, result.revoked) == (5, 5)


def test_verify_lists_entries_expired_or_swept_by_then(seeded: LocalRuntime, tmp_path: Path) -> None:
    parquet = taken(seeded, tmp_path)
    assert set(reasons(verify(seeded, parquet, t("2030-10-02"), tmp_path / "due")).values()) == {"expired"}
    seeded.sweep(t("2030-10-04"))
    seeded.settle()
    assert set(reasons(verify(seeded, parquet, t("2030-10-04"), tmp_path / "swept")).values()) == {"expired"}


def test_verify_reads_tombstones_and_missing_attributes_as_gone_or_not_eligible(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    parquet = taken(seeded, tmp_path)
    table = seeded.env["LEDGER_TABLE"]
    ledger = seeded.enforcer().ledger
    # A tombstone (the chat deleted and removed: hashed keys, no user id, key, activity or version) is found
    # by the manifest's hashed sort key, and says why the chat went.
    seeded.chat_event("Chat Deleted", {"user_id": "u1", "key": "chats/u1/c1.json"}, t("2025-12-20"))
    tombstone = ledger.get("u1", "chats/u1/c1.json")
    assert tombstone is not None and tombstone.removed
    # A record written with explicit NULLs: eligible NULL reads as not eligible.
    key = {"pk": {"S": ledger.user_pk("u2")}, "sk": {"S": ledger.chat_sk("chats/u2/c1.json")}}
    item = seeded.dynamodb.get_item(TableName=table, Key=key)
    seeded.dynamodb.put_item(TableName=table, Item={**item["Item"], "eligible": {"NULL": True}, "tier": {"NULL": True}})

    result = verify(seeded, parquet, t("2026-01-01"), tmp_path)
    assert reasons(result) == {"chats/u1/c1.json": "deleted", "chats/u2/c1.json": "consent-granted"}


def test_verify_refuses_entries_of_another_bucket_and_unknown_keys(seeded: LocalRuntime, tmp_path: Path) -> None:
    policy = "consumer-terms-2025@1"
    entries = [
        SnapshotEntry("another-bucket", "chats/u1/c1.json", "v1", 1, policy, "2030-01-01"),
        SnapshotEntry(seeded.bucket, "chats/u1/never-written.json", "v1", 1, policy, "2030-01-01"),
    ]
    path = tmp_path / "ours.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        snapshot.write(entries, stream)
    result = verify(seeded, path, t("2026-01-01"), tmp_path)
    assert reasons(result) == {"chats/u1/c1.json": "not-a-chat", "chats/u1/never-written.json": "gone"}


# -- the report's counts: the same SQL ------------------------------------------------------------------


def test_report_counts_from_sql_equal_a_count_of_the_ledgers_records(seeded: LocalRuntime, tmp_path: Path) -> None:
    seeded.chat_event("Chat Deleted", {"user_id": "u2", "key": "chats/u2/c1.json"}, t("2025-12-05"))
    seeded.sweep(t("2025-12-06"))
    seeded.settle()
    now = t("2025-11-15")
    rows, parquet = counts.report_files(ledger_files(seeded, tmp_path), now, tmp_path / "r")
    data = report.from_counts(rows, now, "p", "here", seeded.bucket, ["free", "pro", "max", "team"])

    records = list(seeded.enforcer().ledger.scan_with_tombstones())
    stored = [r for r in records if r.state != "removed"]
    assert (data.objects, data.eligible, data.removed) == (
        len(stored),
        sum(r.eligible for r in stored),
        len(records) - len(stored),
    )
    assert data.due == sum(r.in_due_index and r.expires_at <= now for r in stored)
    assert data.users == len({r.user_id for r in stored})
    assert sum(data.by_reason.values()) == data.objects and data.by_reason["consent-granted"] == data.eligible
    assert sum(b.total for b in data.by_month) == data.objects
    assert data.by_state == {"active": len(stored), "removed": len(records) - len(stored)}
    assert {b.label: b.total for b in data.by_tier} == Counter(r.tier or report.NO_RECORD for r in stored)
    assert data.removed == 4  # u2's deleted chat, and the denied, pending and incognito chats swept when due
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchall() == [(len(rows),)]


# -- requests recorded but not yet applied ------------------------------------------------------------------


def test_an_erasure_requested_but_not_processed_is_revoked_and_left_out_of_a_new_manifest(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    parquet = taken(seeded, tmp_path)
    seeded.chat_event("Erasure Requested", {"user_id": "u1"}, t("2025-12-10"))  # its work not delivered yet
    assert seeded.enforcer().ledger.get("u1", "chats/u1/c1.json").deleted_at is None  # type: ignore[union-attr]

    result = verify(seeded, parquet, t("2026-01-01"), tmp_path)
    assert reasons(result) == {"chats/u1/c1.json": "erased", "code-sessions/u1/s1.jsonl": "erased"}
    later = manifest(seeded, ledger_files(seeded, tmp_path / "later"), t("2025-12-10"), tmp_path / "m2")
    assert [e.key for e in later] == ["chats/u2/c1.json"]


def test_an_opt_out_whose_retag_has_not_landed_is_revoked_from_the_consent_records(
    seeded: LocalRuntime, tmp_path: Path
) -> None:
    parquet = taken(seeded, tmp_path)
    set_consent(seeded, "u2", "denied", t("2025-12-10"), version=2)  # the stream not delivered: ledger unchanged
    files = ledger_files(seeded, tmp_path / "now")
    consents = seeded.enforcer().consents

    without = snapshot.verify_files(files, parquet, t("2026-01-01"), seeded.bucket, tmp_path / "v1")
    assert reasons(without) == {}  # the ledger alone does not know yet
    result = snapshot.verify_files(
        files, parquet, t("2026-01-01"), seeded.bucket, tmp_path / "v2", consents=consents.get_many,
        policy=seeded.enforcer().policy,
    )  # fmt: skip
    assert reasons(result) == {"chats/u2/c1.json": "consent-denied"}
    assert result.by_reason == {"consent-denied": 1} and (result.checked, result.revoked) == (3, 1)


# -- the export's instant, the local window, the AWS layout ------------------------------------------------


def test_a_local_server_keeps_its_pitr_on_and_its_window_ends_where_the_caller_says(seeded: LocalRuntime) -> None:
    table = seeded.env["LEDGER_TABLE"]
    toggled: list[object] = []
    seeded.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateContinuousBackups", lambda params, **_: toggled.append(params)
    )
    before = exports.window(seeded.dynamodb, table)

    done = exports.prepare_local(seeded.dynamodb, seeded.s3, table, EXPORTS)
    assert done[0] == f"bucket {EXPORTS} created for exports and manifests"
    assert len(done) == 2 and done[1].startswith(f"lifecycle set on {EXPORTS}:")
    assert seeded.s3.get_bucket_lifecycle_configuration(Bucket=EXPORTS)["Rules"]
    assert toggled == [] and exports.window(seeded.dynamodb, table) == before  # PITR never turned off and on
    now = before.latest + timedelta(days=3)
    done = snapshot.export_ledger(seeded.dynamodb, table, EXPORTS, sleep=moto_export_done, latest=now)
    assert done.at == now and done.prefix == exports.prefix_for(now)
    with pytest.raises(exports.OutsideWindow):
        exports.start(seeded.dynamodb, table, now + timedelta(seconds=1), EXPORTS, latest=now)


def test_pitr_off_on_a_local_server_is_turned_on_once(runtime: LocalRuntime) -> None:
    table = runtime.env["LEDGER_TABLE"]
    off = {"PointInTimeRecoveryEnabled": False}
    runtime.dynamodb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification=off)
    done = exports.prepare_local(runtime.dynamodb, runtime.s3, table, EXPORTS)
    assert done[0] == f"point-in-time recovery turned on for {table}"
    assert exports.window(runtime.dynamodb, table).latest is not None


def test_the_exports_instant_is_the_one_describe_export_gives_back(runtime: LocalRuntime) -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger/export/01-abc"
    held = t("2026-03-01T10:04:59Z")
    with Stubber(runtime.dynamodb) as stub:
        stub.add_response(
            "describe_export",
            {
                "ExportDescription": {
                    "ExportArn": arn,
                    "ExportStatus": "COMPLETED",
                    "S3Bucket": "b",
                    "S3Prefix": "p",
                    "ExportTime": held,
                    "ExportManifest": "p/AWSDynamoDB/01-abc/manifest-summary.json",
                }
            },
        )
        done = exports.wait(runtime.dynamodb, arn, t("2026-03-01T10:05:00Z"), sleep=lambda _: None)
    assert done.at == held and done.manifest == "p/AWSDynamoDB/01-abc/manifest-summary.json"


def test_an_export_in_the_aws_layout_is_read_from_its_manifest_files(runtime: LocalRuntime, tmp_path: Path) -> None:
    """AWS writes manifest-summary.json naming manifest-files.json, one line per data file (moto writes neither)."""
    runtime.s3.create_bucket(Bucket=EXPORTS)
    base = "exports/ledger-20260301T100000Z/AWSDynamoDB/01-abc"
    data = [f"{base}/data/{name}.json.gz" for name in ("b7", "a1")]
    for number, key in enumerate(data):
        line = json.dumps({"Item": {"pk": {"S": f"user#{number}"}, "sk": {"S": "chat#x"}}}) + "\n"
        runtime.s3.put_object(Bucket=EXPORTS, Key=key, Body=gzip.compress(line.encode()))
    runtime.s3.put_object(Bucket=EXPORTS, Key=f"{base}/data/stray.json.gz", Body=b"not listed: not read")
    files = "".join(json.dumps({"itemCount": 1, "dataFileS3Key": key, "etag": "e"}) + "\n" for key in data)
    runtime.s3.put_object(Bucket=EXPORTS, Key=f"{base}/manifest-files.json", Body=files.encode())
    summary = {"manifestFilesS3Key": f"{base}/manifest-files.json", "itemCount": 2, "exportTime": "2026-03-01"}
    runtime.s3.put_object(Bucket=EXPORTS, Key=f"{base}/manifest-summary.json", Body=json.dumps(summary).encode())
    done = exports.Export(
        arn="arn:aws:dynamodb:us-east-1:123456789012:table/ledger/export/01-abc",
        bucket=EXPORTS,
        prefix="exports/ledger-20260301T100000Z",
        at=t("2026-03-01T10:00:00Z"),
        manifest=f"{base}/manifest-summary.json",
    )

    assert exports.data_files(runtime.s3, done) == data  # the manifest's order, the stray file left out
    paths = exports.download(runtime.s3, done, tmp_path)
    assert [json.loads(gzip.decompress(p.read_bytes()))["Item"]["pk"]["S"] for p in paths] == ["user#0", "user#1"]
    assert done.data == f"s3://{EXPORTS}/exports/ledger-20260301T100000Z/AWSDynamoDB/01-abc/data/"


# -- reading by manifest ---------------------------------------------------------------------------------------


def test_the_reader_keeps_a_manifests_version_only_while_it_is_the_current_one(seeded: LocalRuntime) -> None:
    from consentry.training.read import VERSION_CHANGED, read_entry

    key = "chats/u1/c1.json"
    entry = SnapshotEntry(seeded.bucket, key, current_version(seeded, key), 3, "consumer-terms-2025@1", "2030-09-30")
    listed: list[object] = []
    seeded.s3.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: listed.append(kw))
    seeded.s3.meta.events.register("before-call.s3.ListObjectVersions", lambda **kw: listed.append(kw))

    assert read_entry(seeded.s3, entry).body == b"{}"
    seeded.put_chat(key, body=b'{"edited": true}', at=t("2025-12-13"))
    again = read_entry(seeded.s3, entry)
    assert (again.body, again.reason) == (None, VERSION_CHANGED)  # the later version's bytes are not handed on
    assert listed == []  # by manifest: no listing


def test_a_local_server_refuses_a_past_instant_it_cannot_export(runtime: LocalRuntime) -> None:
    """moto exports the table as it is when asked: an hour ago would be the present under a false label.

    The window a local server states is its now only, and the recovery period stays the table's."""
    table = runtime.env["LEDGER_TABLE"]
    exports.prepare_local(runtime.dynamodb, runtime.s3, table, EXPORTS)
    now = datetime.now(UTC)
    with pytest.raises(exports.OutsideWindow, match="only as it is now") as refused:
        exports.start(runtime.dynamodb, table, now - timedelta(hours=1), EXPORTS, latest=now)
    assert "at most 35 days" not in str(refused.value)
    assert (
        runtime.dynamodb.list_exports(TableArn=runtime.dynamodb.describe_table(TableName=table)["Table"]["TableArn"])[
            "ExportSummaries"
        ]
        == []
    )
    arn, at = exports.start(runtime.dynamodb, table, now, EXPORTS, latest=now)
    assert at == now and arn
