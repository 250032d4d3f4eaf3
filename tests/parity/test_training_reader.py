"""The training reader and the training copy role, decided with AWS's rules against the synthesized template.

moto evaluates no bucket policy; here the evaluator (tests/parity/evaluate.py) reads the chat bucket's
policy and both roles' statements as `cdk synth` writes them, intrinsics resolved to ARNs of one account.
A manifest's version is read as the current version (`consentry.training.read`): allowed while its own
tags say eligible, refused otherwise; a versioned read and any listing are refused whatever the tags.
"""

from __future__ import annotations

from typing import Any

import pytest

from consentry.service.policy import load_policy
from parity.calls import Request
from parity.evaluate import Statement, as_list, decide
from parity.iam import role_statements
from parity.template import Template, stack_template

ACCOUNT, REGION = "123456789012", "us-east-1"
ELIGIBLE = f"s3:ExistingObjectTag/{load_policy().tags.eligible}"
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def resolve(template: Template, value: Any) -> Any:
    """CloudFormation intrinsics -> strings: roles and buckets named after their logical ids."""
    if isinstance(value, list):
        return [resolve(template, v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(str(resolve(template, p)) for p in parts)
    if "Ref" in value:
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::URLSuffix": ""}
        return pseudo.get(value["Ref"], str(value["Ref"]).lower())
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        kind = template.resources[logical]["Type"]
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{logical}"
        assert kind == "AWS::S3::Bucket", kind
        return f"arn:aws:s3:::{logical.lower()}"
    return {k: resolve(template, v) for k, v in value.items()}


def _chats(policy: Any) -> bool:
    """The chat bucket's policy: the one with the reader's statements."""
    statements = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    return any(s.get("Sid") == "TrainingReaderDeniedVersions" for s in statements)


class Stack:
    def __init__(self) -> None:
        self.template = Template(stack_template())
        [policy] = [p for p in self.template.of_type("AWS::S3::BucketPolicy").values() if _chats(p)]
        self.bucket_policy: list[Statement] = as_list(
            resolve(self.template, policy["Properties"]["PolicyDocument"])["Statement"]
        )
        self.bucket = f"arn:aws:s3:::{policy['Properties']['Bucket']['Ref'].lower()}"
        self.roles = {
            name: self.template.output(name)["Fn::GetAtt"][0]
            for name in ("TrainingReaderRoleArn", "TrainingCopyRoleArn")
        }
        training = self.template.output("TrainingBucketName")["Ref"]
        self.training = f"arn:aws:s3:::{training.lower()}"

    def arn(self, output: str) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{self.roles[output]}"

    def may(self, output: str, action: str, resource: str, tag: str | None = None, identity: Any = None) -> Any:
        statements = identity or resolve(self.template, role_statements(self.template, self.roles[output]))
        context = (
            {ELIGIBLE: tag} if action.startswith("s3:GetObject") and resource.startswith(self.bucket + "/") else {}
        )
        return decide(Request(action, resource), self.arn(output), statements, self.bucket_policy, context)


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack()


PRINCIPALS = ["TrainingReaderRoleArn", "TrainingCopyRoleArn"]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_a_manifests_version_is_read_while_its_tags_say_eligible_and_refused_once_they_do_not(
    stack: Stack, who: str
) -> None:
    chat = f"{stack.bucket}/chats/ana/c1.json"
    assert stack.may(who, "s3:GetObject", chat, "true").allowed
    refused = stack.may(who, "s3:GetObject", chat, "false")
    assert not refused.allowed and "TrainingReaderDeniedIneligibleObjects" in refused.reason
    assert not stack.may(who, "s3:GetObject", chat, None).allowed  # no tag: not eligible


@pytest.mark.parametrize("who", PRINCIPALS)
def test_a_versioned_read_is_refused_even_when_that_versions_tags_say_eligible(stack: Stack, who: str) -> None:
    chat = f"{stack.bucket}/chats/ana/c1.json"
    for identity in (None, EVERYTHING):  # the stack's role, or a reader whose own policy allows everything
        refused = stack.may(who, "s3:GetObjectVersion", chat, "true", identity)
        assert not refused.allowed and "TrainingReaderDeniedVersions" in refused.reason


@pytest.mark.parametrize("who", PRINCIPALS)
def test_readers_list_nothing_whatever_their_own_policy_says(stack: Stack, who: str) -> None:
    for action in ("s3:ListBucket", "s3:ListBucketVersions"):
        assert not stack.may(who, action, stack.bucket).allowed
        refused = stack.may(who, action, stack.bucket, identity=EVERYTHING)
        assert not refused.allowed and "TrainingReaderListsNothing" in refused.reason
    granted = {
        a
        for s in resolve(stack.template, role_statements(stack.template, stack.roles[who]))
        for a in as_list(s["Action"])
    }
    assert not {a for a in granted if a.startswith("s3:List")}


def test_the_copy_role_reads_manifests_and_writes_only_its_reports(stack: Stack) -> None:
    who = "TrainingCopyRoleArn"
    assert stack.may(who, "s3:GetObject", f"{stack.training}/manifests/ledger-x/manifest.csv").allowed
    assert stack.may(who, "s3:PutObject", f"{stack.training}/reports/job-1/report.csv").allowed
    assert not stack.may(who, "s3:PutObject", f"{stack.bucket}/chats/ana/c1.json").allowed
    assert not stack.may(who, "s3:GetObject", f"{stack.training}/exports/ledger-x/data.json.gz").allowed
    trust = stack.template.properties(stack.roles[who])["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "batchoperations.s3.amazonaws.com"}]
