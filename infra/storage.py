"""The chat-log bucket: created (versioned, Object Lock, private, TLS only, encrypted, logged) or attached.

Also the S3 -> SQS write notifications for the chat prefixes and, in create mode, the lifecycle backstop.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from consentry.policy import Policy
from infra.enforcement import tls_only_statement
from infra.settings import Settings


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
    """Lifecycle rules that catch what the sweep missed, and never delete a chat the policy keeps.

    S3 lifecycle counts days from the creation of the current version; POLICY.md counts retention
    from the chat's *last activity*, and a `Chat Reopened` event restarts retention without
    writing a new version. A rule "retention-days=30 -> expire after 30 days" would therefore
    delete a chat reopened on day 29, and no finite margin fixes that (a chat may be reopened
    again and again). So there is no rule per retention figure: the nightly sweep, driven by the
    ledger's `expires_at`, stays the only path that deletes live chats, and the
    OldestDueAgeSeconds alarm tells when it falls behind. The backstop only removes what is
    already final:

    - versions tagged `training-reason=deleted` (deleted or erased chats, due at once) after
      `deleted_backstop_days`, current and noncurrent;
    - noncurrent versions after `noncurrent_version_days` (default: the policy's shortest
      figure): superseded copies are no chat's current state and the training reader may not
      read them anyway; expired delete markers go with them;
    - incomplete multipart uploads.

    Object Lock legal holds win over lifecycle, so held versions stay. Rules are scoped to the
    chat prefixes: other keys in the bucket are not ours.
    """
    rules: list[s3.LifecycleRule] = []
    for pattern in policy.keys:
        rules.append(
            s3.LifecycleRule(
                id=f"{pattern.kind}-versions",
                prefix=pattern.prefix,
                noncurrent_version_expiration=Duration.days(settings.noncurrent_version_days),
                expired_object_delete_marker=True,
                abort_incomplete_multipart_upload_after=Duration.days(settings.abort_multipart_days),
            )
        )
        rules.append(
            s3.LifecycleRule(
                id=f"{pattern.kind}-deleted",
                prefix=pattern.prefix,
                tag_filters={policy.tags.reason: "deleted"},
                expiration=Duration.days(settings.deleted_backstop_days),
                noncurrent_version_expiration=Duration.days(settings.deleted_backstop_days),
            )
        )
    return rules


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
            self.policy.document.add_statements(tls_only_statement(self.bucket.bucket_arn))
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
        for pattern in policy.keys:
            self.bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(write_queue),
                s3.NotificationKeyFilter(prefix=pattern.prefix, suffix=pattern.suffix),
            )
