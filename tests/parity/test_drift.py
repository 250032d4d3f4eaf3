"""The synthesized stack and `provision()` on moto hold the same settings, resource by resource.

Each resource of the template that `provision()` also makes is paired with its local counterpart
through the stack's outputs (the functions' environment). Every property the template sets is then
either read back from moto (describe/get calls) and compared, or named in `STACK_ONLY` with the
reason the local world goes without it; a new property fails here until it is one or the other.
The expected values come from the two worlds only: the template on one side, moto on the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from consentry.local import STREAM_RETRIES, WORK_BATCH, WRITE_BATCH
from consentry.service import settings
from parity.iam import UNRESOLVED, Parity, deployed

from .shapes import canonical_lifecycle_rule, canonical_statement, lifecycle_rule_from_cfn, notification
from .template import Json

# Template properties the local world does not set, and why.
STACK_ONLY = {
    "Tags": "cost-allocation tags of the stack; local resources are not tagged",
    "DeletionProtectionEnabled": "a local or dev deployment is thrown away with its tables; the stack's are kept",
    "LoggingConfiguration": "server access logs go to the stack's own log bucket, which a local deployment lacks",
}


@pytest.fixture(scope="module")
def world() -> Iterator[Parity]:
    with mock_aws():
        settings.current.cache_clear()
        with deployed("drift", legal_operator=False) as parity:  # as the template: no legal operator named
            yield parity
    settings.current.cache_clear()


def resolved(world: Parity, value: Any) -> Any:
    found = world.resolver.value(value)
    assert UNRESOLVED not in json.dumps(found), f"no local counterpart for {found}"
    return found


def compare(world: Parity, logical_id: str, readers: dict[str, Callable[[Any], tuple[Any, Any]]]) -> list[str]:
    """Each property the template sets on `logical_id`: (template, local) from its reader, or stack-only."""
    mismatches = []
    for name, value in world.template.properties(logical_id).items():
        if name in STACK_ONLY:
            continue
        if name not in readers:
            mismatches.append(f"{logical_id}.{name}: no local reading; read it here or say in STACK_ONLY why not")
            continue
        expected, local = readers[name](resolved(world, value))
        if expected != local:
            mismatches.append(f"{logical_id}.{name}: stack {expected!r}, local {local!r}")
    return mismatches


# -- queues --------------------------------------------------------------------------------------


def queue_pairs(world: Parity) -> list[tuple[str, str]]:
    """(logical id, local URL) of each queue both worlds make: the queues in the outputs and their DLQs."""
    return [
        (logical, local)
        for logical, local in world.resolver.local.items()
        if world.template.resources[logical]["Type"] == "AWS::SQS::Queue"
    ]


def test_queues_have_the_stacks_visibility_retention_redrive_and_encryption(world: Parity) -> None:
    pairs = queue_pairs(world)
    assert len(pairs) == 4, pairs  # the write and work queues and their DLQs
    sqs = boto3.client("sqs")
    mismatches = []
    for logical, url in pairs:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

        def redrive(value: Json, attributes: dict[str, str] = attributes) -> tuple[Any, Any]:
            local = json.loads(attributes.get("RedrivePolicy", "{}"))
            return (
                (value["deadLetterTargetArn"], int(value["maxReceiveCount"])),
                (local.get("deadLetterTargetArn"), int(local.get("maxReceiveCount", 0))),
            )

        readers: dict[str, Callable[[Any], tuple[Any, Any]]] = {
            "VisibilityTimeout": lambda v, a=attributes: (int(v), int(a["VisibilityTimeout"])),
            "MessageRetentionPeriod": lambda v, a=attributes: (int(v), int(a["MessageRetentionPeriod"])),
            "SqsManagedSseEnabled": lambda v, a=attributes: (bool(v), a.get("SqsManagedSseEnabled") == "true"),
            "RedrivePolicy": redrive,
        }
        mismatches += compare(world, logical, readers)
    assert mismatches == []


# -- tables --------------------------------------------------------------------------------------


def _keys(schema: list[Json]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


def test_tables_have_the_stacks_keys_indexes_stream_ttl_and_recovery(world: Parity) -> None:
    dynamodb = boto3.client("dynamodb")
    tables = [
        (logical, name)
        for logical, name in world.resolver.local.items()
        if world.template.resources[logical]["Type"] == "AWS::DynamoDB::Table"
    ]
    assert len(tables) == 2
    mismatches = []
    for logical, name in tables:
        table = dynamodb.describe_table(TableName=name)["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        period = backups["PointInTimeRecoveryDescription"].get("RecoveryPeriodInDays")
        indexes = {
            i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in table.get("GlobalSecondaryIndexes", [])
        }
        readers: dict[str, Callable[[Any], tuple[Any, Any]]] = {
            "KeySchema": lambda v, t=table: (_keys(v), _keys(t["KeySchema"])),
            "AttributeDefinitions": lambda v, t=table: (
                sorted((a["AttributeName"], a["AttributeType"]) for a in v),
                sorted((a["AttributeName"], a["AttributeType"]) for a in t["AttributeDefinitions"]),
            ),
            "BillingMode": lambda v, t=table: (v, t["BillingModeSummary"]["BillingMode"]),
            "GlobalSecondaryIndexes": lambda v, found=indexes: (
                {i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"]) for i in v},
                found,
            ),
            "StreamSpecification": lambda v, t=table: (
                v["StreamViewType"],
                t.get("StreamSpecification", {}).get("StreamViewType"),
            ),
            "TimeToLiveSpecification": lambda v, d=ttl: (
                (v["AttributeName"], v["Enabled"]),
                (d.get("AttributeName"), d.get("TimeToLiveStatus") == "ENABLED"),
            ),
            "PointInTimeRecoverySpecification": lambda v, status=pitr, days=period: (
                (v["PointInTimeRecoveryEnabled"], v.get("RecoveryPeriodInDays", 35)),  # AWS's default: 35
                (status == "ENABLED", days),
            ),
        }
        mismatches += compare(world, logical, readers)
    assert mismatches == []


# -- the chat bucket: settings, lifecycle, policy, notifications -------------------------------


def chat_bucket(world: Parity) -> tuple[str, str]:
    logical = world.template.output_resource("ChatBucketName")
    return logical, world.resolver.local[logical]


def test_chat_bucket_has_the_stacks_versioning_lock_encryption_access_block_and_lifecycle(world: Parity) -> None:
    logical, bucket = chat_bucket(world)
    s3 = boto3.client("s3")
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    readers: dict[str, Callable[[Any], tuple[Any, Any]]] = {
        "VersioningConfiguration": lambda v: (v["Status"], s3.get_bucket_versioning(Bucket=bucket).get("Status")),
        "ObjectLockEnabled": lambda v: (v, lock.get("ObjectLockEnabled") == "Enabled" and "Rule" not in lock),
        "BucketEncryption": lambda v: (
            [r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in v["ServerSideEncryptionConfiguration"]],
            [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in encryption],
        ),
        "PublicAccessBlockConfiguration": lambda v: (
            v,
            s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        ),
        "OwnershipControls": lambda v: (
            v["Rules"],
            s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"],
        ),
        "LifecycleConfiguration": lambda v: (
            sorted(canonical_lifecycle_rule(lifecycle_rule_from_cfn(r)) for r in v["Rules"]),
            sorted(canonical_lifecycle_rule(r) for r in rules),
        ),
    }
    assert compare(world, logical, readers) == []


def test_chat_bucket_holds_the_stacks_bucket_policy_with_local_principals(world: Parity) -> None:
    logical, bucket = chat_bucket(world)
    (policy,) = [
        p["Properties"]
        for p in world.template.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical}
    ]
    stack = resolved(world, policy["PolicyDocument"]["Statement"])
    local = json.loads(boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert sorted(map(canonical_statement, stack)) == sorted(map(canonical_statement, local))
    assert len(local) >= 8  # TLS, the reader's three, tagging, writers' tags, deletion, locks


def test_chat_writes_notify_the_write_queue_with_the_stacks_filters(world: Parity) -> None:
    logical, bucket = chat_bucket(world)
    (custom,) = world.template.of_type("Custom::S3BucketNotifications").values()
    assert custom["Properties"]["BucketName"] == {"Ref": logical}
    stack = resolved(world, custom["Properties"]["NotificationConfiguration"]["QueueConfigurations"])
    local = boto3.client("s3").get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert sorted(map(notification, stack)) == sorted(map(notification, local))


# -- the hash key, the functions' environment, the event sources ---------------------------------


def test_hash_key_secret_has_the_stacks_name_and_a_value_its_generator_could_make(world: Parity) -> None:
    logical = world.template.output_resource("HashKeySecretArn")
    properties = world.template.properties(logical)
    secrets = boto3.client("secretsmanager")
    local = secrets.describe_secret(SecretId=world.resolver.local[logical])
    assert local["Name"] == resolved(world, properties["Name"])
    value = secrets.get_secret_value(SecretId=local["ARN"])["SecretString"]
    generator = properties["GenerateSecretString"]
    assert len(value) == generator["PasswordLength"]
    assert not set(value) & set(generator["ExcludeCharacters"]), "only characters the stack's generator may use"


def test_every_variable_a_function_gets_has_a_local_value(world: Parity) -> None:
    """provision() returns CONTRACT.md's variables; a tuning variable the stack also sets (DUE_SHARDS) is
    unset locally, and the handlers' default must then be the stack's value."""
    local = {**world.runtime.env, "DUE_SHARDS": str(settings.DEFAULT_DUE_SHARDS)}
    for function in world.template.of_type("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        ours = {k: v for k, v in variables.items() if not k.startswith("POWERTOOLS_")}
        assert set(ours) <= local.keys(), function["Properties"]["Description"]
        if "DUE_SHARDS" in ours:
            assert ours["DUE_SHARDS"] == local["DUE_SHARDS"]


def test_the_local_runtime_delivers_batches_and_retries_as_the_event_sources_do(world: Parity) -> None:
    by_source = {}
    for mapping in world.template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        source = properties["EventSourceArn"]
        logical = source["Fn::GetAtt"][0] if isinstance(source, dict) and "Fn::GetAtt" in source else None
        by_source[logical] = properties
    write = by_source[world.template.output_resource("WriteQueueUrl")]
    work = by_source[world.template.output_resource("WorkQueueUrl")]
    stream = by_source[world.template.output_resource("ConsentTableName")]
    assert (write["BatchSize"], work["BatchSize"]) == (WRITE_BATCH, WORK_BATCH)
    assert stream["MaximumRetryAttempts"] + 1 == STREAM_RETRIES
