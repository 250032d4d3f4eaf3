"""DynamoDB's wire format, once: the item codec, batched reads and conditional writes.

Every adapter of a table (the ledger, the consent store, the audit trail)
speaks to DynamoDB through these; none of them decodes an attribute value or
reads an error code itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_LIMIT = 100  # keys per BatchGetItem (a DynamoDB limit)
BATCH_GET_ATTEMPTS = 8
CONDITION_FAILED = "ConditionalCheckFailedException"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values as DynamoDB attribute values; a `None` value leaves its attribute out.

    >>> to_item({"pk": "user#1", "n": 2, "gone": None})
    {'pk': {'S': 'user#1'}, 'n': {'N': '2'}}
    """
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as Python values (numbers come back as `Decimal`, string sets as `set`)."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def epoch(moment: datetime) -> int:
    """A moment as whole epoch seconds: what DynamoDB's TTL reads."""
    return int(moment.timestamp())


def conditional(write: Callable[..., Any], **request: Any) -> dict[str, Any] | None:
    """Make a conditional write; its response, or None when its condition failed.

    Any other error is raised. `write` is the client's method
    (`client.put_item`, `client.update_item`, `client.delete_item`).

    Example: `created = conditional(client.put_item, TableName=t, Item=item,
    ConditionExpression="attribute_not_exists(pk)") is not None`.
    """
    try:
        response: dict[str, Any] = write(**request)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return None
        raise
    return response


def batch_get(client: DynamoDBClient, table: str, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every item of `keys` that exists, strongly consistent, in any order.

    One BatchGetItem per `BATCH_GET_LIMIT` keys; keys DynamoDB leaves
    unprocessed (throttling) are asked again with a growing pause, and
    RuntimeError is raised if some are still left after `BATCH_GET_ATTEMPTS`.
    """
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        chunk = [dict(key) for key in keys[start : start + BATCH_GET_LIMIT]]
        request: Mapping[str, Any] = {table: {"Keys": chunk, "ConsistentRead": True}}
        for attempt in range(BATCH_GET_ATTEMPTS):
            if attempt:
                time.sleep(min(0.05 * 2**attempt, 1.0))  # unprocessed keys mean throttling: back off
            response = client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError(f"BatchGetItem left keys unprocessed on {table} after {BATCH_GET_ATTEMPTS} attempts")
    return items
