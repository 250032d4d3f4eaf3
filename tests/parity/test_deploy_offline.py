"""The synthesized template deploys into moto's CloudFormation, and the story runs there.

The test finds every resource through the stack's outputs (`describe_stacks`), hands the handlers
the environment the outputs describe, and drives write -> opt-out -> sweep in-process.

Stubbed because moto cannot run them, and nothing else:

- CDK's bootstrap check: the SSM parameter the bootstrap stack would hold is put first;
- asset-based code (the six functions, the layer, CDK's notification handler): a tiny zip is
  uploaded under each asset key, in the assets bucket the template names;
- `Custom::S3BucketNotifications`, CDK's Lambda-backed custom resource: removed, and the
  notification configuration it carries is put on the bucket once the stack exists, as its
  handler would;
- the Lambda event source mappings: removed, since moto would invoke the functions in Docker;
  the local runtime polls the queues and the stream and calls the handlers, as Lambda's pollers do;
- `AWS::SecretsManager::Secret` (moto has no CloudFormation model for it): created through the API
  under the template's name, its `Ref`s replaced by the ARN;
- the chat event bus's `Ref`, which moto answers with an object instead of the bus's name:
  replaced by the name;
- the bucket properties moto's CloudFormation model ignores (it applies BucketEncryption and Tags
  only): versioning, Object Lock, lifecycle rules, public access block and ownership are put
  through the S3 API from the template's own values once the stack exists.

moto skips what it has no model for (bucket, queue, topic and event bus policies, alarms, async
invocation configs): `tests/infrastructure` holds those to the template. IAM is not enforced here:
the integration tests run the handlers under the stack's roles (tests/parity/iam.py).
"""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from consentry.local import LocalRuntime
from consentry.service.deployment import OUTPUTS
from support import exists, set_consent, t, tags

from .shapes import lifecycle_rule_from_cfn
from .template import Json, stack_template

STACK = "Consentry"
BOOTSTRAP_VERSION = "30"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _replace(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in refs:
            return refs[node["Ref"]]
        return {k: _replace(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, refs) for v in node]
    return node


def stubbed(template: Json, account: str, region: str) -> tuple[Json, dict[str, Json]]:
    """The template as moto can deploy it, and the custom resources taken out (by logical id)."""
    body = copy.deepcopy(template)
    resources: dict[str, Json] = body["Resources"]
    parameter = body["Parameters"]["BootstrapVersion"]["Default"]
    boto3.client("ssm").put_parameter(Name=parameter, Value=BOOTSTRAP_VERSION, Type="String")
    s3 = boto3.client("s3")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return None\n")
    for node in _walk(resources):
        if isinstance(node.get("S3Bucket"), dict) and isinstance(node.get("S3Key"), str):
            bucket = node["S3Bucket"]["Fn::Sub"].replace("${AWS::AccountId}", account).replace("${AWS::Region}", region)
            s3.create_bucket(Bucket=bucket)  # idempotent in us-east-1
            s3.put_object(Bucket=bucket, Key=node["S3Key"], Body=archive.getvalue())
    custom = {k: v for k, v in resources.items() if v["Type"] == "Custom::S3BucketNotifications"}
    mappings = [k for k, v in resources.items() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    for logical_id in [*custom, *mappings]:
        del resources[logical_id]
    refs: dict[str, str] = {}
    for logical_id, resource in list(resources.items()):
        if resource["Type"] == "AWS::SecretsManager::Secret":
            # Its template name joins the ledger's physical name, which only the stack will know.
            generated = resource["Properties"]["GenerateSecretString"]
            value = "0" * generated["PasswordLength"]
            name = f"{STACK}-offline/hash-key"
            refs[logical_id] = boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            del resources[logical_id]
        if resource["Type"] == "AWS::Events::EventBus":
            refs[logical_id] = resource["Properties"]["Name"]
    return _replace(body, refs), custom


@pytest.fixture
def stack(aws: None) -> Iterator[dict[str, str]]:
    """The stack deployed into moto's CloudFormation; its outputs by name."""
    account = boto3.client("sts").get_caller_identity()["Account"]
    body, custom = stubbed(stack_template(), account, "us-east-1")
    cfn = boto3.client("cloudformation")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
        cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"])
    described = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        if "LogicalResourceId" in r and "PhysicalResourceId" in r
    }
    s3 = boto3.client("s3")
    for logical_id, resource in body["Resources"].items():
        if resource["Type"] == "AWS::S3::Bucket":
            apply_bucket_properties(s3, physical[logical_id], resource["Properties"])
    # What the custom resource's handler does at deploy time.
    for resource in custom.values():
        properties = resource["Properties"]
        boto3.client("s3").put_bucket_notification_configuration(
            Bucket=_resolved(properties["BucketName"], physical),
            NotificationConfiguration=_resolved(properties["NotificationConfiguration"], physical),
        )
    yield {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def apply_bucket_properties(s3: Any, bucket: str, properties: Json) -> None:
    """What moto's CloudFormation bucket leaves out, from the template's values."""
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"])
    if properties.get("ObjectLockEnabled"):
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    if "LifecycleConfiguration" in properties:
        rules = [lifecycle_rule_from_cfn(r) for r in properties["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=properties["OwnershipControls"])


def _resolved(node: Any, physical: dict[str, str]) -> Any:
    """Ref and Fn::GetAtt ... Arn of the stack's queues and buckets, from their physical ids."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return physical[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            logical, attribute = node["Fn::GetAtt"]
            assert attribute == "Arn"
            url = physical[logical]
            return boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        return {k: _resolved(v, physical) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, physical) for v in node]
    return node


def test_the_stack_deploys_and_its_outputs_are_the_functions_environment(stack: dict[str, str]) -> None:
    env = {variable: stack[output] for variable, output in OUTPUTS.items()}
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=env["CHAT_BUCKET"])["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=env["CHAT_BUCKET"])["ObjectLockConfiguration"]["ObjectLockEnabled"]
    ledger = boto3.client("dynamodb").describe_table(TableName=env["LEDGER_TABLE"])["Table"]
    assert [i["IndexName"] for i in ledger["GlobalSecondaryIndexes"]] == ["due"]


def test_write_opt_out_sweep_on_the_resources_the_stack_made(stack: dict[str, str]) -> None:
    rt = LocalRuntime({variable: stack[output] for variable, output in OUTPUTS.items()})
    chat = "chats/ana/c1.json"
    set_consent(rt, "ana", "granted", t("2025-09-01"), version=1)
    rt.put_chat(chat, at=t("2025-10-01T12:00:00"))
    rt.settle()
    assert tags(rt, chat)["training-eligible"] == "true"

    set_consent(rt, "ana", "denied", t("2025-10-05"), version=2)
    rt.settle()
    assert tags(rt, chat)["training-eligible"] == "false"
    assert tags(rt, chat)["expires-on"] == "2025-10-31"

    rt.put_chat(chat, at=t("2025-10-02T12:00:00"))  # a second version: the sweep removes every one
    rt.settle()
    rt.sweep(t("2025-11-02T03:00:00"))
    rt.settle()
    assert not exists(rt, chat)
    assert rt.delivered.failures == 0
