"""The training side at scale: a bucket for ledger exports and manifests, Athena and Glue over them.

`consentry snapshot` asks DynamoDB for a point-in-time export of the ledger
(PITR is on: infra/tables.py) into this stack's training bucket, under
`exports/`; manifests go under `manifests/`. Both expire: exports hold every
chat key and user id of the ledger (`exportDays`, default 7), manifests list
keys (`manifestDays`, default 30). At a billion chats the same queries run on
Athena (`consentry.training.athena`): a workgroup that enforces its results
location and their encryption, a results bucket whose objects expire
(`athenaResultDays`, default 7), and a Glue database with two tables
partitioned by `snapshot`:

- `ledger_exports`: each export's `data/` folder (gzipped DynamoDB JSON, the
  OpenX JSON SerDe), one column `item` (`consentry.training.schema.hive_type`);
- `manifests`: each manifest's `parquet/` folder.

S3 Batch Operations may read manifests (a job over a snapshot's CSV); the
completion reports of training copy jobs go under `reports/` and expire
with the manifests.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from consentry.training import athena as queries_on_athena
from consentry.training.queries import MANIFEST_COLUMNS, MATCH_COLUMN
from consentry.training.retention import COPY_REPORTS, DEFAULT_DAYS, EXPORTS, MANIFESTS
from consentry.training.schema import hive_type
from infra import nag
from infra.storage import private_bucket

# Athena stops a query past this many bytes scanned: 10 TB, ~15x a billion-chat export (~630 GB).
BYTES_SCANNED_CUTOFF = 10 * 1024**4


def days(scope: Construct, key: str) -> int:
    """A context value in whole days (`-c manifestDays=90`), at least 1."""
    value = scope.node.try_get_context(key)
    number = DEFAULT_DAYS[key] if value is None else int(str(value))
    if number < 1:
        raise ValueError(f"{key} must be at least 1 day, not {value!r}")
    return number


class Training(Construct):
    """Exports, manifests, and the Athena workgroup and Glue tables that query them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, access_logs: s3.IBucket, batch_operations_role: iam.IRole
    ) -> None:
        super().__init__(scope, construct_id)
        self.export_days, self.manifest_days = days(self, "exportDays"), days(self, "manifestDays")
        self.result_days = days(self, "athenaResultDays")
        self.bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(id="Exports", prefix=EXPORTS, expiration=Duration.days(self.export_days)),
                s3.LifecycleRule(id="Manifests", prefix=MANIFESTS, expiration=Duration.days(self.manifest_days)),
                s3.LifecycleRule(id="CopyReports", prefix=COPY_REPORTS, expiration=Duration.days(self.manifest_days)),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            access_logs=access_logs,
            logs_prefix="training/",
        )
        self.results = private_bucket(
            self,
            "AthenaResults",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(self.result_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            access_logs=access_logs,
            logs_prefix="athena-results/",
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=queries_on_athena.WORKGROUP,
            description="consentry: snapshots, verification and reports over ledger exports",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results.s3_url_for_object("results/"),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        account = Stack.of(self).account
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=queries_on_athena.DATABASE,
                description="consentry: ledger exports and training manifests, one partition per snapshot",
            ),
        )
        partition = [glue.CfnTable.ColumnProperty(name=queries_on_athena.PARTITION, type="string")]
        self.ledger_exports = glue.CfnTable(
            self,
            "LedgerExports",
            catalog_id=account,
            database_name=queries_on_athena.DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=queries_on_athena.LEDGER_TABLE,
                description="DynamoDB point-in-time exports of the ledger (DYNAMODB_JSON); a partition per export",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "json", "compressionType": "gzip"},
                partition_keys=partition,
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name="item", type=hive_type())],
                    location=self.bucket.s3_url_for_object(EXPORTS),
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=queries_on_athena.JSON_SERDE,
                        parameters={"case.insensitive": "true", "ignore.malformed.json": "false"},
                    ),
                ),
            ),
        )
        self.manifests = glue.CfnTable(
            self,
            "Manifests",
            catalog_id=account,
            database_name=queries_on_athena.DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=queries_on_athena.MANIFEST_TABLE,
                description="Training manifests (Parquet): the chat versions eligible at a snapshot's instant",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "parquet"},
                partition_keys=partition,
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(
                            name=column, type=queries_on_athena.MANIFEST_TYPES.get(column, "string")
                        )
                        for column in (*MANIFEST_COLUMNS, MATCH_COLUMN)
                    ],
                    location=self.bucket.s3_url_for_object(MANIFESTS),
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=queries_on_athena.PARQUET_SERDE),
                ),
            ),
        )
        for table in (self.ledger_exports, self.manifests):
            table.add_dependency(self.database)

        manifests = self.bucket.arn_for_objects(f"{MANIFESTS}*")
        batch_operations_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[manifests])
        )
        nag.acknowledge_wildcards(
            batch_operations_role,
            [manifests],
            "S3 Batch Operations reads snapshot manifests under the training bucket's manifests/ prefix; "
            "object names are chosen per snapshot.",
        )

        stack = Stack.of(self)
        for name, value in {
            "TrainingBucketName": self.bucket.bucket_name,
            "AthenaWorkGroupName": queries_on_athena.WORKGROUP,
            "GlueDatabaseName": queries_on_athena.DATABASE,
        }.items():
            CfnOutput(stack, name, value=value)
