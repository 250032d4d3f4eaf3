"""DynamoDB's wire format in one module: the codec, batched reads, the one conditional-write check."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consentry.service.aws import dynamo
from consentry.service.aws.dynamo import BATCH_GET_LIMIT, batch_get, conditional, epoch, from_item, to_item


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutItem")


def test_the_codec_round_trips_every_type_the_ledger_stores() -> None:
    values: dict[str, Any] = {
        "pk": "user#ab",
        "revision": 3,
        "days": Decimal("1825"),
        "fraction": Decimal("0.5"),
        "eligible": True,
        "held": False,
        "held_keys": {"a", "b"},
        "numbers": {1, 2},
        "history": ["write@2025-09-01T00:00:00Z"],
        "pages": {"p1": {"removed": 2}},
        "blob": b"\x00\x01",
    }
    assert from_item(to_item(values)) == values


def test_a_none_value_leaves_its_attribute_out() -> None:
    assert to_item({"pk": "user#ab", "deleted_at": None}) == {"pk": {"S": "user#ab"}}


def test_booleans_stay_booleans_and_numbers_come_back_as_decimals() -> None:
    item = to_item({"eligible": True, "revision": 7})
    assert item == {"eligible": {"BOOL": True}, "revision": {"N": "7"}}
    back = from_item(item)
    assert back["eligible"] is True
    assert isinstance(back["revision"], Decimal)


def test_epoch_is_whole_seconds() -> None:
    assert epoch(datetime(2025, 8, 28, 0, 0, 0, 900_000, tzinfo=UTC)) == 1756339200


def test_a_conditional_write_that_succeeds_returns_its_response() -> None:
    response = {"Attributes": {"pk": {"S": "x"}}}
    assert conditional(lambda **request: response, TableName="t") is response


def test_a_failed_condition_is_none() -> None:
    def write(**request: Any) -> dict[str, Any]:
        raise _error("ConditionalCheckFailedException")

    assert conditional(write, TableName="t") is None


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ValidationException", "TransactionCanceledException"]
)
def test_any_other_error_of_a_conditional_write_is_raised(code: str) -> None:
    def write(**request: Any) -> dict[str, Any]:
        raise _error(code)

    with pytest.raises(ClientError) as raised:
        conditional(write, TableName="t")
    assert raised.value.response["Error"]["Code"] == code


class FakeClient:
    """BatchGetItem that leaves the last key of every request unprocessed, `leave` times in all."""

    def __init__(self, leave: int) -> None:
        self.leave = leave
        self.calls: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems["t"]["Keys"]
        self.calls.append(len(keys))
        served, unprocessed = keys, []
        if self.leave:
            self.leave -= 1
            served, unprocessed = keys[:-1], keys[-1:]
        response: dict[str, Any] = {"Responses": {"t": [dict(key, found={"BOOL": True}) for key in served]}}
        if unprocessed:
            response["UnprocessedKeys"] = {"t": {"Keys": unprocessed, "ConsistentRead": True}}
        return response


def _keys(n: int) -> list[dict[str, Any]]:
    return [to_item({"pk": f"user#{i}"}) for i in range(n)]


def test_batch_get_asks_at_most_the_limit_at_once_and_again_for_unprocessed_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dynamo.time, "sleep", lambda seconds: None)
    client = FakeClient(leave=2)
    items = batch_get(client, "t", _keys(BATCH_GET_LIMIT + 1))  # type: ignore[arg-type]
    assert sorted(from_item(i)["pk"] for i in items) == sorted(f"user#{i}" for i in range(BATCH_GET_LIMIT + 1))
    assert client.calls == [BATCH_GET_LIMIT, 1, 1, 1]  # the chunk's left key asked again, then the next chunk's


def test_batch_get_gives_up_loudly_when_keys_stay_unprocessed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo.time, "sleep", lambda seconds: None)
    with pytest.raises(RuntimeError, match="unprocessed"):
        batch_get(FakeClient(leave=1000), "t", _keys(3))  # type: ignore[arg-type]


def test_batch_get_of_no_keys_asks_nothing() -> None:
    client = FakeClient(leave=0)
    assert batch_get(client, "t", []) == []  # type: ignore[arg-type]
    assert client.calls == []
