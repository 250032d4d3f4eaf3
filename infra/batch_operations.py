"""S3 Batch Operations for backfill at any scale: a bucket for manifests and reports, and the job's role."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from consentry.service.deployment import BATCH_OPERATIONS_DAYS
from consentry.service.deployment import BATCH_OPERATIONS_MANIFESTS as MANIFESTS
from consentry.service.deployment import BATCH_OPERATIONS_REPORTS as REPORTS
from infra import nag
from infra.storage import private_bucket


class BatchOperations(Construct):
    """What `consentry backfill` needs to start a job: manifests under `manifests/`, reports under `reports/`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, backfill: lambda_.IFunction, access_logs: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(BATCH_OPERATIONS_DAYS))],
            access_logs=access_logs,
            logs_prefix="batch-operations/",
        )
        # The trust policy AWS documents for S3 Batch Operations.
        self.role = iam.Role(
            self,
            "Role",
            description="S3 Batch Operations: invoke backfill over a manifest",
            assumed_by=iam.ServicePrincipal("batchoperations.s3.amazonaws.com"),
        )
        manifests = self.bucket.arn_for_objects(f"{MANIFESTS}*")
        reports = self.bucket.arn_for_objects(f"{REPORTS}*")
        for statement in (
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[backfill.function_arn]),
            iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[manifests]),
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[reports]),
            iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[self.bucket.bucket_arn]),
        ):
            self.role.add_to_principal_policy(statement)
        nag.acknowledge_wildcards(
            self.role,
            [manifests, reports],
            "S3 Batch Operations reads manifests and writes reports under two fixed prefixes of its own bucket; "
            "object names are chosen per job.",
        )
