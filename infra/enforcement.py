"""The bucket policy that makes the tags mean something, as `consentry.service.deployment` writes it.

The statements are IAM JSON built from the policy file and principal ARNs (here CDK tokens), so
`consentry.provision` puts the very same policy on a local bucket.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from consentry.service.deployment import (
    DELETE_ACTIONS,
    LOCK_ACTIONS,
    TAGGING_ACTIONS,
    Principals,
    bucket_policy_statements,
    chat_object_arns,
    tls_only_statement,
)
from consentry.service.policy import Policy

__all__ = [
    "DELETE_ACTIONS",
    "LOCK_ACTIONS",
    "TAGGING_ACTIONS",
    "chat_object_arns",
    "enforcement_statements",
    "tls_only",
]


def tls_only(bucket_arn: str) -> iam.PolicyStatement:
    """What `enforce_ssl` adds to a bucket CDK creates; an attached bucket needs it written out."""
    return iam.PolicyStatement.from_json(tls_only_statement(bucket_arn))


def enforcement_statements(bucket_arn: str, policy: Policy, principals: Principals) -> list[iam.PolicyStatement]:
    """The bucket policy statements: readers, tagging, deletion and locks (consentry.service.deployment)."""
    return [iam.PolicyStatement.from_json(s) for s in bucket_policy_statements(bucket_arn, policy, principals)]
