"""Deployment facts: what the CDK stack (`infra/`) and `consentry.provision` both create, in one place.

Pure data and small builders (no CDK, no boto3): function sizes, queue and
event-source settings, notification filters, table schemas, the bucket policy
(as IAM JSON), lifecycle rules, retention defaults, the hash-key secret. The
stack turns them into CloudFormation, `provision()` into API calls, and
`tests/parity` checks that both worlds hold the same values.

Example:
    >>> from consentry.service.policy import load_policy
    >>> [r.id for r in lifecycle_rules(load_policy())][:2]
    ['chat-versions', 'chat-deleted']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consentry.service.aws import ledger_schema
from consentry.service.policy import Policy

Json = dict[str, Any]

DAY = 86_400

# -- functions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of CONTRACT.md.

    `reserved_concurrency` caps (and reserves) its concurrent executions where a
    runaway would starve the others; SQS consumers are capped on their event
    source instead (see `QueueSpec.max_concurrency` and docs/cost.md).
    """

    name: str
    description: str
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int | None = None


TAG_ON_WRITE = FunctionSpec("tag_on_write", "Tags each chat object S3 announces", 60, 512)
CONSENT_CHANGED = FunctionSpec("consent_changed", "Fans out retags on consent changes", 60, 256)
# A chat app that floods the bus must not take the concurrency the queues' consumers need: throttled
# asynchronous invocations wait in Lambda's own queue (retried up to 6 h), nothing is lost meanwhile.
CHAT_EVENTS = FunctionSpec("chat_events", "Applies chat.app lifecycle events", 120, 512, reserved_concurrency=50)
# One sweep at a time: a second start (a replayed schedule, a manual run) waits instead of fanning out twice.
RETENTION_SWEEP = FunctionSpec("retention_sweep", "Nightly: queues the due shards", 120, 256, reserved_concurrency=1)
WORKER = FunctionSpec("worker", "Retags, sweeps and erases from the work queue", 300, 1024)
# S3 Batch Operations invokes as fast as the account allows: a 1B-object backfill would starve everything else.
BACKFILL = FunctionSpec("backfill", "Tags existing objects for S3 Batch Operations", 300, 512, reserved_concurrency=100)
FUNCTIONS = (TAG_ON_WRITE, CONSENT_CHANGED, CHAT_EVENTS, RETENTION_SWEEP, WORKER, BACKFILL)
# The roles the bucket policy lets tag chats: the functions that apply decisions to objects.
ENFORCERS = (TAG_ON_WRITE, CHAT_EVENTS, WORKER, BACKFILL)
# The enforcers that delete chats (deletions, erasures, the sweep's pages).
DELETERS = (TAG_ON_WRITE, CHAT_EVENTS, WORKER, BACKFILL)
# The enforcers that place and release legal holds (the only ones the bucket policy lets lock a chat).
HOLDERS = (TAG_ON_WRITE, CHAT_EVENTS, WORKER, BACKFILL)

# Logs and access logs keep keyed hashes and keys of requests: no longer than the policy's shortest retention for
# ineligible data (`default_days`, 30 in the bundled policy); CloudWatch takes only some values (infra/settings.py).
LOG_RETENTION_DAYS = 30
POWERTOOLS_SERVICE = "consentry"  # Powertools service name, and the `service` dimension of our metrics
METRICS_NAMESPACE = "consentry"

# -- queues and event sources --------------------------------------------------------------

MAX_RECEIVE_COUNT = 5  # receives before a message moves to its DLQ (POLICY.md invariant 2: never dropped)
QUEUE_RETENTION_SECONDS = 4 * DAY
# The longest SQS keeps a message: time for an operator to look and redrive. Longer than the queue's own
# retention: a moved message keeps its first enqueue time (SQS counts from it).
DLQ_RETENTION_SECONDS = 14 * DAY


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue consumed by one function through an event source mapping, with its dead-letter queue."""

    name: str  # `provision` names it `<prefix>-<name>`, its DLQ `<prefix>-<name>-dlq`
    consumer: FunctionSpec
    batch_size: int
    batching_window_seconds: int
    # Lambda's poller never invokes more than this many at once: unlike reserved concurrency it does not
    # throttle, so no message is returned to the queue (and counted towards the DLQ) for lack of a slot.
    max_concurrency: int
    retention_seconds: int = QUEUE_RETENTION_SECONDS
    max_receive_count: int = MAX_RECEIVE_COUNT
    dlq_retention_seconds: int = DLQ_RETENTION_SECONDS

    @property
    def visibility_timeout_seconds(self) -> int:
        """AWS's rule for SQS event sources: at least 6x the function timeout, plus the batching window."""
        return 6 * self.consumer.timeout_seconds + self.batching_window_seconds


# S3 notifications are small; 100 per invocation with a short wait keeps Lambda calls few at peak
# (docs/cost.md: ~8 concurrent executions at 10M writes a day, 40 at a 5x peak).
WRITE_QUEUE = QueueSpec("writes", TAG_ON_WRITE, batch_size=100, batching_window_seconds=10, max_concurrency=100)
# One message per invocation: a message is a page of work (up to 500 chats), and the 16 hash ranges of a user's
# retag or erasure must run side by side, not one after another in one invocation's batch. 50 workers: the
# sweep's shards and a few large users at once (docs/cost.md, Concurrency caps and Opt-out latency).
WORK_QUEUE = QueueSpec("work", WORKER, batch_size=1, batching_window_seconds=0, max_concurrency=50)
QUEUES = (WRITE_QUEUE, WORK_QUEUE)


@dataclass(frozen=True)
class StreamSource:
    """The consent table's stream -> consent_changed."""

    batch_size: int = 100
    # Stream records retried this often (then halved by bisect) before the DLQ gets their coordinates.
    retry_attempts: int = 10
    bisect_on_error: bool = True
    # From the oldest record kept: nothing written before the mapping existed is skipped.
    starting_position: str = "TRIM_HORIZON"
    retention_hours: int = 24  # DynamoDB Streams keeps a record 24 h: one not processed by then is lost


CONSENT_STREAM = StreamSource()

# -- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: str
    sort_key: str | None
    projection: str  # ALL, KEYS_ONLY


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table, every key attribute a string; on demand."""

    name: str  # `provision` names it `<prefix>-<name>`
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[IndexSpec, ...] = ()
    stream_view: str | None = None
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = True
    # Days a restore can reach back (DynamoDB: 1 to 35); None leaves AWS's default, 35.
    recovery_period_days: int | None = None

    def point_in_time_recovery_specification(self, recovery_period_days: int | None = None) -> Json:
        """`PointInTimeRecoverySpecification` as `UpdateContinuousBackups` takes it (a deployment may override)."""
        spec: Json = {"PointInTimeRecoveryEnabled": self.point_in_time_recovery}
        days = recovery_period_days if recovery_period_days is not None else self.recovery_period_days
        if self.point_in_time_recovery and days is not None:
            spec["RecoveryPeriodInDays"] = recovery_period_days_checked(days)
        return spec

    def key_schema(self) -> list[Json]:
        return _key_schema(self.partition_key, self.sort_key)

    def attribute_definitions(self) -> list[Json]:
        names = [self.partition_key, self.sort_key]
        for index in self.indexes:
            names += [index.partition_key, index.sort_key]
        return [{"AttributeName": n, "AttributeType": "S"} for n in dict.fromkeys(names) if n]

    def global_secondary_indexes(self) -> list[Json]:
        return [
            {
                "IndexName": i.name,
                "KeySchema": _key_schema(i.partition_key, i.sort_key),
                "Projection": {"ProjectionType": i.projection},
            }
            for i in self.indexes
        ]


def _key_schema(partition: str, sort: str | None) -> list[Json]:
    keys = [{"AttributeName": partition, "KeyType": "HASH"}]
    return keys + ([{"AttributeName": sort, "KeyType": "RANGE"}] if sort else [])


# POLICY.md: the consent record's partition key; NEW_AND_OLD_IMAGES because consent_changed compares versions.
CONSENT_TABLE = TableSpec("consent", "user_id", stream_view="NEW_AND_OLD_IMAGES")

# How far back a restore or a snapshot (`ExportTableToPointInTime`) of the ledger can reach. Privacy first: a
# record removed or erased stays restorable this long (docs/privacy.md), against 35 days when none is set. A week
# covers a bad deployment found late; a snapshot must be taken within it (docs/training.md).
LEDGER_RECOVERY_DAYS = 7
RECOVERY_DAYS_MIN, RECOVERY_DAYS_MAX = 1, 35  # what DynamoDB accepts


def recovery_period_days_checked(days: int) -> int:
    if not RECOVERY_DAYS_MIN <= days <= RECOVERY_DAYS_MAX:
        raise ValueError(f"a recovery period runs from {RECOVERY_DAYS_MIN} to {RECOVERY_DAYS_MAX} days, got {days}")
    return days


# Its attribute names, index and shard count: consentry.service.aws.ledger_schema, which the adapter reads too.
LEDGER_TABLE = TableSpec(
    "ledger",
    ledger_schema.PK,
    ledger_schema.SK,
    indexes=(
        IndexSpec(
            ledger_schema.DUE_INDEX, ledger_schema.DUE_SHARD, ledger_schema.EXPIRES_AT, ledger_schema.DUE_PROJECTION
        ),
    ),
    ttl_attribute=ledger_schema.TTL,
    recovery_period_days=LEDGER_RECOVERY_DAYS,
)

# -- the hash key (keyed hashes of user ids and keys in logs and metrics) --------------------

HASH_KEY_BYTES = 32  # stored as hex: 64 characters from 0-9a-f
HASH_KEY_CHARACTERS = "0123456789abcdef"


def hash_key_secret_name(ledger_table: str) -> str:
    """`<ledger table>/hash-key`: one key per deployment, next to the data it protects."""
    return f"{ledger_table}/hash-key"


# -- what a deployment hands the functions, and where the stack says it ------------------------

# CONTRACT.md's variables (and the hash key) -> the stack output that holds each value.
OUTPUTS = {
    "CHAT_BUCKET": "ChatBucketName",
    "CONSENT_TABLE": "ConsentTableName",
    "LEDGER_TABLE": "LedgerTableName",
    "WORK_QUEUE_URL": "WorkQueueUrl",
    "WRITE_QUEUE_URL": "WriteQueueUrl",
    "HASH_KEY_SECRET": "HashKeySecretArn",
}

# What the operator's CLI reads besides (the variable it reads -> the stack output that holds its value).
OPERATOR_OUTPUTS = {
    "CHAT_EVENTS_FUNCTION": "ChatEventsFunctionArn",  # holds and erasures are invoked there, never done by hand
    "CONSENT_STREAM_DLQ_URL": "ConsentStreamDlqUrl",
    "EVENTS_DLQ_URL": "EventsDlqUrl",
    "BACKFILL_FUNCTION_ARN": "BackfillFunctionArn",  # `retag --all`: an S3 Batch Operations job invokes it
    "BATCH_OPERATIONS_ROLE_ARN": "BatchOperationsRoleArn",
    "BATCH_OPERATIONS_BUCKET": "BatchOperationsBucketName",
    "TRAINING_BUCKET": "TrainingBucketName",
}
# The Batch Operations bucket (infra/batch_operations.py): job manifests under one prefix, job reports under
# another. A manifest names every chat object, so everything in the bucket expires after BATCH_OPERATIONS_DAYS.
BATCH_OPERATIONS_MANIFESTS = "manifests/"
BATCH_OPERATIONS_REPORTS = "reports/"
BATCH_OPERATIONS_DAYS = 30

# -- S3: notifications, bucket policy, lifecycle ---------------------------------------------

OBJECT_CREATED = "s3:ObjectCreated:*"


def notification_filters(policy: Policy) -> list[tuple[str, str]]:
    """(prefix, suffix) of every chat key pattern: S3 notifies the write queue of these writes only."""
    return [(p.prefix, p.suffix) for p in policy.keys]


def notification_configuration(policy: Policy, queue_arn: str) -> Json:
    """S3's notification configuration of the chat bucket, as `PutBucketNotificationConfiguration` takes it."""
    return {
        "QueueConfigurations": [
            {
                "Id": f"consentry-{pattern.kind}",
                "QueueArn": queue_arn,
                "Events": [OBJECT_CREATED],
                "Filter": {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}, {"Name": "suffix", "Value": suffix}]}
                },
            }
            for pattern, (prefix, suffix) in zip(policy.keys, notification_filters(policy), strict=True)
        ]
    }


def chat_object_arns(bucket_arn: str, policy: Policy) -> list[str]:
    """ARN patterns of every chat object: one per key prefix of the policy file."""
    return [f"{bucket_arn}/{pattern.prefix}*" for pattern in policy.keys]


TAGGING_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
# Who may lock a chat may keep it from the sweep for ever; who may bypass governance retention may delete it.
LOCK_ACTIONS = ("s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:BypassGovernanceRetention")
# A default retention in compliance mode would lock every new version for its term: no hold release lifts it, and
# the sweep could delete nothing written meanwhile. The bucket's Object Lock settings are the stack's, set once.
BUCKET_LOCK_ACTIONS = ("s3:PutBucketObjectLockConfiguration",)
# CopyObject is an s3:PutObject carrying `x-amz-copy-source`. Its tagging directive defaults to COPY: the copy gets
# the source's tags (ours too) without the request naming a tag key, so `s3:RequestObjectTagKeys` cannot see them,
# and S3 offers no condition key on the directive. So no copy lands on a chat key but the stack's own.
COPY_SOURCE = "s3:x-amz-copy-source"


@dataclass(frozen=True)
class Principals:
    """The principals the bucket policy names, matched on `aws:PrincipalArn` (roles, users)."""

    enforcers: Sequence[str]  # may tag chats
    deleters: Sequence[str]  # may delete chats
    holders: Sequence[str]  # may put legal holds and retention
    readers: Sequence[str] = ()  # the training pipeline and its copy jobs: eligible current versions, no listing
    legal_operators: Sequence[str] = ()  # people who hold and release by hand


def tls_only_statement(bucket_arn: str) -> Json:
    """Deny any request without TLS (what CDK's `enforce_ssl` writes, word for word)."""
    return {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
    }


def bucket_policy_statements(bucket_arn: str, policy: Policy, principals: Principals) -> list[Json]:
    """The bucket policy that makes the tags mean something (TLS aside), as IAM JSON.

    IAM alone cannot stop a principal whose own policy says `s3:*`; these Deny
    statements in the bucket policy can. Principals are matched on
    `aws:PrincipalArn` rather than named in `Principal`, so a role that does not
    exist yet (or is recreated) never breaks the policy. The reader statements
    appear only when readers are named. Tag keys and prefixes come from the policy file.
    """
    eligible_tag = f"s3:ExistingObjectTag/{policy.tags.eligible}"
    chats = chat_object_arns(bucket_arn, policy)
    anyone = {"AWS": "*"}
    statements: list[Json] = []
    if principals.readers:
        reader = {"ArnLike": {"aws:PrincipalArn": list(principals.readers)}}
        statements += [
            # Cross-account readers need an Allow here too; same-account ones get it from their role.
            {
                "Sid": "TrainingReaderGetsEligibleChats",
                "Effect": "Allow",
                "Principal": {"AWS": list(principals.readers)},
                "Action": "s3:GetObject",
                "Resource": chats,
                "Condition": {"StringEquals": {eligible_tag: "true"}},
            },
            # "No tag means not eligible": StringNotEquals also matches when the tag is absent.
            {
                "Sid": "TrainingReaderDeniedIneligibleObjects",
                "Effect": "Deny",
                "Principal": anyone,
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {**reader, "StringNotEquals": {eligible_tag: "true"}},
            },
            # Tags live on each version: an old version may still say true after opt-out retagged the current one.
            # A manifest's version is read as the current version, whose tags the enforcer keeps true to the ledger,
            # and the reader checks the version S3 answers with (consentry.training.read).
            {
                "Sid": "TrainingReaderDeniedVersions",
                "Effect": "Deny",
                "Principal": anyone,
                "Action": "s3:GetObjectVersion",
                "Resource": f"{bucket_arn}/*",
                "Condition": reader,
            },
            # Readers read by manifest: a listing would show every key, opted-out and commercial users' too.
            {
                "Sid": "TrainingReaderListsNothing",
                "Effect": "Deny",
                "Principal": anyone,
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": bucket_arn,
                "Condition": reader,
            },
        ]
    not_enforcer = {"ArnNotLike": {"aws:PrincipalArn": list(principals.enforcers)}}
    not_deleter = {"ArnNotLike": {"aws:PrincipalArn": list(principals.deleters)}}
    not_holder = {"ArnNotLike": {"aws:PrincipalArn": [*principals.holders, *principals.legal_operators]}}
    return [
        *statements,
        # Also refuses PutObject with an x-amz-tagging header, which needs s3:PutObjectTagging.
        {
            "Sid": "OnlyEnforcerTagsChats",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": list(TAGGING_ACTIONS),
            "Resource": chats,
            "Condition": not_enforcer,
        },
        {
            "Sid": "NoWriterSetsPolicyTags",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": list(policy.tags.all())}},
        },
        {
            "Sid": "OnlyEnforcerDeletesChats",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": list(DELETE_ACTIONS),
            "Resource": chats,
            "Condition": not_deleter,
        },
        # A hold keeps a chat from the sweep; retention in governance mode can be bypassed to delete it.
        {
            "Sid": "OnlyHoldersLockChats",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": list(LOCK_ACTIONS),
            "Resource": chats,
            "Condition": not_holder,
        },
        {
            "Sid": "NobodyChangesObjectLockSettings",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": list(BUCKET_LOCK_ACTIONS),
            "Resource": bucket_arn,
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": list(principals.holders)}},
        },
        {
            "Sid": "NoCopyOntoChats",
            "Effect": "Deny",
            "Principal": anyone,
            "Action": "s3:PutObject",
            "Resource": chats,
            "Condition": {"Null": {COPY_SOURCE: "false"}, **not_enforcer},
        },
    ]


NONCURRENT_VERSION_DAYS_MIN = DLQ_RETENTION_SECONDS // DAY + 1
DELETED_BACKSTOP_DAYS = 1
ABORT_MULTIPART_DAYS = 1


@dataclass(frozen=True)
class LifecycleRule:
    """One S3 lifecycle rule, scoped to a chat prefix (other keys in the bucket are not ours)."""

    id: str
    prefix: str
    tag: tuple[str, str] | None = None
    expiration_days: int | None = None
    noncurrent_days: int | None = None
    expired_object_delete_marker: bool = False
    abort_multipart_days: int | None = None

    def to_s3(self) -> Json:
        """The rule as `PutBucketLifecycleConfiguration` takes it."""
        if self.tag is None:
            rule_filter: Json = {"Prefix": self.prefix}
        else:
            rule_filter = {"And": {"Prefix": self.prefix, "Tags": [{"Key": self.tag[0], "Value": self.tag[1]}]}}
        rule: Json = {"ID": self.id, "Status": "Enabled", "Filter": rule_filter}
        if self.expiration_days is not None:
            rule["Expiration"] = {"Days": self.expiration_days}
        elif self.expired_object_delete_marker:
            rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        if self.noncurrent_days is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": self.noncurrent_days}
        if self.abort_multipart_days is not None:
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": self.abort_multipart_days}
        return rule


def lifecycle_rules(
    policy: Policy,
    noncurrent_version_days: int | None = None,
    deleted_backstop_days: int = DELETED_BACKSTOP_DAYS,
    abort_multipart_days: int = ABORT_MULTIPART_DAYS,
) -> list[LifecycleRule]:
    """Lifecycle rules that catch what the sweep missed, and never delete a chat the policy keeps.

    S3 lifecycle counts days from the creation of the current version; POLICY.md
    counts retention from the chat's *last activity*, and a `Chat Reopened`
    event restarts retention without writing a new version. A rule
    "retention-days=30 -> expire after 30 days" would therefore delete a chat
    reopened on day 29, and no finite margin fixes that. So there is no rule per
    retention figure: the nightly sweep, driven by the ledger's `expires_at`,
    stays the only path that deletes live chats. The backstop only removes what
    is already final:

    - versions tagged `training-reason=deleted` (deleted or erased chats, due
      at once) after `deleted_backstop_days`, current and noncurrent;
    - noncurrent versions after `noncurrent_version_days` (default: the
      policy's shortest figure); expired delete markers go with them;
    - incomplete multipart uploads.

    Legal holds: S3 never lets lifecycle expire a version under an Object Lock
    legal hold, and the write flow puts the hold on every new version of a held
    chat. The one window is a hold that failed and waits in a dead-letter
    queue: `noncurrent_version_days` must outlast the DLQ's retention
    (`NONCURRENT_VERSION_DAYS_MIN`), so a version written during a hold is
    still there when the operator redrives its hold.
    """
    noncurrent = policy.default_days if noncurrent_version_days is None else noncurrent_version_days
    if noncurrent < NONCURRENT_VERSION_DAYS_MIN:
        raise ValueError(
            f"noncurrent versions must be kept at least {NONCURRENT_VERSION_DAYS_MIN} days "
            f"(longer than a failed legal hold can wait in a dead-letter queue), got {noncurrent}"
        )
    rules: list[LifecycleRule] = []
    for pattern in policy.keys:
        rules.append(
            LifecycleRule(
                id=f"{pattern.kind}-versions",
                prefix=pattern.prefix,
                noncurrent_days=noncurrent,
                expired_object_delete_marker=True,
                abort_multipart_days=abort_multipart_days,
            )
        )
        rules.append(
            LifecycleRule(
                id=f"{pattern.kind}-deleted",
                prefix=pattern.prefix,
                tag=(policy.tags.reason, "deleted"),
                expiration_days=deleted_backstop_days,
                noncurrent_days=deleted_backstop_days,
            )
        )
    return rules
