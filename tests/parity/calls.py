"""The IAM request each API call makes, as AWS evaluates it: action, resource, condition keys.

One entry per operation the handlers may call. An operation missing here fails the test that
made it (`UnmappedCall`): add it with AWS's rule (the Service Authorization Reference) rather
than guess. Examples of the rules that differ from the operation's name:

- HeadObject is s3:GetObject; naming a VersionId makes GetObject, GetObjectTagging and
  PutObjectTagging the `...Version...` actions;
- DeleteObjects is checked key by key: s3:DeleteObject, or s3:DeleteObjectVersion for a version;
- SendMessageBatch is sqs:SendMessage, DeleteMessageBatch sqs:DeleteMessage;
- a Query on an index is authorized on the index's ARN (`table/<t>/index/<i>`);
- DynamoDB Streams' actions are `dynamodb:` actions on the stream's ARN (ListStreams on `*`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consentry.service.deployment import COPY_SOURCE

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """What IAM is asked: may the principal do `action` on `resource`, given `context`."""

    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = field(default=())


class UnmappedCall(LookupError):
    """An operation this map does not know: say what IAM checks for it before testing it."""


@dataclass(frozen=True)
class Where:
    """The account and region of the local deployment, and its known secrets (name -> ARN)."""

    region: str
    account: str
    secrets: Mapping[str, str]

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"

    def table(self, name: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
        return arn if index is None else f"{arn}/index/{index}"

    def queue(self, url_or_name: str) -> str:
        parts = url_or_name.rstrip("/").split("/")
        account = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else self.account
        return f"arn:aws:sqs:{self.region}:{account}:{parts[-1]}"

    def secret(self, secret_id: str) -> str:
        return secret_id if secret_id.startswith("arn:") else self.secrets.get(secret_id, f"unknown-secret:{secret_id}")


def _versioned(plain: str, versioned: str) -> Callable[[Where, Params], list[Request]]:
    def requests(where: Where, p: Params) -> list[Request]:
        action = versioned if p.get("VersionId") else plain
        return [Request(action, where.s3(p["Bucket"], p["Key"]))]

    return requests


def _object(action: str) -> Callable[[Where, Params], list[Request]]:
    return lambda where, p: [Request(action, where.s3(p["Bucket"], p["Key"]))]


def _listing(action: str) -> Callable[[Where, Params], list[Request]]:
    def requests(where: Where, p: Params) -> list[Request]:
        context = (("s3:prefix", str(p["Prefix"])),) if "Prefix" in p else ()
        return [Request(action, where.s3(p["Bucket"]), context)]

    return requests


def _tag_keys(tagging: Any) -> list[str]:
    return [pair.split("=", 1)[0] for pair in str(tagging or "").split("&") if pair]


def _put_object(where: Where, p: Params) -> list[Request]:
    keys = tuple(_tag_keys(p.get("Tagging", "")))
    context = (("s3:RequestObjectTagKeys", keys),) if keys else ()
    return [Request("s3:PutObject", where.s3(p["Bucket"], p["Key"]), context)]


def _copy_object(where: Where, p: Params) -> list[Request]:
    """A copy is a PutObject carrying `x-amz-copy-source` (and a read of the source)."""
    source = p["CopySource"]
    if isinstance(source, Mapping):
        source = f"{source['Bucket']}/{source['Key']}"
    bucket, _, key = str(source).lstrip("/").partition("/")
    keys = tuple(_tag_keys(p.get("Tagging", "")))
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ((COPY_SOURCE, str(source)),)
    if keys:
        context += (("s3:RequestObjectTagKeys", keys),)
    return [
        Request("s3:PutObject", where.s3(p["Bucket"], p["Key"]), context),
        Request("s3:GetObject", where.s3(bucket, key)),
    ]


def _delete_objects(where: Where, p: Params) -> list[Request]:
    return [
        Request("s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject", where.s3(p["Bucket"], o["Key"]))
        for o in p["Delete"]["Objects"]
    ]


def _table(action: str) -> Callable[[Where, Params], list[Request]]:
    return lambda where, p: [Request(action, where.table(p["TableName"], p.get("IndexName")))]


def _batch(action: str) -> Callable[[Where, Params], list[Request]]:
    return lambda where, p: [Request(action, where.table(name)) for name in p["RequestItems"]]


def _transact(where: Where, p: Params) -> list[Request]:
    kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
    return [
        Request(f"dynamodb:{kinds[kind]}", where.table(item[kind]["TableName"]))
        for item in p["TransactItems"]
        for kind in item
    ]


def _stream(action: str) -> Callable[[Where, Params], list[Request]]:
    def requests(where: Where, p: Params) -> list[Request]:
        # A shard iterator carries its stream's ARN; GetRecords names only the iterator.
        arn = p.get("StreamArn") or str(p.get("ShardIterator", "")).split("|")[0]
        return [Request(action, arn if arn.startswith("arn:") else "*")]

    return requests


def _queue(action: str) -> Callable[[Where, Params], list[Request]]:
    return lambda where, p: [Request(action, where.queue(p.get("QueueUrl") or p["QueueName"]))]


CALLS: dict[tuple[str, str], Callable[[Where, Params], list[Request]]] = {
    ("s3", "HeadObject"): _versioned("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "GetObject"): _versioned("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "GetObjectTagging"): _versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    ("s3", "PutObjectTagging"): _versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    ("s3", "DeleteObjectTagging"): _versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    ("s3", "DeleteObject"): _versioned("s3:DeleteObject", "s3:DeleteObjectVersion"),
    ("s3", "GetObjectLegalHold"): _object("s3:GetObjectLegalHold"),
    ("s3", "PutObjectLegalHold"): _object("s3:PutObjectLegalHold"),
    ("s3", "GetObjectRetention"): _object("s3:GetObjectRetention"),
    ("s3", "PutObjectRetention"): _object("s3:PutObjectRetention"),
    ("s3", "PutObject"): _put_object,
    ("s3", "CopyObject"): _copy_object,
    ("s3", "PutObjectLockConfiguration"): lambda where, p: [
        Request("s3:PutBucketObjectLockConfiguration", where.s3(p["Bucket"]))
    ],
    ("s3", "DeleteObjects"): _delete_objects,
    ("s3", "ListObjectVersions"): _listing("s3:ListBucketVersions"),
    ("s3", "ListObjectsV2"): _listing("s3:ListBucket"),
    ("s3", "ListObjects"): _listing("s3:ListBucket"),
    ("dynamodb", "GetItem"): _table("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _table("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _table("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _table("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _table("dynamodb:Query"),
    ("dynamodb", "Scan"): _table("dynamodb:Scan"),
    ("dynamodb", "DescribeTable"): _table("dynamodb:DescribeTable"),
    ("dynamodb", "BatchGetItem"): _batch("dynamodb:BatchGetItem"),
    ("dynamodb", "BatchWriteItem"): _batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "TransactWriteItems"): _transact,
    ("dynamodbstreams", "DescribeStream"): _stream("dynamodb:DescribeStream"),
    ("dynamodbstreams", "GetShardIterator"): _stream("dynamodb:GetShardIterator"),
    ("dynamodbstreams", "GetRecords"): _stream("dynamodb:GetRecords"),
    ("dynamodbstreams", "ListStreams"): lambda where, p: [Request("dynamodb:ListStreams", "*")],
    ("sqs", "SendMessage"): _queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sqs", "GetQueueUrl"): _queue("sqs:GetQueueUrl"),
    ("secretsmanager", "GetSecretValue"): lambda where, p: [
        Request("secretsmanager:GetSecretValue", where.secret(p["SecretId"]))
    ],
}


def requests_of(where: Where, service: str, operation: str, params: Params) -> list[Request]:
    """The IAM requests of one API call (several for DeleteObjects and batch calls)."""
    try:
        requests = CALLS[service, operation]
    except KeyError:
        raise UnmappedCall(f"{service}:{operation} is not in tests/parity/calls.py") from None
    return requests(where, params)
