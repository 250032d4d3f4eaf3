"""Why a role holds an action its function's code never calls, and why a metric has no alarm.

Pure data (no CDK), read by `tests/parity`: every action a role is granted must be called by its
function under test or be listed here with its reason, and nothing listed here may be called
(a stale reason hides a grant). Every metric the package emits must have an alarm
(`infra/monitoring.py`) or a reason in `UNALARMED_METRICS`.
"""

from __future__ import annotations

_LOGS = {
    "logs:CreateLogStream": "the Lambda runtime creates the function's log stream (its own log group only)",
    "logs:PutLogEvents": "the Lambda runtime writes the function's logs (its own log group only)",
}
_LIST_BUCKET = {
    "s3:ListBucket": (
        "no call: without it S3 answers 403 instead of 404 for a key that is gone, and chat_store would take a "
        "vanished object for a failure (reveals keys, not content)"
    ),
}
_TAG_COUNT = {
    "s3:GetObjectTagging": (
        "no call: S3 puts TagCount in GetObject's answer (ChatStore.head) only for a caller allowed to read the "
        "tags; without it a tagged chat reads as untagged and its writer's tags would be overwritten"
    ),
}
# Lambda's poller calls these for an SQS event source (AWS: ReceiveMessage, DeleteMessage,
# GetQueueAttributes); CDK's SqsEventSource grants them with ChangeMessageVisibility and GetQueueUrl.
_SQS_EVENT_SOURCE = {
    "sqs:ReceiveMessage": "the SQS event source mapping (Lambda's poller) receives the batches",
    "sqs:DeleteMessage": "the SQS event source mapping deletes what the function processed",
    "sqs:GetQueueAttributes": "the SQS event source mapping reads the queue's attributes",
    "sqs:ChangeMessageVisibility": "granted by CDK's SqsEventSource (grantConsumeMessages) for the poller",
    "sqs:GetQueueUrl": "granted by CDK's SqsEventSource (grantConsumeMessages) for the poller",
}
# Lambda sends what keeps failing to the on-failure destination; CDK grants SendMessage with these two.
_FAILURE_DESTINATION = {
    "sqs:GetQueueAttributes": "granted by CDK with the on-failure DLQ (grantSendMessages); Lambda sends there",
    "sqs:GetQueueUrl": "granted by CDK with the on-failure DLQ (grantSendMessages); Lambda sends there",
}
_STREAM_EVENT_SOURCE = {
    "dynamodb:DescribeStream": "the stream event source mapping reads the consent stream's shards",
    "dynamodb:GetShardIterator": "the stream event source mapping reads the consent stream",
    "dynamodb:GetRecords": "the stream event source mapping reads the consent stream",
    "dynamodb:ListStreams": "AWS lists it among what a DynamoDB stream event source needs; no resource type: '*'",
}

# Calls on paths the module's flows do not take (tests/reliability/test_exploration.py takes them, under parity).
_LOCK_CHECK = {
    "s3:GetObjectRetention": (
        "a purge refused by an Object Lock asks whether a retention (not only a legal hold) is the reason: "
        "tag_on_write purges a write's leftover of a deleted chat, and a retention may keep it"
    ),
}
_REVIVE = {
    "s3:DeleteObjectVersion": "takes the sweep's delete marker off a chat that a write or backfill took back",
}
UNCALLED_GRANTS: dict[str, dict[str, str]] = {
    "tag_on_write": {**_LOGS, **_LIST_BUCKET, **_TAG_COUNT, **_SQS_EVENT_SOURCE, **_LOCK_CHECK},
    "backfill": {**_LOGS, **_LIST_BUCKET, **_TAG_COUNT, **_LOCK_CHECK, **_REVIVE},
    "chat_events": {**_LOGS, **_LIST_BUCKET, **_TAG_COUNT, **_FAILURE_DESTINATION},
    "worker": {**_LOGS, **_LIST_BUCKET, **_TAG_COUNT, **_SQS_EVENT_SOURCE},
    "consent_changed": {**_LOGS, **_STREAM_EVENT_SOURCE, **_FAILURE_DESTINATION},
    "retention_sweep": {**_LOGS, **_FAILURE_DESTINATION},
}

UNALARMED_METRICS = {
    "ObjectsRemoved": "volume: each chat swept, deleted or erased (on the dashboard, not a failure)",
    "ObjectsGone": "an object deleted before a flow reached it: a normal race, the record says so",
    "IgnoredKeys": "writes outside the chat key patterns: not ours by design (POLICY.md), never a failure",
    "DeadlineStops": (
        "a request not started for lack of time: the record goes back to its queue and is retried; a brownout "
        "that lasts shows in the queues' age alarms and the functions' error alarms"
    ),
    "DeadlineDeferrals": "a record put back for lack of time (see DeadlineStops): retried, not lost",
    "DuplicateWork": "a work page delivered again (SQS is at-least-once): found done, skipped; volume only",
    "SweepsTakenBack": "an event took a chat back from the sweep after its delete marker: the protocol working",
}
