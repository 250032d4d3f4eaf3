"""The training side's two principals: the pipeline's reader, and the role S3 Batch Operations copies with.

Both may try to read any chat object's current version; the bucket policy
(`consentry.service.deployment.bucket_policy_statements`, `readers`) lets only those
tagged `training-eligible=true` through, refuses every `GetObjectVersion`
(a noncurrent version's tags may be stale) and every listing. They read by
manifest: a manifest's version is read as the current version, and a reader
keeps the bytes only when S3 answers with that version
(`consentry.training.read`); a copy job reads the current version of each key
(`Fields = Bucket, Key, Ignore, Ignore, Ignore, Ignore`), and `snapshot
verify` after it names the copies whose chat was written since
(`version-changed`).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from consentry.service.deployment import chat_object_arns
from consentry.service.policy import Policy
from consentry.training.retention import COPY_REPORTS, MANIFESTS
from infra import nag

DESTINATION_CONTEXT = "trainingCopyDestinationArn"  # the training team's bucket, e.g. arn:aws:s3:::team-data


class TrainingReader(Construct):
    """The pipeline's role (assumable by principals of this account that IAM allows to) and the copy jobs' role."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket_arn: str, policy: Policy, training_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        chats = chat_object_arns(bucket_arn, policy)
        self.role = iam.Role(
            self,
            "Role",
            description="Training pipeline: may read the current version of chat objects tagged eligible, nothing else",
            assumed_by=iam.AccountRootPrincipal(),
        )
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=chats))
        nag.acknowledge_wildcards(
            self.role,
            chats,
            "The training reader may try any chat object; the bucket policy denies every one not tagged eligible.",
        )

        self.copy_role = iam.Role(
            self,
            "CopyRole",
            description="S3 Batch Operations copies of a training manifest: eligible current chat versions only",
            assumed_by=iam.ServicePrincipal("batchoperations.s3.amazonaws.com"),
        )
        manifests = training_bucket.arn_for_objects(f"{MANIFESTS}*")
        reports = training_bucket.arn_for_objects(f"{COPY_REPORTS}*")
        self.copy_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=chats))
        self.copy_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[manifests])
        )
        self.copy_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[reports]))
        wildcards = [*chats, manifests, reports]
        destination = self.node.try_get_context(DESTINATION_CONTEXT)
        if destination:
            target = f"{destination}/*"
            self.copy_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[target]))
            wildcards.append(target)
        nag.acknowledge_wildcards(
            self.copy_role,
            wildcards,
            "A copy job may try any chat object (the bucket policy denies every one not tagged eligible), reads "
            "the manifests, writes its completion reports and the copies into the training team's bucket.",
        )
