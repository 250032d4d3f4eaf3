"""Synthesizing the stack offline, and reading the template: resources by type, grants by role."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# CI runs Node 20, which jsii still supports but announces at length on every import.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from parity.template import Template as Reading  # noqa: E402

from infra.app import build  # noqa: E402
from infra.nag import finding_resource  # noqa: E402
from infra.stack import ConsentryStack  # noqa: E402

POLICY_FILE = "shared/consentry/service/policies/consumer-terms-2025.toml"
STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/accounts-consent/stream/2025-01-01T00:00:00.000"
EXTERNAL_READER = "arn:aws:iam::210987654321:role/trainer"
CHAT_APP = "arn:aws:iam::123456789012:role/chat-app"
LEGAL_OPERATORS = ("arn:aws:iam::123456789012:role/legal-ops", "arn:aws:iam::123456789012:role/legal-ops-2")
# Attach mode as an operator would pass it on the command line: every value a string.
ATTACH_CONTEXT = {
    "chatBucketName": "existing-chats",
    "consentTableName": "accounts-consent",
    "consentTableStreamArn": STREAM_ARN,
    "alarmEmail": "privacy-oncall@example.com",
    "trainingReaderRoleArns": EXTERNAL_READER,
    "policyFile": POLICY_FILE,
    "chatAppPrincipalArn": CHAT_APP,
    "legalOperatorRoleArns": ",".join(LEGAL_OPERATORS),
    "reserveConcurrency": "false",
    "oldestDueAlarmHours": "48",
    "sweepHourUtc": "2",
    "logRetentionDays": "14",
}
# Numbers worth a line at the end of the run (synth times, bundle sizes).
SUMMARY: dict[str, str] = {}

Json = dict[str, Any]


def flat(value: Any) -> str:
    """`{"Fn::GetAtt": ["ChatBucketA72FF275", "Arn"]}` -> `<ChatBucketA72FF275.Arn>` (cdk-nag's notation)."""
    return finding_resource(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(repr=False)  # a template in every failure message would bury the assertion
class Synth(Reading):  # resources, of_type, outputs: read as the parity tests read a template
    stack: ConsentryStack
    raw: Json
    template_path: Path
    validation: Json
    seconds: float
    template: Template = field(init=False)

    def __post_init__(self) -> None:
        self.template = Template.from_json(self.raw)

    def ref(self, value: str) -> str:
        """The flat form of a token of this stack, e.g. a role's ARN -> `<RoleABC.Arn>`."""
        return flat(self.stack.resolve(value))

    def logical_id(self, arn_or_ref: str) -> str:
        """The logical id behind a token (`Ref` or `Fn::GetAtt`)."""
        resolved = self.stack.resolve(arn_or_ref)
        if "Ref" in resolved:
            return str(resolved["Ref"])
        return str(resolved["Fn::GetAtt"][0])

    def role_statements(self, role_arn: str) -> list[Json]:
        """Every statement of the IAM policies attached to a role."""
        role = self.logical_id(role_arn)
        statements: list[Json] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role} in policy["Properties"]["Roles"]:
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements

    def grants(self, role_arn: str) -> set[tuple[str, str]]:
        """(action, resource) pairs a role is allowed, resources flattened."""
        return {
            (action, flat(resource))
            for statement in self.role_statements(role_arn)
            if statement["Effect"] == "Allow"
            for action in as_list(statement["Action"])
            for resource in as_list(statement["Resource"])
        }

    def actions(self, role_arn: str) -> set[str]:
        return {action for action, _ in self.grants(role_arn)}

    def warnings(self) -> set[str]:
        """The ids of the synth warnings (`Annotations...add_warning_v2`) the app raised."""
        return {
            violation["ruleName"].removeprefix("Annotation::")
            for report in self.validation["pluginReports"]
            for violation in report["violations"]
            if violation["ruleName"].startswith("Annotation::")
        }

    def chat_bucket_policy(self) -> list[Json]:
        """The statements of the chat bucket's policy (created or attached bucket)."""
        bucket = self.stack.resolve(self.stack.chats.bucket.bucket_name)
        for policy in self.of_type("AWS::S3::BucketPolicy").values():
            if policy["Properties"]["Bucket"] == bucket:
                statements: list[Json] = policy["Properties"]["PolicyDocument"]["Statement"]
                return statements
        raise AssertionError("no bucket policy on the chat bucket")

    def statement(self, sid: str) -> Json:
        matches = [s for s in self.chat_bucket_policy() if s.get("Sid") == sid]
        assert len(matches) == 1, f"expected one statement {sid}, found {len(matches)}"
        return matches[0]


def synthesize(outdir: Path, extra: Mapping[str, object]) -> Synth:
    """The stack as `cdk synth` makes it (cdk.json's context), with bundling skipped and nag findings reported."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["aws:cdk:bundling-stacks"] = []  # no pip in normal runs: one test bundles the layer for real
    context["@aws-cdk/core:failSynthOnValidationErrors"] = False  # the compliance tests read the report instead
    context.update(extra)
    start = time.perf_counter()
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build(app)
    assembly = app.synth()
    seconds = time.perf_counter() - start
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synth(
        stack=stack,
        raw=artifact.template,
        template_path=outdir / artifact.template_file,
        validation=json.loads((outdir / "validation-report.json").read_text()),
        seconds=seconds,
    )
