"""The IAM-parity check fails a test when a role lacks a call, and the local
bucket holds the stack's rules of who may read, tag, delete and lock.

The first tests take a grant away from one function, as the stack once had it, and
show the check reporting it (moto's refusal, AWS's rules, or both). The others ask the evaluator
(AWS's rules, tests/parity/evaluate.py) about principals other than the functions, against the
bucket policy as the local bucket holds it and the tags S3 holds.
"""

from __future__ import annotations

import contextlib
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from consentry.service.deployment import HOLDERS
from consentry.service.policy import load_policy
from parity.calls import Request, requests_of
from parity.evaluate import decide
from parity.iam import USER_PREFIX, Parity, moto_statements
from support import retain_for_a_day, set_consent, t, tags

ADMIN_POLICY = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]


def without(parity: Parity, function: str, action: str) -> None:
    """Take `action` away from `function`'s role, in both checks."""
    statements = []
    for statement in parity.identity[function]:
        kept = [a for a in statement["Action"] if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    parity.identity[function] = statements
    bucket_arn = parity.where.s3(parity.runtime.bucket)
    boto3.client("iam").put_user_policy(
        UserName=f"{USER_PREFIX}{function}",
        PolicyName="stack-role",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": moto_statements(statements, bucket_arn)}),
    )


def test_a_sweep_role_without_query_fails_as_it_would_in_the_account(parity: Parity) -> None:
    """The stack once: retention_sweep queried the `due` index without dynamodb:Query."""
    without(parity, "retention_sweep", "dynamodb:Query")
    with pytest.raises(ClientError, match="AccessDenied"):
        parity.runtime.sweep(t("2026-01-01T03:00:00"))
    problems = parity.problems()
    assert any("moto refused dynamodb:Query" in p for p in problems), problems
    assert any("retention_sweep calls dynamodb:Query" in p and "index/due" in p for p in problems), problems


def test_a_lock_check_without_get_object_retention_is_reported_though_moto_allows_it(parity: Parity) -> None:
    """The stack once: ChatStore.locked() asked for the retention and was refused; the refusal read as
    "not locked". moto names GetObjectRetention s3:GetObject and would let it pass: the evaluator does not."""
    rt = parity.runtime
    without(parity, "chat_events", "s3:GetObjectRetention")
    set_consent(rt, "dan", "granted", t("2025-09-01"))
    rt.put_chat("chats/dan/kept.json", at=t("2025-09-10"))
    rt.settle()
    retain_for_a_day(rt, "chats/dan/kept.json")
    with contextlib.suppress(RuntimeError, ClientError):  # moto does not implement GetObjectRetention (a 500)
        rt.chat_event("Chat Deleted", {"user_id": "dan", "key": "chats/dan/kept.json"}, t("2025-09-18"))
    problems = parity.problems()
    assert problems == [
        "chat_events calls s3:GetObjectRetention, which needs s3:GetObjectRetention on "
        f"arn:aws:s3:::{rt.bucket}/chats/dan/kept.json: no statement allows it"
    ]


# -- the bucket policy, as the local bucket holds it ---------------------------------------------


@pytest.fixture
def chats(parity: Parity) -> Parity:
    rt = parity.runtime
    set_consent(rt, "ana", "granted", t("2025-09-01"))
    set_consent(rt, "ben", "denied", t("2025-09-01"))
    rt.put_chat("chats/ana/c.json", at=t("2025-10-01"))
    rt.put_chat("chats/ben/c.json", at=t("2025-10-01"))
    rt.settle()
    rt.s3.put_object(Bucket=rt.bucket, Key="chats/cid/untagged.json", Body=b"{}")  # not tagged (yet)
    return parity


def reader_may(parity: Parity, action: str, key: str) -> bool:
    """The training reader's request on `key`, with the object's tags as S3 holds them."""
    rt = parity.runtime
    held = tags(rt, key)
    found = {f"s3:ExistingObjectTag/{k}": held.get(k) for k in load_policy().tags.all()}  # None: no such tag
    request = Request(action, parity.where.s3(rt.bucket, key))
    return bool(parity.decide("training_reader", request, found).allowed)


def test_the_training_reader_reads_only_chats_tagged_eligible(chats: Parity) -> None:
    assert tags(chats.runtime, "chats/ana/c.json")["training-eligible"] == "true"
    assert reader_may(chats, "s3:GetObject", "chats/ana/c.json")
    assert not reader_may(chats, "s3:GetObject", "chats/ben/c.json")  # tagged false
    assert not reader_may(chats, "s3:GetObject", "chats/cid/untagged.json")  # no tag: not eligible


def test_the_training_reader_never_reads_a_noncurrent_version(chats: Parity) -> None:
    assert not reader_may(chats, "s3:GetObjectVersion", "chats/ana/c.json")


def admin_may(parity: Parity, request: Request) -> bool:
    """A principal whose own policy allows everything (s3:*): only the bucket policy can stop it."""
    admin = parity.principals["admin"]
    return decide(request, admin, ADMIN_POLICY, parity.bucket_policy).allowed


@pytest.mark.parametrize(
    ("action", "context"),
    [
        ("s3:PutObjectTagging", {}),
        ("s3:DeleteObjectVersion", {}),
        ("s3:PutObjectLegalHold", {}),
        ("s3:PutObjectRetention", {}),
        ("s3:BypassGovernanceRetention", {}),
        ("s3:PutObject", {"s3:RequestObjectTagKeys": ("training-eligible",)}),
    ],
)
def test_no_one_else_tags_deletes_locks_or_writes_our_tags_even_with_s3_star(
    chats: Parity, action: str, context: dict[str, object]
) -> None:
    request = Request(action, chats.where.s3(chats.runtime.bucket, "chats/ana/c.json"), tuple(context.items()))
    assert not admin_may(chats, request)


def test_a_writer_may_still_put_chats_without_our_tags(chats: Parity) -> None:
    request = Request("s3:PutObject", chats.where.s3(chats.runtime.bucket, "chats/ana/new.json"))
    assert admin_may(chats, request)


def test_holders_may_lock_a_chat_and_the_other_functions_may_not(chats: Parity) -> None:
    request = Request("s3:PutObjectLegalHold", chats.where.s3(chats.runtime.bucket, "chats/ana/c.json"))
    holders = {spec.name for spec in HOLDERS}
    for function in ("tag_on_write", "backfill", "chat_events", "worker"):
        # The bucket policy alone: would it let this role lock a chat if its own policy allowed it?
        allowed = decide(request, chats.principals[function], ADMIN_POLICY, chats.bucket_policy).allowed
        assert allowed == (function in holders), function


def test_a_legal_operator_may_hold_and_set_retention(chats: Parity) -> None:
    operator = chats.principals["legal_operator"]
    for action in ("s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"):
        request = Request(action, chats.where.s3(chats.runtime.bucket, "chats/ana/c.json"))
        assert decide(request, operator, ADMIN_POLICY, chats.bucket_policy).allowed, action


def test_no_one_else_changes_the_buckets_object_lock_settings_even_with_s3_star(chats: Parity) -> None:
    # A default compliance retention would lock every new version past any hold's release: the sweep would stall.
    [request] = requests_of(chats.where, "s3", "PutObjectLockConfiguration", {"Bucket": chats.runtime.bucket})
    assert request.action == "s3:PutBucketObjectLockConfiguration"
    assert not admin_may(chats, request)
    assert not decide(request, chats.principals["legal_operator"], ADMIN_POLICY, chats.bucket_policy).allowed


@pytest.mark.parametrize(
    "params",
    [
        {},  # the default tagging directive, COPY: the source's tags (ours too) come along unnamed
        {"TaggingDirective": "COPY"},
        {"TaggingDirective": "REPLACE", "Tagging": "training-eligible=true"},
        {"TaggingDirective": "REPLACE", "Tagging": "project=x"},  # no copy at all lands on a chat key
    ],
)
def test_no_one_else_copies_onto_a_chat_key_even_with_s3_star(chats: Parity, params: dict[str, str]) -> None:
    bucket = chats.runtime.bucket
    copy = {"Bucket": bucket, "Key": "chats/ben/copied.json", "CopySource": f"{bucket}/chats/ana/c.json", **params}
    put, read = requests_of(chats.where, "s3", "CopyObject", copy)
    assert dict(put.context)["s3:x-amz-copy-source"] and read.action == "s3:GetObject"
    assert not admin_may(chats, put)


def test_a_copy_elsewhere_and_a_plain_write_of_a_chat_are_still_allowed(chats: Parity) -> None:
    bucket = chats.runtime.bucket
    copy = {"Bucket": bucket, "Key": "exports/c.json", "CopySource": {"Bucket": bucket, "Key": "chats/ana/c.json"}}
    put, _ = requests_of(chats.where, "s3", "CopyObject", copy)
    assert admin_may(chats, put)
    [plain] = requests_of(chats.where, "s3", "PutObject", {"Bucket": bucket, "Key": "chats/ana/new.json"})
    assert admin_may(chats, plain)
