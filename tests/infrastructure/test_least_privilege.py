"""Where each role's grants point, in both modes: named resources, the chat prefixes, the right table parts.

Which actions a role holds is not listed here: tests/parity/test_least_privilege.py derives it from
the calls the code makes (and infra/reasons.py's reasons). These tests hold the shape of the grants
that the template alone can show, resources and conditions, which moto's IAM check leaves out.
"""

from __future__ import annotations

import pytest

from consentry.service.aws.ledger_schema import DUE_INDEX
from consentry.service.deployment import FUNCTIONS
from consentry.service.policy import load_policy

from .synthesis import Synth, as_list, flat

POLICY = load_policy()
NAMES = [spec.name for spec in FUNCTIONS]
OBJECT_HANDLERS = ["tag_on_write", "backfill", "chat_events", "worker"]
# AWS defines these actions without a resource type (Service Authorization Reference): '*' or nothing.
WITHOUT_RESOURCE_TYPE = {"dynamodb:ListStreams"}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}


def role_arn(synth: Synth, name: str) -> str:
    return synth.stack.functions[name].role.role_arn


def test_no_iam_policy_grants_a_wildcard_action(each_mode: Synth) -> None:
    for kind in ("AWS::IAM::Policy", "AWS::IAM::Role"):
        for logical_id, resource in each_mode.of_type(kind).items():
            documents = [resource["Properties"].get("PolicyDocument")]
            documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in filter(None, documents):
                for statement in document["Statement"]:
                    wild = [a for a in as_list(statement["Action"]) if "*" in a]
                    assert not wild, f"{logical_id} allows {wild}"


@pytest.mark.parametrize("name", NAMES)
def test_function_roles_name_their_resources(each_mode: Synth, name: str) -> None:
    """The only wildcards are the chat prefixes (keys embed user ids), and '*' only where AWS takes nothing else."""
    bucket = each_mode.ref(each_mode.stack.chats.bucket.bucket_arn)
    allowed_wildcards = {f"{bucket}/{p.prefix}*" for p in POLICY.keys}
    for action, resource in each_mode.grants(role_arn(each_mode, name)):
        if resource == "*":
            assert action in WITHOUT_RESOURCE_TYPE, action
        else:
            assert "*" not in resource or resource in allowed_wildcards, resource


@pytest.mark.parametrize("name", OBJECT_HANDLERS)
def test_object_rights_cover_only_the_chat_prefixes(each_mode: Synth, name: str) -> None:
    bucket = each_mode.ref(each_mode.stack.chats.bucket.bucket_arn)
    grants = each_mode.grants(role_arn(each_mode, name))
    object_resources = {r for a, r in grants if a.startswith("s3:") and not a.startswith("s3:ListBucket")}
    assert object_resources == {f"{bucket}/{p.prefix}*" for p in POLICY.keys}
    assert {r for a, r in grants if a.startswith("s3:ListBucket")} == {bucket}


@pytest.mark.parametrize("name", OBJECT_HANDLERS)
def test_version_listing_is_limited_to_the_chat_prefixes(each_mode: Synth, name: str) -> None:
    statements = each_mode.role_statements(role_arn(each_mode, name))
    for listing in [s for s in statements if "s3:ListBucketVersions" in as_list(s["Action"])]:
        assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{p.prefix}*" for p in POLICY.keys]}}


@pytest.mark.parametrize("name", NAMES)
def test_ledger_records_are_written_to_the_table_and_only_queried_in_the_index(each_mode: Synth, name: str) -> None:
    table = each_mode.ref(each_mode.stack.ledger.table.table_arn)
    index = f"{table}/index/{DUE_INDEX}"
    for action, resource in each_mode.grants(role_arn(each_mode, name)):
        if resource == index:
            assert action == "dynamodb:Query", action
        elif action.startswith("dynamodb:") and resource.startswith(table):
            assert resource == table, resource


@pytest.mark.parametrize("name", NAMES)
def test_the_consent_table_is_only_read(each_mode: Synth, name: str) -> None:
    consent = each_mode.ref(each_mode.stack.consent.table.table_arn)
    assert {a for a, r in each_mode.grants(role_arn(each_mode, name)) if r == consent} <= READ_ACTIONS


def test_attached_consent_table_is_read_by_name(attached: Synth) -> None:
    grants = attached.grants(role_arn(attached, "tag_on_write"))
    consent = {r for a, r in grants if a == "dynamodb:BatchGetItem" and "accounts-consent" in r}
    assert consent == {"arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/accounts-consent"}


def test_only_consent_changed_touches_the_stream_and_only_its_own(each_mode: Synth) -> None:
    stream = each_mode.ref(each_mode.stack.consent.stream_arn)
    for name in NAMES:
        reads = {
            r
            for a, r in each_mode.grants(role_arn(each_mode, name))
            if a.startswith("dynamodb:") and "stream" in r.lower()
        }
        assert reads == ({stream} if name == "consent_changed" else set()), name


def test_retention_sweep_touches_no_object_and_only_the_due_index(each_mode: Synth) -> None:
    table = each_mode.ref(each_mode.stack.ledger.table.table_arn)
    grants = each_mode.grants(role_arn(each_mode, "retention_sweep"))
    assert not {a for a, _ in grants if a.startswith("s3:")}
    assert {r for a, r in grants if a.startswith("dynamodb:")} == {f"{table}/index/{DUE_INDEX}"}


def test_messages_go_to_the_work_queue_or_a_failure_destination_only(each_mode: Synth) -> None:
    stack = each_mode.stack
    allowed = {each_mode.ref(q.queue_arn) for q in (stack.work.queue, stack.consent_dlq, stack.events_dlq)}
    for name in NAMES:
        sends = {r for a, r in each_mode.grants(role_arn(each_mode, name)) if a == "sqs:SendMessage"}
        assert sends <= allowed, name


def test_every_function_reads_the_hash_key_and_no_other_secret(each_mode: Synth) -> None:
    secret = each_mode.ref(each_mode.stack.hash_key.secret_arn)
    for name in NAMES:
        grants = each_mode.grants(role_arn(each_mode, name))
        assert {(a, r) for a, r in grants if a.startswith("secretsmanager:")} == {
            ("secretsmanager:GetSecretValue", secret)
        }, name


def test_training_reader_reads_chat_objects_and_nothing_else(each_mode: Synth) -> None:
    grants = each_mode.grants(each_mode.stack.reader.role.role_arn)
    assert {a for a, _ in grants} == {"s3:GetObject"}  # by manifest: no listing
    flat_reader = {flat(r) for _, r in grants}
    assert all("existing-chats" in r or "ChatBucket" in r for r in flat_reader)


def test_the_training_copy_role_reads_chats_and_manifests_and_writes_its_reports(each_mode: Synth) -> None:
    grants = each_mode.grants(each_mode.stack.reader.copy_role.role_arn)
    assert {a for a, _ in grants} == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}
    for action, resource in grants:
        where = flat(resource)
        if action == "s3:GetObjectVersion":
            assert "manifests/*" in where  # a chat version by its id: never
        elif action == "s3:PutObject":
            assert "reports/*" in where and "Training" in where
