"""Log lines never carry a chat key or a user's listing prefix in plain text, whoever wrote the text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from consentry.service import observability
from consentry.service.pseudonyms import Pseudonyms

NAMES = Pseudonyms(b"k" * 32)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.logger.registered_formatter)
    inner = logging.getLogger("consentry")
    inner.addHandler(handler)
    observability.logger.setLevel(logging.INFO)  # whatever an earlier test left (restored after each test)
    observability.protect([("chats/", ".json"), ("code-sessions/", ".jsonl")], NAMES)
    yield stream
    inner.removeHandler(handler)


def test_keys_in_messages_extras_and_aws_errors_become_their_hashes(lines: io.StringIO) -> None:
    key = "chats/jo doe+1/trip.json"
    aws = f'User: arn:aws:sts::1:assumed-role/x is not authorized on resource: "arn:aws:s3:::b/{key}"'
    observability.logger.error("failed on chats/jo doe+1/trip.json", extra={"detail": aws, "prefix": "chats/jo doe+1/"})
    observability.logger.error("encoded: chats%2Fjo%20doe%2B1%2Ftrip.json and chats/jo+doe%2B1/trip.json")
    text = lines.getvalue()
    assert "jo doe" not in text and "jo+doe" not in text and "jo%20doe" not in text and "trip.json" not in text
    assert f"<key {NAMES.key(key)}>" in text  # an operator with the hash key can still find the line
    for line in text.splitlines():
        json.loads(line)  # still one JSON object per line


def test_text_with_no_key_is_left_alone(lines: io.StringIO) -> None:
    observability.logger.warning("sweep started", extra={"shards": 16})
    assert json.loads(lines.getvalue())["message"] == "sweep started"


ODD_KEYS = [
    'chats/jo "q"/a.json',
    "chats/jo\\x/a.json",
    "chats/<jo>/a.json",
    "chats/jo\tx/a\nb.json",
    "chats/jo+x/a+b.json",
    "chats/jo%20x/a%2B.json",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_a_key_of_any_shape_is_hashed_as_stored_wherever_it_appears(lines: io.StringIO, key: str) -> None:
    """The hash in a log line is the one `explain` and the audit trail show: the key's own bytes, never decoded."""
    observability.logger.error(f"failed on {key}", extra={"detail": {"error": f"arn:aws:s3:::b/{key}"}, "key": key})
    line = json.loads(lines.getvalue())
    text = lines.getvalue()
    for part in (key, json.dumps(key)[1:-1], key.split("/")[1]):
        assert part not in text
    assert line["key_hash"] == NAMES.key(key)
    assert line["message"] == f"failed on <key {NAMES.key(key)}>"
    assert line["detail"]["error"] == f"arn:aws:s3:::b/<key {NAMES.key(key)}>"


def test_user_ids_and_keys_logged_as_fields_are_written_as_their_hashes(lines: io.StringIO) -> None:
    keys = ["chats/u1/a.json", "code-sessions/u1/b.jsonl"]
    observability.logger.info("retagged", extra={"user_id": "jo doe", "keys": keys})
    line = json.loads(lines.getvalue())
    assert line["user_hash"] == NAMES.user("jo doe") and "user_id" not in line
    assert line["key_hashes"] == [NAMES.key(k) for k in keys] and "keys" not in line


def test_a_bare_user_id_the_invocation_named_is_hidden_but_not_inside_other_words(lines: io.StringIO) -> None:
    observability.forget()
    observability.mention("user", "jo+1 q")
    observability.mention("key", "chats/ann/x.json")  # its user, too
    observability.logger.warning("no consent for jo+1 q; ann asked; annual json report")
    message = json.loads(lines.getvalue())["message"]
    assert message == (
        f"no consent for <user {NAMES.user('jo+1 q')}>; <user {NAMES.user('ann')}> asked; annual json report"
    )
    observability.forget()  # the next invocation looks for its own


def test_a_fully_url_encoded_key_is_decoded_before_it_is_hashed(lines: io.StringIO) -> None:
    key = "chats/jo doe+1/trip.json"
    observability.logger.error("encoded: chats%2Fjo%20doe%2B1%2Ftrip.json")
    assert json.loads(lines.getvalue())["message"] == f"encoded: <key {NAMES.key(key)}>"


def test_without_the_hash_key_a_named_value_is_hidden_not_written(lines: io.StringIO) -> None:
    saved = (observability._scrub, observability._protected)
    observability._scrub, observability._protected = None, None
    try:
        observability.logger.error("failed", extra={"key": "chats/u/a.json", "user_id": "jo"})
    finally:
        observability._scrub, observability._protected = saved
    line = json.loads(lines.getvalue())
    assert (line["key_hash"], line["user_hash"]) == ("<key>", "<user>")
