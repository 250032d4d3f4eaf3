"""The chat-log bucket: created (versioned, Object Lock, private, TLS only, encrypted, logged) or attached.

Also the S3 -> SQS write notifications for the chat prefixes and, in create mode, the lifecycle backstop.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from consentry.service.deployment import OBJECT_CREATED, lifecycle_rules, notification_filters
from consentry.service.policy import Policy
from infra.enforcement import tls_only
from infra.settings import Settings

# S3's event names (as `provision` writes them) -> CDK's enum.
EVENT_TYPES = {OBJECT_CREATED: s3.EventType.OBJECT_CREATED}


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: list[s3.LifecycleRule],
    access_logs: s3.IBucket | None = None,
    logs_prefix: str | None = None,
    versioned: bool = False,
    object_lock: bool = False,
) -> s3.Bucket:
    """A bucket nobody reaches without TLS, IAM and SSE; kept when the stack goes."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
        versioned=versioned,
        object_lock_enabled=object_lock,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=logs_prefix,
        lifecycle_rules=lifecycle_rules,
    )


def lifecycle_backstop(policy: Policy, settings: Settings) -> list[s3.LifecycleRule]:
    """The lifecycle backstop of `consentry.service.deployment.lifecycle_rules` (its docstring says why these rules)."""
    return [
        s3.LifecycleRule(
            id=rule.id,
            prefix=rule.prefix,
            tag_filters=dict([rule.tag]) if rule.tag else None,
            expiration=Duration.days(rule.expiration_days) if rule.expiration_days is not None else None,
            noncurrent_version_expiration=(
                Duration.days(rule.noncurrent_days) if rule.noncurrent_days is not None else None
            ),
            expired_object_delete_marker=rule.expired_object_delete_marker or None,
            abort_incomplete_multipart_upload_after=(
                Duration.days(rule.abort_multipart_days) if rule.abort_multipart_days is not None else None
            ),
        )
        for rule in lifecycle_rules(
            policy, settings.noncurrent_version_days, settings.deleted_backstop_days, settings.abort_multipart_days
        )
    ]


class ChatBucket(Construct):
    """The chat-log bucket and its policy document; notifies `write_queue` of every chat write."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        write_queue: sqs.IQueue,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        policy = settings.policy
        if settings.chat_bucket_name is not None:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Bucket", settings.chat_bucket_name)
            # An imported bucket gets no policy from CDK. This one replaces the bucket's current
            # policy (S3 allows one per bucket): README says to carry existing statements over.
            self.policy = s3.BucketPolicy(self, "Policy", bucket=self.bucket)
            self.policy.document.add_statements(tls_only(self.bucket.bucket_arn))
        else:
            bucket = private_bucket(
                self,
                "Bucket",
                lifecycle_rules=lifecycle_backstop(policy, settings),
                access_logs=access_logs,
                logs_prefix="chat-bucket/",
                versioned=True,
                # Object Lock for legal holds only: a default retention period would stop the sweep.
                object_lock=True,
            )
            assert bucket.policy is not None  # enforce_ssl made it
            self.bucket, self.policy = bucket, bucket.policy
        for prefix, suffix in notification_filters(policy):
            self.bucket.add_event_notification(
                EVENT_TYPES[OBJECT_CREATED],
                s3n.SqsDestination(write_queue),
                s3.NotificationKeyFilter(prefix=prefix, suffix=suffix),
            )
