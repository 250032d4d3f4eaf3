"""What each function may do, as IAM statements scoped to the resources it touches.

The S3 actions follow `consentry.aws.chat_store`: HeadObject is s3:GetObject; calls that name a
VersionId need the `...Version...` action; DeleteObjects checks each key's delete action.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from consentry.policy import Policy
from infra.enforcement import chat_object_arns

# tag_on_write, backfill: read an object's facts and tags, write our tags, remove versions.
TAGGER_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectVersion",
)
# chat_events, worker: also legal holds and deletion of whole chats.
ENFORCER_OBJECT_ACTIONS = (
    *TAGGER_OBJECT_ACTIONS,
    "s3:DeleteObject",
    "s3:GetObjectLegalHold",
    "s3:PutObjectLegalHold",
)
CONSENT_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem")
LEDGER_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
)
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)


def chat_object_statements(bucket_arn: str, policy: Policy, actions: tuple[str, ...]) -> list[iam.PolicyStatement]:
    """Object actions on the chat prefixes, and the listings the flows make."""
    return [
        iam.PolicyStatement(actions=list(actions), resources=chat_object_arns(bucket_arn, policy)),
        # Without s3:ListBucket, S3 answers 403 instead of 404 for a key that is gone, and
        # chat_store would take a vanished object for a failure. It reveals keys, not content.
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]),
        iam.PolicyStatement(
            actions=["s3:ListBucketVersions"],
            resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{p.prefix}*" for p in policy.keys]}},
        ),
    ]


def consent_read_statement(table_arn: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(CONSENT_READ_ACTIONS), resources=[table_arn])


def ledger_statement(table_arn: str, index_arns: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(LEDGER_ACTIONS), resources=[table_arn, *index_arns])


def send_statement(queue_arn: str) -> iam.PolicyStatement:
    """SendMessage also covers SendMessageBatch."""
    return iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue_arn])


def stream_read_statement(stream_arn: str) -> iam.PolicyStatement:
    """The stream actions the event source mapping needs, on this stream only (AWS's documented example)."""
    return iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS), resources=[stream_arn])
