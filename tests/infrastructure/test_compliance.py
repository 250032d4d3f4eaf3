"""cdk-nag AwsSolutions and cfn-lint on the synthesized templates."""

from __future__ import annotations

import re

from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

from .synthesis import Synth

# Every finding the app acknowledges (infra/nag.py gives each its reason). A new one must be added here.
ACKNOWLEDGED_RULES = {
    "AwsSolutions-L1",
    "AwsSolutions-SQS3",
    "AwsSolutions-SMG4",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
}
# CDK writes DependsOn beside a Ref/GetAtt to the same resource; cfn-lint notes the redundancy (W3005).
CFN_LINT_IGNORED = ["W3005"]


def acknowledged(synth: Synth) -> set[str]:
    return {
        rule["id"]
        for resource in synth.resources.values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }


def test_cdk_nag_reports_no_unacknowledged_finding(each_mode: Synth) -> None:
    violations = [
        (violation["ruleName"], [c["constructPath"] for c in violation["violatingConstructs"]])
        for report in each_mode.validation["pluginReports"]
        for violation in report["violations"]
        if not violation["ruleName"].startswith("Annotation::")  # the app's own warnings (test_operations)
    ]
    assert violations == []


def test_cdk_nag_ran_and_acknowledged_only_known_findings(each_mode: Synth) -> None:
    # The metadata is written by cdk-nag itself, so its presence also proves the pack ran.
    found = acknowledged(each_mode)
    wildcard_findings = {rule for rule in found if rule.startswith("AwsSolutions-IAM5[Resource::")}
    assert found - wildcard_findings == ACKNOWLEDGED_RULES
    # '*' alone only for dynamodb:ListStreams, which takes no resource (tests/infrastructure/test_least_privilege.py).
    wildcard_findings.discard("AwsSolutions-IAM5[Resource::*]")
    # Other wildcards are accepted only as `<bucket>/<prefix>/*`, for these prefixes.
    prefixes = {re.fullmatch(r"AwsSolutions-IAM5\[Resource::[^*]+/([a-z-]+)/\*\]", rule) for rule in wildcard_findings}
    assert None not in prefixes
    assert {m.group(1) for m in prefixes if m} == {"chats", "code-sessions", "manifests", "reports"}


def test_cfn_lint_finds_nothing(each_mode: Synth) -> None:
    matches = lint_file(each_mode.template_path, ManualArgs(ignore_checks=CFN_LINT_IGNORED))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
