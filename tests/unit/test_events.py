"""Parsing the real AWS event shapes (tests/events) and moto's thinner ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consentry.service.handlers import events
from support import t

SAMPLES = Path(__file__).resolve().parents[1] / "events"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def s3_body(key: str, bucket: str = "b", event_time: str = "2026-01-02T03:04:05.678Z", **extra: Any) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 2, **extra}},
    }
    return json.dumps({"Records": [record]})


def test_real_s3_sqs_sample_parses_with_all_its_fields() -> None:
    record = sample("s3SqsEvent.json")["Records"][0]
    writes = events.s3_writes(record["body"], "xxx", token=record["messageId"])
    assert [(w.key, w.at, w.token) for w in writes] == [
        ("test.pdf", t("2023-04-12T20:43:38.021"), "ca3e7a89-c358-40e5-8aa0-5da01403c267")
    ]


def test_direct_s3_samples_have_the_same_record_shape() -> None:
    for name in ("s3Event.json", "s3EventDecodedKey.json"):
        message = sample(name)
        bucket = message["Records"][0]["s3"]["bucket"]["name"]
        writes = events.s3_writes(json.dumps(message), bucket)
        assert len(writes) == 1 and writes[0].key


def test_moto_shape_without_user_identity_sequencer_or_version() -> None:
    writes = events.s3_writes(s3_body("chats/u1/c1.json"), "b")
    assert writes[0].key == "chats/u1/c1.json"


@pytest.mark.parametrize(
    "encoded,decoded",
    [
        ("chats/user+with+space/c1.json", "chats/user with space/c1.json"),
        ("chats/u%2B1/c%251.json", "chats/u+1/c%1.json"),
        ("chats%2Fu1%2Fc1.json", "chats/u1/c1.json"),  # moto encodes the whole key
        ("chats/%E3%83%A6/%E4%BC%9A.json", "chats/ユ/会.json"),
    ],
)
def test_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    assert events.s3_writes(s3_body(encoded), "b")[0].key == decoded


def test_s3_test_event_gives_nothing() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    assert events.s3_writes(body, "b") == []


def test_other_buckets_and_non_create_events_are_skipped() -> None:
    assert events.s3_writes(s3_body("chats/u1/c1.json", bucket="other"), "b") == []
    body = json.loads(s3_body("chats/u1/c1.json"))
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert events.s3_writes(json.dumps(body), "b") == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        "{}",
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        s3_body("k", event_time="x"),
    ],
)
def test_malformed_notifications_raise_bad_event(body: str) -> None:
    with pytest.raises(events.BadEvent):
        events.s3_writes(body, "b")


def chat_envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    envelope = sample("eventBridgeEvent.json")
    envelope.update({"source": "chat.app", "detail-type": detail_type, "detail": detail})
    return envelope


def test_chat_event_on_the_real_eventbridge_envelope() -> None:
    envelope = chat_envelope("Chat Reopened", {"user_id": "u1", "key": "chats/u1/c1.json"})
    event = events.chat_event(envelope)
    assert event == events.ChatEvent(
        "Chat Reopened", "u1", "chats/u1/c1.json", t("2017-12-22T18:43:48"), envelope["id"]
    )


@pytest.mark.parametrize("key", ["chats/u 1+x/c é.json", "chats/u+1/c%2B1.json", "chats/u1/c+1.json"])
def test_chat_event_keys_are_taken_as_stored_never_decoded(key: str) -> None:
    """POLICY.md: `detail.key` is the object's key exactly as stored; a `+` or `%20` in it is part of the key."""
    assert events.chat_event(chat_envelope("Chat Deleted", {"user_id": "u1", "key": key})).key == key


def test_erasure_and_user_wide_holds_need_no_key() -> None:
    assert events.chat_event(chat_envelope("Erasure Requested", {"user_id": "u1"})).key is None
    assert events.chat_event(chat_envelope("Legal Hold Placed", {"user_id": "u1"})).key is None


@pytest.mark.parametrize(
    "envelope",
    [
        sample("eventBridgeEvent.json"),  # an EC2 event: not ours
        chat_envelope("Chat Exploded", {"user_id": "u1", "key": "chats/u1/c1.json"}),
        chat_envelope("Chat Reopened", {"key": "chats/u1/c1.json"}),
        chat_envelope("Chat Reopened", {"user_id": "u1"}),
        chat_envelope("Chat Deleted", {"user_id": "u1", "key": 42}),
        {**chat_envelope("Chat Deleted", {"user_id": "u1", "key": "chats/u1/c1.json"}), "time": "yesterday"},
    ],
)
def test_bad_chat_events_raise_bad_event(envelope: dict[str, Any]) -> None:
    with pytest.raises(events.BadEvent):
        events.chat_event(envelope)


def test_scheduled_time_is_the_event_time() -> None:
    assert events.scheduled_time({"time": "2027-01-01T02:00:00Z"}) == t("2027-01-01T02:00:00")
    with pytest.raises(events.BadEvent):
        events.scheduled_time({})


def stream_record(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Keys": {"user_id": {"S": "u1"}},
        "SequenceNumber": "1",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    return {"eventID": "1", "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": data}


def test_consent_changes_that_matter_name_the_user() -> None:
    granted = {"user_id": {"S": "u1"}, "tier": {"S": "pro"}, "training_consent": {"S": "granted"}}
    denied = {**granted, "training_consent": {"S": "denied"}}
    team = {**granted, "tier": {"S": "team"}}
    assert events.consent_change(stream_record("INSERT", None, granted)) == "u1"
    assert events.consent_change(stream_record("MODIFY", granted, denied)) == "u1"
    assert events.consent_change(stream_record("MODIFY", granted, team)) == "u1"
    assert events.consent_change(stream_record("REMOVE", granted, None)) == "u1"


def test_consent_changes_the_policy_does_not_read_are_skipped() -> None:
    old = {"user_id": {"S": "u1"}, "tier": {"S": "pro"}, "email": {"S": "a@b"}}
    new = {**old, "email": {"S": "c@d"}}
    assert events.consent_change(stream_record("MODIFY", old, new)) is None


def test_real_dynamodb_stream_sample_without_user_id_is_a_bad_event() -> None:
    with pytest.raises(events.BadEvent):
        events.consent_change(sample("dynamoStreamEvent.json")["Records"][0])
