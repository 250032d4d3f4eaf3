"""Create the resources consentry runs on, with the default boto3 clients.

The same code sets up the demo, the tests (under `moto.mock_aws` or against a
moto server through `AWS_ENDPOINT_URL`) and a dev account. Idempotent. A
production deployment uses the CDK app in `infra/` instead; both read their
figures from `consentry.service.deployment`, and `tests/parity` holds them together.

Example:
    >>> import os
    >>> os.environ.update(provision("consentry"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from consentry.service.deployment import (
    CONSENT_TABLE,
    HASH_KEY_BYTES,
    LEDGER_TABLE,
    WORK_QUEUE,
    WRITE_QUEUE,
    Principals,
    QueueSpec,
    TableSpec,
    bucket_policy_statements,
    hash_key_secret_name,
    lifecycle_rules,
    notification_configuration,
    tls_only_statement,
)
from consentry.service.policy import Policy, load_policy

MAX_RECEIVES = WRITE_QUEUE.max_receive_count  # tries before a message goes to its dead-letter queue


def names(prefix: str, account: str, region: str) -> dict[str, str]:
    return {
        "bucket": f"{prefix}-chat-logs-{account}-{region}",
        "consent_table": f"{prefix}-{CONSENT_TABLE.name}",
        "ledger_table": f"{prefix}-{LEDGER_TABLE.name}",
        "work_queue": f"{prefix}-{WORK_QUEUE.name}",
        "write_queue": f"{prefix}-{WRITE_QUEUE.name}",
    }


def dead_letter_name(queue: str) -> str:
    return f"{queue}-dlq"


def principal_arn(caller_arn: str) -> str:
    """The `aws:PrincipalArn` of a caller: an assumed-role session is matched by its role's ARN."""
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return caller_arn


def provision(
    prefix: str = "consentry", policy: Policy | None = None, *, principals: Principals | None = None
) -> dict[str, str]:
    """Create (or find) bucket, tables, queues and the hash key; return CONTRACT.md's variables.

    The bucket gets the stack's bucket policy and lifecycle rules. `principals`
    names who may tag, delete and hold chats and who reads them for training;
    by default the caller alone (it runs the handlers locally) and no reader.
    On moto (loaded in this process: `moto.mock_aws` or an in-process server)
    it first applies `consentry.local.correct_moto`, without which moto
    refuses every PutObject into the bucket it provisions.
    """
    if "moto" in sys.modules:
        from consentry.local import correct_moto

        correct_moto()
    policy = policy or load_policy()
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    caller = boto3.client("sts", region_name=region).get_caller_identity()
    account = caller["Account"]
    n = names(prefix, account, region)
    # Untyped: the requests below are built from consentry.service.deployment's plain JSON.
    s3: Any = boto3.client("s3", region_name=region)
    dynamodb: Any = boto3.client("dynamodb", region_name=region)
    sqs: Any = boto3.client("sqs", region_name=region)

    work_url, _ = _queue(sqs, n["work_queue"], WORK_QUEUE)
    write_url, write_arn = _queue(sqs, n["write_queue"], WRITE_QUEUE)
    _bucket(s3, n["bucket"], region)
    bucket_arn = f"arn:aws:s3:::{n['bucket']}"
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
                            "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}},
                        }
                    ],
                }
            )
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=n["bucket"], NotificationConfiguration=notification_configuration(policy, write_arn)
    )
    if principals is None:
        me = principal_arn(caller["Arn"])
        principals = Principals(enforcers=[me], deleters=[me], holders=[me])
    statements = [tls_only_statement(bucket_arn), *bucket_policy_statements(bucket_arn, policy, principals)]
    s3.put_bucket_policy(Bucket=n["bucket"], Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    s3.put_bucket_lifecycle_configuration(
        Bucket=n["bucket"], LifecycleConfiguration={"Rules": [rule.to_s3() for rule in lifecycle_rules(policy)]}
    )
    _table(dynamodb, n["consent_table"], CONSENT_TABLE)
    _table(dynamodb, n["ledger_table"], LEDGER_TABLE)
    secret_arn = _hash_key(boto3.client("secretsmanager", region_name=region), hash_key_secret_name(n["ledger_table"]))
    return {
        "CHAT_BUCKET": n["bucket"],
        "CONSENT_TABLE": n["consent_table"],
        "LEDGER_TABLE": n["ledger_table"],
        "WORK_QUEUE_URL": work_url,
        "WRITE_QUEUE_URL": write_url,
        "HASH_KEY_SECRET": secret_arn,
    }


def _queue(sqs: Any, name: str, spec: QueueSpec) -> tuple[str, str]:
    """The queue and its DLQ as `spec` says; (url, arn)."""
    dlq_url = sqs.create_queue(QueueName=dead_letter_name(name))["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"MessageRetentionPeriod": str(spec.dlq_retention_seconds), "SqsManagedSseEnabled": "true"},
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(spec.retention_seconds),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}),
        },
    )
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _bucket(s3: Any, name: str, region: str) -> None:
    """Versioned, Object Lock (legal holds only, no default retention), private, SSE-S3."""
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
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def _table(dynamodb: Any, name: str, spec: TableSpec) -> None:
    """The table as `spec` says, with its stream, TTL and point-in-time recovery."""
    create: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": spec.key_schema(),
        "AttributeDefinitions": spec.attribute_definitions(),
    }
    if spec.indexes:
        create["GlobalSecondaryIndexes"] = spec.global_secondary_indexes()
    if spec.stream_view:
        create["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view}
    try:
        dynamodb.create_table(**create)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if spec.ttl_attribute:
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        # DynamoDB refuses to enable TTL twice, or while it is being changed.
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
    if spec.point_in_time_recovery:
        _point_in_time_recovery(dynamodb, name, spec)


def _point_in_time_recovery(dynamodb: Any, name: str, spec: TableSpec, tries: int = 30) -> None:
    """Turn PITR on, with the spec's recovery period. A table just created refuses it until its backups are
    available (a few seconds on AWS)."""
    for attempt in range(tries):
        try:
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification=spec.point_in_time_recovery_specification()
            )
            return
        except ClientError as err:
            if err.response["Error"]["Code"] != "ContinuousBackupsUnavailableException" or attempt == tries - 1:
                raise
            time.sleep(2)


def _hash_key(secretsmanager: Any, name: str) -> str:
    """The deployment's hash key: 32 random bytes as hex, made once and never replaced; its ARN."""
    try:
        arn: str = secretsmanager.create_secret(
            Name=name,
            Description="consentry: key of the keyed hashes of user ids and chat keys",
            SecretString=secrets.token_hex(HASH_KEY_BYTES),
        )["ARN"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceExistsException":
            raise
        arn = secretsmanager.describe_secret(SecretId=name)["ARN"]
    return arn
