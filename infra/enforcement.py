"""The bucket policy that makes the tags mean something.

IAM alone cannot stop a principal whose own policy says `s3:*`; these Deny statements in the
bucket policy can. Principals are matched on `aws:PrincipalArn` rather than named in
`Principal`, so a role that does not exist yet (or is recreated) never breaks the policy.
Tag keys and chat prefixes come from the policy file.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam

from consentry.policy import Policy

TAGGING_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


def chat_object_arns(bucket_arn: str, policy: Policy) -> list[str]:
    """ARN patterns of every chat object: one per key prefix of the policy file."""
    return [f"{bucket_arn}/{pattern.prefix}*" for pattern in policy.keys]


def tls_only_statement(bucket_arn: str) -> iam.PolicyStatement:
    """What `enforce_ssl` adds to a bucket CDK creates; an attached bucket needs it written out."""
    return iam.PolicyStatement(
        sid="TlsOnly",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["s3:*"],
        resources=[bucket_arn, f"{bucket_arn}/*"],
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


def enforcement_statements(
    bucket_arn: str,
    policy: Policy,
    *,
    enforcer_arns: Sequence[str],
    reader_arns: Sequence[str],
) -> list[iam.PolicyStatement]:
    """The bucket policy statements of issue 4, item 3."""
    eligible_tag = f"s3:ExistingObjectTag/{policy.tags.eligible}"
    chats = chat_object_arns(bucket_arn, policy)
    not_enforcer = {"ArnNotLike": {"aws:PrincipalArn": list(enforcer_arns)}}
    reader = {"ArnLike": {"aws:PrincipalArn": list(reader_arns)}}
    return [
        # Cross-account readers need an Allow here too; same-account ones get it from their role.
        iam.PolicyStatement(
            sid="TrainingReaderGetsEligibleChats",
            principals=[iam.ArnPrincipal(arn) for arn in reader_arns],
            actions=["s3:GetObject"],
            resources=chats,
            conditions={"StringEquals": {eligible_tag: "true"}},
        ),
        # "No tag means not eligible": StringNotEquals also matches when the tag is absent.
        iam.PolicyStatement(
            sid="TrainingReaderDeniedIneligibleObjects",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:GetObject"],
            resources=[f"{bucket_arn}/*"],
            conditions={**reader, "StringNotEquals": {eligible_tag: "true"}},
        ),
        # Tags live on each version: an old version may still say true after opt-out retagged the current one.
        iam.PolicyStatement(
            sid="TrainingReaderDeniedVersions",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:GetObjectVersion"],
            resources=[f"{bucket_arn}/*"],
            conditions=reader,
        ),
        # Also refuses PutObject with an x-amz-tagging header, which needs s3:PutObjectTagging.
        iam.PolicyStatement(
            sid="OnlyEnforcerTagsChats",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(TAGGING_ACTIONS),
            resources=chats,
            conditions=not_enforcer,
        ),
        iam.PolicyStatement(
            sid="NoWriterSetsPolicyTags",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[f"{bucket_arn}/*"],
            conditions={"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": list(policy.tags.all())}},
        ),
        iam.PolicyStatement(
            sid="OnlyEnforcerDeletesChats",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(DELETE_ACTIONS),
            resources=chats,
            conditions=not_enforcer,
        ),
    ]
