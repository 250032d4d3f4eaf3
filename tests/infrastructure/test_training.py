"""The training side's resources, from the synthesized template.

Exports and manifests expire (context keys `exportDays`, `manifestDays`,
`athenaResultDays`); the Athena workgroup enforces its results location and
their encryption; the Glue tables read the exports' DynamoDB JSON and the
manifests' Parquet, partitioned by snapshot, with the columns the queries use.
"""

from __future__ import annotations

from typing import Any

from consentry.training import athena, retention
from consentry.training.schema import hive_type

from .synthesis import Synth, synthesize


def bucket_rules(synth: Synth) -> list[dict[str, Any]]:
    bucket = synth.resources[synth.logical_id(synth.stack.training.bucket.bucket_arn)]
    rules: list[dict[str, Any]] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


def expirations(synth: Synth) -> dict[str, int]:
    return {r["Prefix"]: r["ExpirationInDays"] for r in bucket_rules(synth) if "Prefix" in r}


def test_exports_manifests_and_copy_reports_expire_by_default(created: Synth) -> None:
    assert expirations(created) == {"exports/": 7, "manifests/": 30, "reports/": 30}


def test_a_local_server_expires_what_the_stack_expires(created: Synth) -> None:
    """`export.prepare_local` puts `retention.lifecycle()` on a local training bucket: the same prefixes and days as
    the stack's bucket, and the results' days where a local server keeps Athena's results."""
    local = {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in retention.lifecycle()["Rules"] if r["Filter"]}
    results = created.resources[created.logical_id(created.stack.training.results.bucket_arn)]
    [result_days] = [r["ExpirationInDays"] for r in results["Properties"]["LifecycleConfiguration"]["Rules"]]
    assert local == {**expirations(created), retention.ATHENA_RESULTS: result_days}


def test_expiry_follows_the_context_keys(tmp_path: Any) -> None:
    synth = synthesize(tmp_path, {"manifestDays": "90", "exportDays": "2", "athenaResultDays": "3"})
    assert expirations(synth) == {"exports/": 2, "manifests/": 90, "reports/": 90}
    results = synth.resources[synth.logical_id(synth.stack.training.results.bucket_arn)]
    assert [r["ExpirationInDays"] for r in results["Properties"]["LifecycleConfiguration"]["Rules"]] == [3]


def test_the_workgroup_enforces_an_encrypted_results_location_in_its_bucket(each_mode: Synth) -> None:
    [workgroup] = each_mode.of_type("AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert workgroup["Properties"]["Name"] == athena.WORKGROUP
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    results = each_mode.logical_id(each_mode.stack.training.results.bucket_arn)
    assert results in str(config["ResultConfiguration"]["OutputLocation"])
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}


def test_glue_tables_read_the_exports_and_manifests_partitioned_by_snapshot(each_mode: Synth) -> None:
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"] for t in each_mode.of_type("AWS::Glue::Table").values()
    }
    assert set(tables) == {athena.LEDGER_TABLE, athena.MANIFEST_TABLE}
    for props in tables.values():
        assert props["DatabaseName"] == athena.DATABASE
        assert props["TableInput"]["PartitionKeys"] == [{"Name": "snapshot", "Type": "string"}]
    exports = tables[athena.LEDGER_TABLE]["TableInput"]["StorageDescriptor"]
    assert exports["Columns"] == [{"Name": "item", "Type": hive_type()}]
    assert exports["SerdeInfo"]["SerializationLibrary"] == athena.JSON_SERDE
    assert "/exports/" in str(exports["Location"])
    manifests = tables[athena.MANIFEST_TABLE]["TableInput"]["StorageDescriptor"]
    assert [c["Name"] for c in manifests["Columns"]] == [
        "bucket",
        "key",
        "version_id",
        "consent_version",
        "policy_version",
        "expires_on",
        "chat_sk",
    ]
    assert manifests["SerdeInfo"]["SerializationLibrary"] == athena.PARQUET_SERDE


def test_batch_operations_may_read_manifests_and_nothing_else_of_the_training_bucket(each_mode: Synth) -> None:
    bucket = each_mode.ref(each_mode.stack.training.bucket.bucket_arn)
    granted = {(a, r) for a, r in each_mode.grants(each_mode.stack.batch.role.role_arn) if bucket in r}
    assert granted == {("s3:GetObject", f"{bucket}/manifests/*"), ("s3:GetObjectVersion", f"{bucket}/manifests/*")}


def test_the_stack_names_the_training_bucket_workgroup_and_database(created: Synth) -> None:
    outputs = created.raw["Outputs"]
    assert {"TrainingBucketName", "AthenaWorkGroupName", "GlueDatabaseName"} <= set(outputs)
    assert outputs["GlueDatabaseName"]["Value"] == athena.DATABASE
