"""The consent table (the account service's, created here only when not attached) and our ledger."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from consentry.aws.ledger import DUE_INDEX, DUE_SHARD, EXPIRES_AT, PK, SK
from infra.settings import Settings

CONSENT_KEY = "user_id"  # POLICY.md: the consent record's partition key


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class ConsentTable(Construct):
    """The consent table and its stream (NEW_AND_OLD_IMAGES: consent_changed compares versions)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        if settings.consent_table_name is not None:
            self.table: dynamodb.ITable = dynamodb.Table.from_table_attributes(
                self,
                "Table",
                table_name=settings.consent_table_name,
                table_stream_arn=settings.consent_stream_arn,
            )
        else:
            self.table = dynamodb.Table(
                self,
                "Table",
                partition_key=_string(CONSENT_KEY),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
        assert self.table.table_stream_arn is not None
        self.stream_arn: str = self.table.table_stream_arn


class LedgerTable(Construct):
    """One record per chat object; the sparse `due` index is what the sweep queries (consentry.aws.ledger)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_string(PK),
            sort_key=_string(SK),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=DUE_INDEX,
            partition_key=_string(DUE_SHARD),
            sort_key=_string(EXPIRES_AT),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    @property
    def index_arns(self) -> list[str]:
        return [f"{self.table.table_arn}/index/{DUE_INDEX}"]
