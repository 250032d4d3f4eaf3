"""cdk-nag (AwsSolutions) findings this app accepts, each acknowledged with its reason.

cdk-nag v3 reports through CDK's policy validation (`Validations`), and a finding that names a
resource must be acknowledged by its exact id, e.g. `AwsSolutions-IAM5[Resource::<Bucket.Arn>/chats/*]`.
`finding_resource` renders a resource the way cdk-nag does, so ids follow logical ids and modes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept `AwsSolutions-<rule>` on `construct` and everything under it."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def acknowledge_wildcards(construct: IConstruct, resources: Iterable[str], reason: str) -> None:
    """Accept AwsSolutions-IAM5 for exactly these wildcard resource ARNs, nothing broader."""
    stack = Stack.of(construct)
    for resource in resources:
        acknowledge(construct, f"IAM5[Resource::{finding_resource(stack.resolve(resource))}]", reason)


def finding_resource(value: Any) -> str:
    """A resolved CloudFormation value flattened as cdk-nag names it in a finding id."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return str(delimiter).join(finding_resource(item) for item in items)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{finding_resource(resource)}.{finding_resource(attribute)}>"
    if isinstance(value, dict) and "Ref" in value:
        return f"<{finding_resource(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


# CDK's singleton that applies S3 notification configurations (s3.IBucket.add_event_notification).
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def acknowledge_notifications_handler(stack: Stack) -> None:
    """CDK's own Lambda that puts the bucket's notification configuration at deploy time."""
    handler = stack.node.try_find_child(NOTIFICATIONS_HANDLER)
    if handler is not None:
        acknowledge(
            handler,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "aws-cdk-lib gives its BucketNotificationsHandler AWSLambdaBasicExecutionRole for its own logs; "
            "it runs only during deployments and its other rights are scoped by CDK.",
        )
