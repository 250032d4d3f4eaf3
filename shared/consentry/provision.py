"""Create the resources consentry runs on, with the default boto3 clients.

The same code sets up the demo, the tests (under `moto.mock_aws` or against a
moto server through `AWS_ENDPOINT_URL`) and a dev account. Idempotent. A
production deployment uses the CDK app in `infra/` instead.

Example:
    >>> import os
    >>> os.environ.update(provision("consentry"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from secrets import token_hex
from typing import Any

import boto3
from botocore.exceptions import ClientError

from consentry.aws.ledger import DUE_INDEX, DUE_SHARD, EXPIRES_AT, PK, SK, TTL
from consentry.policy import Policy, load_policy

MAX_RECEIVES = 5  # tries before a message goes to its dead-letter queue
VISIBILITY_TIMEOUT = 30


def names(prefix: str, account: str, region: str) -> dict[str, str]:
    return {
        "bucket": f"{prefix}-chat-logs-{account}-{region}",
        "consent_table": f"{prefix}-consent",
        "ledger_table": f"{prefix}-ledger",
        "work_queue": f"{prefix}-work",
        "write_queue": f"{prefix}-writes",
    }


def dead_letter_name(queue: str) -> str:
    return f"{queue}-dlq"


def provision(prefix: str = "consentry", policy: Policy | None = None) -> dict[str, str]:
    """Create (or find) bucket, tables and queues; return CONTRACT.md's variables."""
    policy = policy or load_policy()
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    n = names(prefix, account, region)
    s3 = boto3.client("s3", region_name=region)
    dynamodb = boto3.client("dynamodb", region_name=region)
    sqs = boto3.client("sqs", region_name=region)

    work_url = _queue(sqs, n["work_queue"])
    write_url = _queue(sqs, n["write_queue"])
    _bucket(s3, n["bucket"], region)
    write_arn = sqs.get_queue_attributes(QueueUrl=write_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=write_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": write_arn,
                            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{n['bucket']}"}},
                        }
                    ],
                }
            )
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=n["bucket"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"consentry-{pattern.kind}",
                    "QueueArn": write_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": pattern.prefix},
                                {"Name": "suffix", "Value": pattern.suffix},
                            ]
                        }
                    },
                }
                for pattern in policy.keys
            ]
        },
    )
    _table(
        dynamodb,
        TableName=n["consent_table"],
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    _table(
        dynamodb,
        TableName=n["ledger_table"],
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, DUE_SHARD, EXPIRES_AT)
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": DUE_SHARD, "KeyType": "HASH"},
                    {"AttributeName": EXPIRES_AT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    if not _ttl_on(dynamodb, n["ledger_table"]):
        dynamodb.update_time_to_live(
            TableName=n["ledger_table"], TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL}
        )
    secret = _hash_key(boto3.client("secretsmanager", region_name=region), f"{n['ledger_table']}/hash-key")
    return {
        "HASH_KEY_SECRET": secret,
        "CHAT_BUCKET": n["bucket"],
        "CONSENT_TABLE": n["consent_table"],
        "LEDGER_TABLE": n["ledger_table"],
        "WORK_QUEUE_URL": work_url,
        "WRITE_QUEUE_URL": write_url,
    }


def _queue(sqs: Any, name: str) -> str:
    dlq_url = sqs.create_queue(QueueName=dead_letter_name(name), Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
        },
    )
    return url


def _bucket(s3: Any, name: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": True}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as err:
        if err.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    # Object Lock turns versioning on; say so anyway for buckets made before.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _ttl_on(dynamodb: Any, table: str) -> bool:
    status = dynamodb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    return status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")


def _hash_key(secrets: Any, name: str) -> str:
    """The secret holding the key of the ledger's and the logs' keyed hashes: made once, never replaced."""
    try:
        secrets.create_secret(Name=name, SecretString=token_hex(32), Description="consentry: key of keyed hashes")
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceExistsException":
            raise
    return name


def _table(dynamodb: Any, **spec: Any) -> None:
    try:
        dynamodb.create_table(BillingMode="PAY_PER_REQUEST", **spec)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=spec["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
