"""Each role holds what its function calls, and every other grant has a written reason.

The expectations come from the calls the code makes: one deployment under IAM parity runs every
flow (writes, consent changes, reopen and archive, reopen of a chat the ledger never saw, holds on
a chat and on a user, deletion of a free, a held and a retained chat, an erasure that meets a held
chat and an object no event announced, the sweep, backfill), and the recorder maps each call to the
IAM action AWS checks (tests/parity/calls.py). The reasons are `infra/reasons.py`'s. Nothing here
lists a role's actions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from consentry.local import LocalRuntime
from consentry.service import settings
from consentry.service.aws.batch_ops import encode_key
from consentry.service.deployment import FUNCTIONS
from infra.reasons import UNCALLED_GRANTS
from parity.iam import Parity, deployed
from parity.template import ROOT
from support import exists, record, retain_for_a_day, set_consent, t, tags

NAMES = [spec.name for spec in FUNCTIONS]


def unannounced(rt: LocalRuntime, key: str, tagging: str = "") -> None:
    """An object written before deployment: in the bucket, its notification lost."""
    rt.s3.put_object(Bucket=rt.bucket, Key=key, Body=b"{}", Tagging=tagging)
    url = rt.env["WRITE_QUEUE_URL"]
    while messages := rt.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            rt.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def backfill_event(rt: LocalRuntime, key: str) -> dict[str, object]:
    event: dict[str, object] = json.loads((ROOT / "tests/events/s3BatchOperationEventSchemaV2.json").read_text())
    event["tasks"] = [{"taskId": "t0", "s3Key": encode_key(key), "s3VersionId": None, "s3Bucket": rt.bucket}]
    return event


def every_flow(rt: LocalRuntime) -> None:
    """One of each: what the handlers do in a deployment's life."""
    set_consent(rt, "ana", "granted", t("2025-09-01"), version=1)
    set_consent(rt, "ben", "granted", t("2025-09-01"), version=1)
    for key in ("chats/ana/a.json", "chats/ana/b.json", "chats/ana/held.json", "code-sessions/ana/s.jsonl"):
        rt.put_chat(key, at=t("2025-09-10"))
    rt.put_chat("chats/ben/a.json", at=t("2025-09-10"))
    rt.put_chat("chats/ben/b.json", at=t("2025-09-10"), tags={"team": "support"})  # its writer's tags: read, kept
    rt.settle()
    rt.chat_event("Chat Archived", {"user_id": "ana", "key": "chats/ana/a.json"}, t("2025-09-11"))
    rt.chat_event("Chat Reopened", {"user_id": "ana", "key": "chats/ana/a.json"}, t("2025-09-12"))
    unannounced(rt, "chats/ana/unseen.json")
    rt.chat_event("Chat Reopened", {"user_id": "ana", "key": "chats/ana/unseen.json"}, t("2025-09-12"))
    # A hold on one chat, its deletion (kept), its release (removed); a plain deletion.
    rt.chat_event("Legal Hold Placed", {"user_id": "ana", "key": "chats/ana/held.json"}, t("2025-09-13"))
    rt.put_chat("chats/ana/held.json", at=t("2025-09-13T12:00:00"))  # a version written under the hold: held too
    rt.settle()
    rt.chat_event("Chat Deleted", {"user_id": "ana", "key": "chats/ana/held.json"}, t("2025-09-14"))
    rt.chat_event("Legal Hold Released", {"user_id": "ana", "key": "chats/ana/held.json"}, t("2025-09-15"))
    rt.chat_event("Chat Deleted", {"user_id": "ana", "key": "chats/ana/b.json"}, t("2025-09-15"))
    # A write dated before that deletion, arriving after it: a leftover of the deleted chat, removed at once.
    rt.put_chat("chats/ana/b.json", at=t("2025-09-14T23:00:00"))
    rt.settle()
    # A hold on all of a user's chats (through the work queue); an erasure meets them held and meets an
    # object no event announced; releasing one chat removes it and updates the erasure's counts.
    unannounced(rt, "chats/ben/unseen.json")
    rt.chat_event("Legal Hold Placed", {"user_id": "ben"}, t("2025-09-16"))
    rt.settle()
    rt.chat_event("Erasure Requested", {"user_id": "ben"}, t("2025-09-17"))
    rt.settle()
    rt.chat_event("Legal Hold Released", {"user_id": "ben", "key": "chats/ben/a.json"}, t("2025-09-18"))
    rt.chat_event("Legal Hold Released", {"user_id": "ben"}, t("2025-09-19"))
    rt.settle()
    # Opt-out (retag through the work queue), then the sweep of what expired.
    set_consent(rt, "ana", "denied", t("2025-09-20"), version=2)
    rt.settle()
    rt.sweep(t("2026-01-01T03:00:00"))
    rt.settle()
    # An object no notification announced, tagged by S3 Batch Operations.
    unannounced(rt, "chats/cid/old.json", tagging="team=support")
    rt.invoke("backfill", backfill_event(rt, "chats/cid/old.json"))
    # A held chat's version no notification announced: the backfill holds it too.
    unannounced(rt, "chats/dee/old.json")
    rt.invoke("backfill", backfill_event(rt, "chats/dee/old.json"))
    rt.chat_event("Legal Hold Placed", {"user_id": "dee", "key": "chats/dee/old.json"}, t("2026-01-02"))
    unannounced(rt, "chats/dee/old.json")
    rt.invoke("backfill", backfill_event(rt, "chats/dee/old.json"))


def retained_chat(rt: LocalRuntime) -> None:
    """A legal operator puts a retention period on a chat; its deletion and the sweep meet the lock.

    Both ask S3 why the deletion was refused (GetObjectRetention). moto 5.2 answers that request as a
    GetObject, so here the flows fail where AWS keeps the chat: the calls they make are what counts.
    """
    rt.put_chat("chats/dan/kept.json", at=t("2025-09-10"))
    rt.settle()
    retain_for_a_day(rt, "chats/dan/kept.json")
    # moto answers GetObjectRetention with a 500: the lock check raises, as it must for any answer but
    # "no lock configuration" (a broken role is never taken for a lock).
    with contextlib.suppress(RuntimeError, ClientError):
        rt.chat_event("Chat Deleted", {"user_id": "dan", "key": "chats/dan/kept.json"}, t("2025-09-18"))
    rt.sweep(t("2025-09-19T03:00:00"))
    rt.settle()  # the sweep's page fails on the retained chat and goes to the DLQ


@pytest.fixture(scope="module")
def exercised() -> Iterator[Parity]:
    """One deployment for the module, every flow run once (the tests' conftest checks its calls after each test)."""
    with mock_aws():
        settings.current.cache_clear()
        with deployed("lp") as parity:
            every_flow(parity.runtime)
            assert parity.runtime.delivered.failures == 0
            retained_chat(parity.runtime)
            yield parity
    settings.current.cache_clear()


def test_the_flows_ran_to_the_end(exercised: Parity) -> None:
    rt = exercised.runtime
    assert not exists(rt, "chats/ana/b.json") and not exists(rt, "chats/ana/held.json")
    assert not exists(rt, "chats/ana/a.json"), "swept after the opt-out"
    assert not exists(rt, "chats/ben/a.json"), "erased once released"
    assert tags(rt, "chats/cid/old.json")["training-reason"] == "consent-pending"
    assert exists(rt, "chats/dan/kept.json"), "a retained chat is never deleted"
    erased = record(rt, "ben", "chats/ben/b.json")
    assert erased is not None and erased.state == "removed"


@pytest.mark.parametrize("name", NAMES)
def test_every_grant_is_called_or_has_a_reason(exercised: Parity, name: str) -> None:
    granted = {a for s in exercised.identity[name] if s.get("Effect") == "Allow" for a in s["Action"]}
    called = exercised.actions(name)
    reasons = UNCALLED_GRANTS.get(name, {})
    # Every call was allowed, on its resource too: the parity fixture fails the test otherwise.
    assert called <= granted
    assert sorted(granted - called) == sorted(reasons), "remove the grant, or say in infra/reasons.py why it stays"
    assert not set(reasons) & called, "a reason for an action the code calls is stale: remove it"


@pytest.mark.parametrize("name", NAMES)
def test_a_role_that_reads_an_objects_facts_may_read_its_tag_count(exercised: Parity, name: str) -> None:
    """S3 answers GetObject's TagCount only to a caller allowed s3:GetObjectTagging; moto to anyone
    (tests/parity/test_tag_count.py). Without it a tagged chat reads as untagged: its tags would be lost."""
    granted = {a for s in exercised.identity[name] if s.get("Effect") == "Allow" for a in s["Action"]}
    if "s3:GetObject" in exercised.actions(name):
        assert "s3:GetObjectTagging" in granted
