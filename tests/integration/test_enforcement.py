"""The enforcement core end to end on moto, through the handlers, asserting on S3 and the ledger."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from consentry.local import LambdaContext, LocalRuntime, sqs_record
from consentry.service import handlers
from consentry.service.policy import Reason
from support import eligible, exists, record, remove_consent, set_consent, t, tags, versions

GRANT = t("2025-09-01")
CHAT = "chats/u1/c1.json"


def write(rt: LocalRuntime, key: str, at: str, **kwargs: object) -> None:
    rt.put_chat(key, at=t(at), **kwargs)  # type: ignore[arg-type]
    rt.settle()


@pytest.fixture
def calls(runtime: LocalRuntime) -> Iterator[Counter[str]]:
    """Counts the API calls the handlers make, by operation name."""
    counter: Counter[str] = Counter()
    for clients in runtime.handler_clients():
        for client in (clients.s3, clients.dynamodb, clients.sqs):
            client.meta.events.register("before-call.*.*", lambda model, **_: counter.update([model.name]))
    yield counter


# -- writes ------------------------------------------------------------------------------


def test_new_chat_of_granted_consumer_is_tagged_eligible(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=4)
    write(runtime, CHAT, "2025-10-01T12:00:00")
    assert tags(runtime, CHAT) == {
        "training-eligible": "true",
        "training-reason": "consent-granted",
        "retention-days": "1825",
        "expires-on": "2030-09-30",
        "policy-version": "consumer-terms-2025@1",
    }
    stored = record(runtime, "u1", CHAT)
    assert stored is not None
    assert (stored.eligible, stored.consent_version, stored.last_activity) == (True, 4, t("2025-10-01T12:00:00"))
    assert stored.expires_at == t("2025-10-01T12:00:00") + timedelta(days=1825)


def test_coding_sessions_are_chats_too(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    write(runtime, "code-sessions/u1/s1.jsonl", "2025-10-01")
    assert eligible(runtime, "code-sessions/u1/s1.jsonl")


def test_user_without_record_is_pending_with_30_days(runtime: LocalRuntime) -> None:
    write(runtime, CHAT, "2025-10-01")
    assert tags(runtime, CHAT)["training-reason"] == "consent-pending"
    assert tags(runtime, CHAT)["retention-days"] == "30"
    assert tags(runtime, CHAT)["expires-on"] == "2025-10-31"


@pytest.mark.parametrize("key", ["other/u1/c1.json", "chats/u1/sub/c1.json", "chats/u1/c1.txt", "chats/u1.json"])
def test_keys_that_are_not_ours_are_never_tagged_or_recorded(runtime: LocalRuntime, key: str) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=b"{}")
    # S3 only notifies our prefixes; deliver the key anyway, as a misconfigured notification would.
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2025-10-01T00:00:00Z",
                    "s3": {"bucket": {"name": runtime.bucket}, "object": {"key": key}},
                }
            ]
        }
    )
    runtime.sqs.send_message(QueueUrl=runtime.env["WRITE_QUEUE_URL"], MessageBody=body)
    runtime.settle()
    assert tags(runtime, key) == {}
    assert record(runtime, "u1", key) is None


def test_keys_with_spaces_plus_and_unicode(runtime: LocalRuntime) -> None:
    key = "chats/ü ser+1%/chat №1.json"
    set_consent(runtime, "ü ser+1%", "granted", GRANT)
    write(runtime, key, "2025-10-01")
    assert eligible(runtime, key)


def test_foreign_tags_are_kept_and_writer_values_of_ours_overwritten(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    write(runtime, CHAT, "2025-10-01", tags={"team": "search", "training-eligible": "true"})
    assert tags(runtime, CHAT)["team"] == "search"
    assert tags(runtime, CHAT)["training-eligible"] == "false"


def test_tag_limit_fails_closed_without_retrying(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    foreign = {f"t{i}": "x" for i in range(6)}
    write(runtime, CHAT, "2025-10-01", tags=foreign)
    assert tags(runtime, CHAT) == {**foreign, "training-eligible": "false"}
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and not stored.eligible and stored.tag_error == "tag-limit"
    assert runtime.delivered.failures == 0  # not retried: retrying cannot help


def test_incognito_chat_is_never_eligible(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    write(runtime, CHAT, "2025-10-01", metadata={"incognito": "TRUE"})
    assert tags(runtime, CHAT)["training-reason"] == "incognito"


def test_invalid_consent_record_fails_closed(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, tier="platinum")
    write(runtime, CHAT, "2025-10-01")
    assert tags(runtime, CHAT)["training-reason"] == "invalid-consent-record"
    assert tags(runtime, CHAT)["training-eligible"] == "false"


def test_object_deleted_before_processing_is_acknowledged(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.put_chat(CHAT, at=t("2025-10-01"))
    runtime.s3.delete_object(Bucket=runtime.bucket, Key=CHAT)
    delivered = runtime.settle()
    assert delivered.failures == 0
    assert record(runtime, "u1", CHAT) is None


def test_unparseable_notification_fails_alone_and_goes_to_the_dlq(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.sqs.send_message(QueueUrl=runtime.env["WRITE_QUEUE_URL"], MessageBody="{not json")
    runtime.put_chat(CHAT, at=t("2025-10-01"))
    runtime.settle()
    assert eligible(runtime, CHAT)
    assert runtime.dead_letters("WRITE_QUEUE_URL") == ["{not json"]


def test_batch_response_names_the_bad_message(runtime: LocalRuntime) -> None:
    event = {"Records": [{"messageId": "m-bad", "body": "nope", "attributes": {}, "eventSource": "aws:sqs"}]}
    response = handlers.tag_on_write_handler(event, LambdaContext("tag_on_write"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}


# -- idempotency and ordering ---------------------------------------------------------------


def test_same_write_event_twice_writes_nothing_the_second_time(runtime: LocalRuntime, calls: Counter[str]) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    runtime.put_chat(CHAT, at=t("2025-10-01"))
    queue = runtime.env["WRITE_QUEUE_URL"]
    messages = runtime.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    arn = runtime.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = {"Records": [sqs_record({**m, "Body": runtime.stamp(m["Body"])}, arn) for m in messages]}
    assert handlers.tag_on_write_handler(event, LambdaContext("tag_on_write")) == {"batchItemFailures": []}
    first = (tags(runtime, CHAT), record(runtime, "u1", CHAT))
    assert first[0]["training-eligible"] == "true"
    calls.clear()
    assert handlers.tag_on_write_handler(event, LambdaContext("tag_on_write")) == {"batchItemFailures": []}
    writes = ("PutObjectTagging", "PutItem", "UpdateItem", "DeleteItem", "DeleteObjects", "BatchWriteItem")
    assert sum(calls[name] for name in writes) == 0
    assert (tags(runtime, CHAT), record(runtime, "u1", CHAT)) == first


def test_stale_write_event_does_not_move_activity_back(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    write(runtime, CHAT, "2025-12-01")
    runtime.put_chat(CHAT, at=t("2025-10-01"))  # delivered late, older than what we know
    runtime.settle()
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.last_activity == t("2025-12-01")
    assert tags(runtime, CHAT)["expires-on"] == "2025-12-31"


# -- consent and tier changes ---------------------------------------------------------------


def test_opt_out_retags_every_stored_chat_of_the_user(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    keys = [f"chats/u1/c{i}.json" for i in range(5)] + ["code-sessions/u1/s1.jsonl"]
    for i, key in enumerate(keys):
        runtime.put_chat(key, at=t("2025-10-01") + timedelta(days=i))
    set_consent(runtime, "u2", "granted", GRANT)
    runtime.put_chat("chats/u2/c1.json", at=t("2025-10-01"))
    runtime.settle()
    assert all(eligible(runtime, k) for k in keys)
    set_consent(runtime, "u1", "denied", t("2026-01-01"), version=2)
    runtime.settle()
    for key in keys:
        assert tags(runtime, key)["training-reason"] == "consent-denied"
        assert tags(runtime, key)["retention-days"] == "30"
    assert eligible(runtime, "chats/u2/c1.json")  # other users untouched


def test_opt_out_makes_old_logs_due_at_the_next_sweep(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    write(runtime, CHAT, "2025-10-01")
    set_consent(runtime, "u1", "denied", t("2026-03-01"), version=2)
    runtime.settle()
    runtime.sweep(t("2026-03-02"))
    runtime.settle()
    assert not exists(runtime, CHAT)
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == "removed"


def test_opt_in_again_makes_only_chats_active_after_the_new_grant_eligible(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    write(runtime, "chats/u1/old.json", "2025-10-01")
    set_consent(runtime, "u1", "denied", t("2025-11-01"), version=2)
    runtime.settle()
    set_consent(runtime, "u1", "granted", t("2025-11-10"), version=3)
    runtime.settle()
    write(runtime, "chats/u1/new.json", "2025-11-11")
    assert tags(runtime, "chats/u1/old.json")["training-reason"] == "before-consent"
    assert eligible(runtime, "chats/u1/new.json")


def test_removed_consent_record_means_pending(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    write(runtime, CHAT, "2025-10-01")
    remove_consent(runtime, "u1")
    runtime.settle()
    assert tags(runtime, CHAT)["training-reason"] == "consent-pending"


def test_consumer_becoming_commercial_is_exempt_with_contract_retention(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    write(runtime, CHAT, "2025-10-01")
    set_consent(
        runtime,
        "u1",
        "granted",
        GRANT,
        tier="enterprise",
        version=2,
        retention_days=90,
        tier_changed_at="2025-12-01T00:00:00Z",
    )
    runtime.settle()
    assert tags(runtime, CHAT)["training-reason"] == "commercial-tier"
    assert tags(runtime, CHAT)["retention-days"] == "90"


def test_commercial_chats_never_become_eligible_after_moving_to_consumer(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, tier="team", version=1)
    write(runtime, CHAT, "2025-10-01")
    set_consent(runtime, "u1", "granted", GRANT, tier="pro", version=2, tier_changed_at="2025-12-01T00:00:00Z")
    runtime.settle()
    write(runtime, "chats/u1/after.json", "2025-12-02")
    assert tags(runtime, CHAT)["training-reason"] == "before-consent"
    assert eligible(runtime, "chats/u1/after.json")


def test_stale_consent_stream_record_does_not_win(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    write(runtime, CHAT, "2025-10-01")
    set_consent(runtime, "u1", "denied", t("2026-01-01"), version=2)
    runtime.settle()
    # The stream delivers the version-1 record again (a replay): the retag reads the current record.
    runtime.sqs.send_message(
        QueueUrl=runtime.env["WORK_QUEUE_URL"], MessageBody=json.dumps({"type": "retag", "user_id": "u1"})
    )
    runtime.settle()
    assert tags(runtime, CHAT)["training-reason"] == "consent-denied"


# -- lifecycle events ------------------------------------------------------------------------


def test_reopened_archived_chat_after_opt_in_is_eligible_and_retention_restarts(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", t("2026-01-01"))
    write(runtime, CHAT, "2025-10-01")
    runtime.chat_event("Chat Archived", {"user_id": "u1", "key": CHAT}, t("2025-10-05"))
    assert tags(runtime, CHAT)["training-reason"] == "before-consent"
    runtime.chat_event("Chat Reopened", {"user_id": "u1", "key": CHAT}, t("2026-02-01T10:00:00"))
    runtime.settle()
    assert eligible(runtime, CHAT)
    assert tags(runtime, CHAT)["expires-on"] == "2031-01-31"
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == "active" and stored.last_activity == t("2026-02-01T10:00:00")


def test_reopened_chat_of_opted_out_user_stays_ineligible(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", t("2025-09-01"))
    write(runtime, CHAT, "2025-10-01")
    runtime.chat_event("Chat Reopened", {"user_id": "u1", "key": CHAT}, t("2026-02-01"))
    assert tags(runtime, CHAT)["training-reason"] == "consent-denied"
    assert tags(runtime, CHAT)["expires-on"] == "2026-03-03"


def test_archiving_is_recorded_and_leaves_tags_unchanged(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    write(runtime, CHAT, "2025-10-01")
    before = tags(runtime, CHAT)
    runtime.chat_event("Chat Archived", {"user_id": "u1", "key": CHAT}, t("2025-10-05"))
    assert tags(runtime, CHAT) == before
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == "archived"


def test_event_whose_user_does_not_own_the_key_changes_nothing(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT)
    write(runtime, CHAT, "2025-10-01")
    before = (tags(runtime, CHAT), record(runtime, "u1", CHAT))
    runtime.chat_event("Chat Deleted", {"user_id": "intruder", "key": CHAT}, t("2025-10-05"))
    runtime.settle()
    assert (tags(runtime, CHAT), record(runtime, "u1", CHAT)) == before
    assert exists(runtime, CHAT)


# -- the sweep -------------------------------------------------------------------------------


def test_sweep_deletes_only_due_chats_every_version(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    runtime.put_chat("chats/u1/old.json", at=t("2025-10-01"))
    runtime.put_chat("chats/u1/old.json", at=t("2025-10-02"))
    runtime.s3.delete_object(Bucket=runtime.bucket, Key="chats/u1/old.json")  # a delete marker too
    runtime.put_chat("chats/u1/old.json", at=t("2025-10-03"))
    runtime.put_chat("chats/u1/new.json", at=t("2025-12-20"))
    runtime.settle()
    assert len(versions(runtime, "chats/u1/old.json")) == 4
    summary = runtime.sweep(t("2026-01-01"))
    runtime.settle()
    assert summary["oldest_due_age_seconds"] == int((t("2026-01-01") - t("2025-11-02")).total_seconds())
    assert versions(runtime, "chats/u1/old.json") == []
    assert exists(runtime, "chats/u1/new.json")


def test_missed_nights_are_caught_up(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    for month in range(1, 7):
        runtime.put_chat(f"chats/u1/m{month}.json", at=t(f"2025-{month:02d}-15"))
    runtime.settle()
    runtime.sweep(t("2025-12-31"))  # the first sweep in months
    runtime.settle()
    assert not any(exists(runtime, f"chats/u1/m{month}.json") for month in range(1, 7))


def test_sweep_now_comes_from_the_event(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "denied", GRANT)
    write(runtime, CHAT, "2025-10-01")
    runtime.sweep(t("2025-10-30T23:59:59"))  # a second before expiry
    runtime.settle()
    assert exists(runtime, CHAT)
    runtime.sweep(t("2025-10-31T00:00:00"))  # due when expires_at <= now
    runtime.settle()
    assert not exists(runtime, CHAT)


def test_moto_server_runtime_delivers_like_lambda() -> None:
    with LocalRuntime.serve("srv") as rt:
        set_consent(rt, "u1", "granted", GRANT)
        rt.put_chat(CHAT, at=t("2025-10-01"))
        rt.settle()
        assert eligible(rt, CHAT)
        assert rt.env["CHAT_BUCKET"].startswith("srv-")
        assert rt.s3.meta.endpoint_url.startswith("http://127.0.0.1:")


def test_provision_is_idempotent(runtime: LocalRuntime) -> None:
    from consentry.provision import provision

    assert provision("test") == runtime.env
    assert Reason.CONSENT_GRANTED.value == "consent-granted"


def test_chat_written_again_after_the_sweep_removed_it_starts_a_new_life(runtime: LocalRuntime) -> None:
    set_consent(runtime, "u1", "granted", GRANT, version=1)
    set_consent(runtime, "u1", "denied", t("2025-09-15"), version=2)
    write(runtime, CHAT, "2025-10-01")
    runtime.sweep(t("2025-11-01"))
    runtime.settle()
    assert not exists(runtime, CHAT)
    set_consent(runtime, "u1", "granted", t("2026-01-01"), version=3)
    runtime.settle()
    write(runtime, CHAT, "2026-02-01")
    stored = record(runtime, "u1", CHAT)
    assert stored is not None and stored.state == "active" and stored.last_activity == t("2026-02-01")
    assert eligible(runtime, CHAT)
