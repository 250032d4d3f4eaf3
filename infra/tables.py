"""The consent table (the account service's, created here only when not attached) and our ledger.

Keys, indexes, streams, TTL and point-in-time recovery are `consentry.service.deployment.TableSpec`s.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from consentry.service.deployment import CONSENT_TABLE, LEDGER_TABLE, TableSpec
from infra.settings import Settings

CONSENT_KEY = CONSENT_TABLE.partition_key


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def table_from_spec(
    scope: Construct, construct_id: str, spec: TableSpec, recovery_period_days: int | None = None
) -> dynamodb.Table:
    """An on-demand table with deletion protection, kept when the stack goes."""
    recovery = spec.point_in_time_recovery_specification(recovery_period_days)
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=_string(spec.partition_key),
        sort_key=_string(spec.sort_key) if spec.sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        stream=dynamodb.StreamViewType[spec.stream_view] if spec.stream_view else None,
        time_to_live_attribute=spec.ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=recovery["PointInTimeRecoveryEnabled"],
            recovery_period_in_days=recovery.get("RecoveryPeriodInDays"),
        ),
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    for index in spec.indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_string(index.partition_key),
            sort_key=_string(index.sort_key) if index.sort_key else None,
            projection_type=dynamodb.ProjectionType[index.projection],
        )
    return table


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
            self.table = table_from_spec(self, "Table", CONSENT_TABLE)
        assert self.table.table_stream_arn is not None
        self.stream_arn: str = self.table.table_stream_arn


class LedgerTable(Construct):
    """One record per chat object; the sparse `due` index is what the sweep queries (consentry.service.aws.ledger).

    Its point-in-time recovery reaches back `ledgerRecoveryDays` (default `LEDGER_RECOVERY_DAYS`): how long a
    removed record stays restorable (docs/privacy.md).
    """

    def __init__(self, scope: Construct, construct_id: str, *, recovery_period_days: int | None = None) -> None:
        super().__init__(scope, construct_id)
        self.table = table_from_spec(self, "Table", LEDGER_TABLE, recovery_period_days)

    @property
    def index_arns(self) -> list[str]:
        return [f"{self.table.table_arn}/index/{index.name}" for index in LEDGER_TABLE.indexes]
