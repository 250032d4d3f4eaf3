"""Log lines never carry a chat key or a user's listing prefix in plain text, whoever wrote the text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from consentry import observability
from consentry.pseudonyms import Pseudonyms

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
