"""What each function may do, as IAM statements scoped to the resources it touches.

Each grant is a call the function's code makes (tests/parity records every call under these very
statements, with moto's IAM on, and maps it to the action AWS checks), or a reason in
`infra/reasons.py` (the Lambda platform's needs, CDK's additions, a call about to land).
The S3 rules: HeadObject and a ranged GetObject are s3:GetObject (GetObject's TagCount needs
s3:GetObjectTagging too); a call naming a VersionId needs the `...Version...`
action (the bucket is versioned: every tag and delete call names one); DeleteObjects checks each
key's delete action.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from consentry.service.policy import Policy
from infra.enforcement import chat_object_arns

# Every enforcer: an object's facts and tag count (a ranged GetObject), its tags read and written per
# version; versions deleted (a deletion's purge; a write's leftover of a deleted life; the sweep's marker
# taken off a chat an event took back); legal holds (a hold event; a version written under a hold is held
# too) and the lock check on a refusal.
ENFORCER_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectTagging",  # ChatStore.head: S3 answers GetObject's TagCount only to a caller allowed this
    "s3:GetObjectVersionTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectVersion",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",  # ChatStore.locked: a deletion refused by a retention period, not a legal hold
    "s3:PutObjectLegalHold",
)
TAGGER_OBJECT_ACTIONS = ENFORCER_OBJECT_ACTIONS
# The sweep's first destructive move: a delete marker (DeleteObject without a version id).
MARKER_ACTIONS = ("s3:DeleteObject",)
CONSENT_READ_ACTIONS = ("dynamodb:BatchGetItem",)
# Ledger records: read in batches, written conditionally (taggers); read one by one, updated and queried
# by user (enforcers: deletions, erasures, holds).
TAGGER_LEDGER_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:PutItem")
ENFORCER_LEDGER_ACTIONS = (*TAGGER_LEDGER_ACTIONS, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query")
# What the stream event source mapping reads on the function's behalf (AWS's documented list).
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
# dynamodb:ListStreams takes no resource: scoped to a stream ARN it never matches.
LIST_STREAMS = "dynamodb:ListStreams"


def object_statement(bucket_arn: str, policy: Policy, actions: tuple[str, ...]) -> iam.PolicyStatement:
    """Object actions on the chat prefixes only."""
    return iam.PolicyStatement(actions=list(actions), resources=chat_object_arns(bucket_arn, policy))


def list_bucket_statement(bucket_arn: str) -> iam.PolicyStatement:
    """Without s3:ListBucket, S3 answers 403 instead of 404 for a key that is gone, and chat_store would
    take a vanished object for a failure. It reveals keys, not content (infra/reasons.py)."""
    return iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn])


def list_versions_statement(bucket_arn: str, policy: Policy) -> iam.PolicyStatement:
    """Version listings, under the chat prefixes only (a key's versions, a user's chats)."""
    return iam.PolicyStatement(
        actions=["s3:ListBucketVersions"],
        resources=[bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{p.prefix}*" for p in policy.keys]}},
    )


def consent_read_statement(table_arn: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(CONSENT_READ_ACTIONS), resources=[table_arn])


def ledger_statement(table_arn: str, actions: tuple[str, ...]) -> iam.PolicyStatement:
    """Record actions on the ledger table itself (never on an index: items are written to the table)."""
    return iam.PolicyStatement(actions=list(actions), resources=[table_arn])


def due_index_statement(index_arns: list[str]) -> iam.PolicyStatement:
    """The sweep's reads: due records by shard, from the `due` index only."""
    return iam.PolicyStatement(actions=["dynamodb:Query"], resources=index_arns)


def send_statement(queue_arn: str) -> iam.PolicyStatement:
    """SendMessage also covers SendMessageBatch."""
    return iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue_arn])


def stream_read_statements(stream_arn: str) -> list[iam.PolicyStatement]:
    """The stream actions the event source mapping needs: on this stream, and ListStreams where it applies."""
    return [
        iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS), resources=[stream_arn]),
        iam.PolicyStatement(actions=[LIST_STREAMS], resources=["*"]),
    ]


def hash_key_statement(secret_arn: str) -> iam.PolicyStatement:
    """Read the deployment's hash key (keyed hashes of user ids and keys in logs and metrics)."""
    return iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret_arn])
