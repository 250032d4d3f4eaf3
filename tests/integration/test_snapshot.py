"""Training snapshots: `snapshot.take` at T, the manifest format, and `verify` before a training run."""

from __future__ import annotations

import csv
import io

import pytest

from consentry.flows.enforcer import Enforcer
from consentry.local import LocalRuntime
from consentry.training import snapshot
from consentry.training.snapshot import Revocation, SnapshotEntry, SnapshotError
from support import set_consent, t, versions

GRANT = t("2025-09-01")
T = t("2025-12-01")


@pytest.fixture
def enforcer(runtime: LocalRuntime) -> Enforcer:
    return Enforcer.from_env()


def write(rt: LocalRuntime, key: str, at: str, **kwargs: object) -> None:
    rt.put_chat(key, at=t(at), **kwargs)  # type: ignore[arg-type]
    rt.settle()


def current_version(rt: LocalRuntime, key: str) -> str:
    return next(v["VersionId"] for v in versions(rt, key) if v["IsLatest"])


def by_key(entries: list[SnapshotEntry]) -> dict[str, SnapshotEntry]:
    return {e.key: e for e in entries}


def reasons(revocations: list[Revocation]) -> dict[str, str]:
    return {r.entry.key: r.reason for r in revocations}


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


def test_snapshot_lists_exactly_the_chats_eligible_at_t_with_version_consent_and_policy(
    seeded: LocalRuntime, enforcer: Enforcer
) -> None:
    entries = snapshot.take(enforcer, T)
    assert [e.key for e in entries] == ["chats/u1/c1.json", "chats/u2/c1.json", "code-sessions/u1/s1.jsonl"]
    first = by_key(entries)["chats/u1/c1.json"]
    assert first == SnapshotEntry(
        bucket=seeded.bucket,
        key="chats/u1/c1.json",
        version_id=current_version(seeded, "chats/u1/c1.json"),
        consent_version=3,
        policy_version="consumer-terms-2025@1",
        expires_on="2030-09-30",
    )


def test_snapshot_leaves_out_chats_active_after_t_and_chats_due_at_t(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    assert "chats/u1/after-t.json" in by_key(snapshot.take(enforcer, t("2025-12-03")))
    # Five years on, the chats of October 2025 are due: none is eligible then.
    assert [e.key for e in snapshot.take(enforcer, t("2030-10-04"))] == ["chats/u1/after-t.json"]
    assert snapshot.take(enforcer, t("2025-09-30")) == []


def test_snapshot_never_lists_a_chat_that_is_ineligible_now(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    set_consent(seeded, "u2", "denied", t("2026-01-01"), version=2)  # opted out after T
    seeded.chat_event("Chat Deleted", {"user_id": "u1", "key": "chats/u1/c1.json"}, t("2026-01-02"))
    seeded.settle()
    assert [e.key for e in snapshot.take(enforcer, T)] == ["code-sessions/u1/s1.jsonl"]


def test_manifest_is_headerless_csv_bucket_encoded_key_version_first_and_reads_back(seeded: LocalRuntime) -> None:
    entries = [
        SnapshotEntry(seeded.bucket, "chats/ü ser+1/c,1 é.json", "v-1", 7, "consumer-terms-2025@1", "2030-01-02"),
        SnapshotEntry(seeded.bucket, "chats/u1/c1.json", "v-2", 1, "consumer-terms-2025@1", "2030-01-03"),
    ]
    out = io.StringIO()
    snapshot.write(entries, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [
        seeded.bucket,
        "chats/%C3%BC%20ser%2B1/c%2C1%20%C3%A9.json",
        "v-1",
        "7",
        "consumer-terms-2025@1",
        "2030-01-02",
    ]
    assert len(rows) == 2 and all(len(r) == len(snapshot.BATCH_OPERATIONS_FIELDS) for r in rows)
    assert snapshot.read(io.StringIO(out.getvalue())) == entries


@pytest.mark.parametrize(
    "text",
    [
        "bucket,key\r\n",
        "bucket,chats/u1/c1.json,v1,three,consumer-terms-2025@1,2030-01-01\r\n",
        "bucket,chats/u1/c1.json,v1,3,consumer-terms-2025@1,2030-13-01\r\n",
        "bucket,chats/u1/c1.json,,3,consumer-terms-2025@1,2030-01-01\r\n",
    ],
)
def test_malformed_manifest_is_refused_with_the_line(text: str) -> None:
    with pytest.raises(SnapshotError, match="line 1"):
        snapshot.read(io.StringIO(text))


def test_unchanged_snapshot_verifies_clean(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    entries = snapshot.take(enforcer, T)
    assert snapshot.verify(enforcer, entries, now=t("2026-01-01")) == []


def test_verify_lists_entries_revoked_by_opt_out_deletion_erasure_and_new_version(
    seeded: LocalRuntime, enforcer: Enforcer
) -> None:
    set_consent(seeded, "u3", "granted", GRANT)
    seeded.put_chat("chats/u3/c1.json", at=t("2025-10-01"))
    write(seeded, "chats/u3/c2.json", "2025-10-01")
    entries = snapshot.take(enforcer, T)

    set_consent(seeded, "u2", "denied", t("2025-12-10"), version=2)
    seeded.chat_event("Chat Deleted", {"user_id": "u1", "key": "chats/u1/c1.json"}, t("2025-12-11"))
    seeded.chat_event("Erasure Requested", {"user_id": "u3"}, t("2025-12-12"))
    seeded.put_chat("code-sessions/u1/s1.jsonl", body=b'{"edited": true}', at=t("2025-12-13"))
    seeded.settle()

    revoked = snapshot.verify(enforcer, entries, now=t("2026-01-01"))
    assert reasons(revoked) == {
        "chats/u1/c1.json": "deleted",
        "chats/u2/c1.json": "consent-denied",
        "chats/u3/c1.json": "erased",
        "chats/u3/c2.json": "erased",
        "code-sessions/u1/s1.jsonl": "version-changed",
    }
    assert [r.entry for r in revoked] == [e for e in entries if e.key in reasons(revoked)]


def test_verify_sees_an_opt_out_whose_retag_has_not_run_yet(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    entries = snapshot.take(enforcer, T)
    set_consent(seeded, "u2", "denied", t("2025-12-10"), version=2)  # stream record not delivered yet
    assert reasons(snapshot.verify(enforcer, entries, now=t("2026-01-01"))) == {"chats/u2/c1.json": "consent-denied"}


def test_verify_lists_entries_expired_or_swept_by_the_time_of_training(
    seeded: LocalRuntime, enforcer: Enforcer
) -> None:
    entries = snapshot.take(enforcer, T)
    assert set(reasons(snapshot.verify(enforcer, entries, now=t("2030-10-02"))).values()) == {"expired"}
    seeded.sweep(t("2030-10-04"))
    seeded.settle()
    assert set(reasons(snapshot.verify(enforcer, entries, now=t("2030-10-04"))).values()) == {"expired"}


def test_verify_checks_the_tags_s3_carries_on_the_listed_version(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    entries = snapshot.take(enforcer, T)
    key = "chats/u2/c1.json"
    seeded.s3.put_object_tagging(
        Bucket=seeded.bucket,
        Key=key,
        VersionId=by_key(entries)[key].version_id,
        Tagging={"TagSet": [{"Key": "training-eligible", "Value": "false"}]},
    )
    assert reasons(snapshot.verify(enforcer, entries, now=t("2026-01-01"))) == {key: "tags-not-eligible"}


def test_verify_refuses_entries_that_are_not_our_chats_or_unknown(seeded: LocalRuntime, enforcer: Enforcer) -> None:
    policy = "consumer-terms-2025@1"
    entries = [
        SnapshotEntry(seeded.bucket, "exports/u1/c1.json", "v1", 1, policy, "2030-01-01"),
        SnapshotEntry("another-bucket", "chats/u1/c1.json", "v1", 1, policy, "2030-01-01"),
        SnapshotEntry(seeded.bucket, "chats/u1/never-written.json", "v1", 1, policy, "2030-01-01"),
    ]
    assert [r.reason for r in snapshot.verify(enforcer, entries, now=t("2026-01-01"))] == [
        "not-a-chat",
        "not-a-chat",
        "not-recorded",
    ]
