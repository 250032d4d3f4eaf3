"""Issue 4, item 5: each role holds the actions its flows call, on the resources they touch, and no more."""

from __future__ import annotations

import pytest

from consentry.aws.ledger import DUE_INDEX
from consentry.policy import load_policy

from .synthesis import Synth, as_list, flat

POLICY = load_policy()
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
TAGGER_S3 = {
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
}
ENFORCER_S3 = TAGGER_S3 | {"s3:DeleteObject", "s3:GetObjectLegalHold", "s3:PutObjectLegalHold"}
CONSENT_READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem"}
LEDGER = CONSENT_READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}
# What CDK grants a Lambda to deliver failures to an SQS destination.
DLQ_SEND = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
STREAM = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
EXPECTED_ACTIONS = {
    "tag_on_write": LOGS | TAGGER_S3 | LEDGER | {"sqs:SendMessage"} | CONSUME,
    "backfill": LOGS | TAGGER_S3 | LEDGER | {"sqs:SendMessage"},
    "chat_events": LOGS | ENFORCER_S3 | LEDGER | DLQ_SEND,
    "worker": LOGS | ENFORCER_S3 | LEDGER | CONSUME | {"sqs:SendMessage"},
    "consent_changed": LOGS | STREAM | DLQ_SEND,
    "retention_sweep": LOGS | DLQ_SEND,
}


def role_arn(synth: Synth, name: str) -> str:
    return synth.stack.functions[name].role.role_arn


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIONS))
def test_each_function_role_holds_exactly_its_actions(each_mode: Synth, name: str) -> None:
    assert each_mode.actions(role_arn(each_mode, name)) == EXPECTED_ACTIONS[name]


def test_no_iam_policy_grants_a_wildcard_action(each_mode: Synth) -> None:
    for kind in ("AWS::IAM::Policy", "AWS::IAM::Role"):
        for logical_id, resource in each_mode.of_type(kind).items():
            documents = [resource["Properties"].get("PolicyDocument")]
            documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in filter(None, documents):
                for statement in document["Statement"]:
                    wild = [a for a in as_list(statement["Action"]) if "*" in a]
                    assert not wild, f"{logical_id} allows {wild}"


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIONS))
def test_function_roles_name_their_resources(each_mode: Synth, name: str) -> None:
    """The only wildcards are the chat prefixes (keys embed user ids); never a bare `*`."""
    bucket = each_mode.ref(each_mode.stack.chats.bucket.bucket_arn)
    allowed_wildcards = {f"{bucket}/{p.prefix}*" for p in POLICY.keys}
    for _, resource in each_mode.grants(role_arn(each_mode, name)):
        assert resource != "*"
        assert "*" not in resource or resource in allowed_wildcards, resource


@pytest.mark.parametrize("name", ["tag_on_write", "backfill", "chat_events", "worker"])
def test_object_rights_cover_only_the_chat_prefixes(each_mode: Synth, name: str) -> None:
    bucket = each_mode.ref(each_mode.stack.chats.bucket.bucket_arn)
    grants = each_mode.grants(role_arn(each_mode, name))
    object_resources = {r for a, r in grants if a.startswith("s3:") and not a.startswith("s3:ListBucket")}
    assert object_resources == {f"{bucket}/{p.prefix}*" for p in POLICY.keys}
    assert {r for a, r in grants if a.startswith("s3:ListBucket")} == {bucket}


def test_version_listing_is_limited_to_the_chat_prefixes(created: Synth) -> None:
    statements = created.role_statements(role_arn(created, "worker"))
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucketVersions"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{p.prefix}*" for p in POLICY.keys]}}


@pytest.mark.parametrize("name", ["tag_on_write", "backfill", "chat_events", "worker"])
def test_ledger_rights_cover_the_table_and_its_due_index(each_mode: Synth, name: str) -> None:
    table = each_mode.ref(each_mode.stack.ledger.table.table_arn)
    consent = each_mode.ref(each_mode.stack.consent.table.table_arn)
    grants = each_mode.grants(role_arn(each_mode, name))
    assert {r for a, r in grants if a == "dynamodb:Query"} == {table, f"{table}/index/{DUE_INDEX}"}
    assert {r for a, r in grants if a == "dynamodb:PutItem"} == {table, f"{table}/index/{DUE_INDEX}"}
    assert {r for a, r in grants if a == "dynamodb:GetItem"} == {table, f"{table}/index/{DUE_INDEX}", consent}


def test_attached_consent_table_is_read_by_name(attached: Synth) -> None:
    grants = attached.grants(role_arn(attached, "tag_on_write"))
    consent = {r for a, r in grants if a == "dynamodb:BatchGetItem" and "accounts-consent" in r}
    assert consent == {"arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/accounts-consent"}


def test_consent_changed_reads_only_its_stream(each_mode: Synth) -> None:
    grants = each_mode.grants(role_arn(each_mode, "consent_changed"))
    assert {r for a, r in grants if a in STREAM} == {each_mode.ref(each_mode.stack.consent.stream_arn)}


def test_retention_sweep_only_fans_out(each_mode: Synth) -> None:
    grants = each_mode.grants(role_arn(each_mode, "retention_sweep"))
    sends = {r for a, r in grants if a == "sqs:SendMessage"}
    assert sends == {
        each_mode.ref(each_mode.stack.work.queue.queue_arn),
        each_mode.ref(each_mode.stack.events_dlq.queue_arn),
    }
    assert not {a for a, _ in grants if a.startswith(("s3:", "dynamodb:"))}


def test_work_queue_sends_go_to_the_work_queue_only(each_mode: Synth) -> None:
    work = each_mode.ref(each_mode.stack.work.queue.queue_arn)
    for name in ("tag_on_write", "backfill", "worker"):
        assert {r for a, r in each_mode.grants(role_arn(each_mode, name)) if a == "sqs:SendMessage"} == {work}


def test_training_reader_reads_chat_objects_and_nothing_else(each_mode: Synth) -> None:
    grants = each_mode.grants(each_mode.stack.reader.role.role_arn)
    assert {a for a, _ in grants} == {"s3:GetObject", "s3:ListBucket"}
    flat_reader = {flat(r) for _, r in grants}
    assert all("existing-chats" in r or "ChatBucket" in r for r in flat_reader)
