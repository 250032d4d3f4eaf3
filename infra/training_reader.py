"""The training pipeline's role: it may try to read any chat; the bucket policy lets only eligible ones through."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from consentry.policy import Policy
from infra import nag
from infra.enforcement import chat_object_arns


class TrainingReader(Construct):
    """A role for the training pipeline, assumable by principals of this account that IAM allows to."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket_arn: str, policy: Policy) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            description="Training pipeline: may read chat objects tagged eligible, nothing else",
            assumed_by=iam.AccountRootPrincipal(),
        )
        chats = chat_object_arns(bucket_arn, policy)
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=chats))
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p.prefix}*" for p in policy.keys]}},
            )
        )
        nag.acknowledge_wildcards(
            self.role,
            chats,
            "The training reader may try any chat object; the bucket policy denies every one not tagged eligible.",
        )
