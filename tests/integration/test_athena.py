"""The Athena path's requests, on moto: moto accepts them (and runs none: the SQL is tested on DuckDB).

What is held here is what Athena is asked: the statements in order, the
workgroup (whose results location and encryption the stack enforces), the
Glue database, and the partitions' locations.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.athena.models import QueryResults, athena_backends

from consentry.service.policy import ConsentRecord, load_policy, parse_instant
from consentry.training import athena, snapshot

PLACE = athena.Place(workgroup="consentry-training", database="consentry_training")
DATA = "s3://training/exports/ledger-20260101T000000Z/AWSDynamoDB/01-abc/data/"
OUT = "s3://training/manifests/ledger-20260101T000000Z/"


@pytest.fixture
def client(aws: None) -> Any:
    client = boto3.client("athena", region_name="us-east-1")
    client.create_work_group(
        Name=PLACE.workgroup,
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": "s3://athena-results/",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            },
            "EnforceWorkGroupConfiguration": True,
        },
    )
    return client


def executions(client: Any) -> list[dict[str, Any]]:
    ids = client.list_query_executions(WorkGroup=PLACE.workgroup)["QueryExecutionIds"]
    found = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return sorted(found, key=lambda e: e["Status"]["SubmissionDateTime"])


def test_a_snapshot_on_athena_adds_the_export_partition_unloads_the_manifest_and_its_csv(client: Any) -> None:
    backend = athena_backends["123456789012"]["us-east-1"]
    header = {"Data": [{"VarCharValue": "_col0"}]}
    # moto hands queued results to executions in the order they start: four statements, then the count.
    backend.query_results_queue.extend([QueryResults([], [])] * 4)
    backend.query_results_queue.append(QueryResults([header, {"Data": [{"VarCharValue": "8"}]}], []))
    runner = athena.Athena(client, PLACE, sleep=lambda _: None)

    entries = athena.take(runner, "ledger-20260101T000000Z", DATA, "2026-01-01T00:00:00.000000Z", "chat-logs", OUT)

    assert entries == 8
    sent = [e.query for e in backend.executions.values()]
    assert sent[0] == (
        "ALTER TABLE consentry_training.ledger_exports ADD IF NOT EXISTS PARTITION "
        f"(snapshot = 'ledger-20260101T000000Z') LOCATION '{DATA}'"
    )
    assert sent[1].startswith("UNLOAD (WITH ledger AS (SELECT item FROM consentry_training.ledger_exports WHERE ")
    assert sent[1].endswith(f"TO '{OUT}parquet/' WITH (format = 'PARQUET')")
    assert sent[2].endswith(f"PARTITION (snapshot = 'ledger-20260101T000000Z') LOCATION '{OUT}parquet/'")
    assert "URL_ENCODE" in sent[3]
    assert sent[3].endswith(f"TO '{OUT}csv/' WITH (format = 'TEXTFILE', field_delimiter = ',', compression = 'NONE')")
    assert sent[4] == ("SELECT count(*) FROM consentry_training.manifests WHERE snapshot = 'ledger-20260101T000000Z'")
    for execution in executions(client):
        assert execution["WorkGroup"] == PLACE.workgroup
        assert execution["QueryExecutionContext"] == {"Catalog": "AwsDataCatalog", "Database": PLACE.database}
        assert execution["Status"]["State"] == "SUCCEEDED"


def test_the_request_names_an_output_location_only_for_a_workgroup_that_does_not_enforce_one() -> None:
    assert "ResultConfiguration" not in athena.request("SELECT 1", PLACE)
    loose = athena.Place(output="s3://results/prefix/")
    assert athena.request("SELECT 1", loose)["ResultConfiguration"] == {"OutputLocation": "s3://results/prefix/"}


def test_report_rows_come_back_without_athenas_header_row(client: Any) -> None:
    backend = athena_backends["123456789012"]["us-east-1"]
    rows = [["dimension", "label", "eligible", "not_eligible"], ["objects", "", "8", "26"], ["tier", None, "0", "2"]]
    backend.query_results_queue.append(
        QueryResults([{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in rows], [])
    )
    got = athena.report(athena.Athena(client, PLACE, sleep=lambda _: None), "ledger-1", "2026-01-02T00:00:00.000000Z")
    assert got == [("objects", "", "8", "26"), ("tier", None, "0", "2")]


def test_verify_on_athena_reads_every_entrys_row_back_and_checks_consent_here(client: Any, tmp_path: Any) -> None:
    backend = athena_backends["123456789012"]["us-east-1"]
    header = ["bucket", "key", "version_id", "consent_version", "policy_version", "expires_on", "reason", "user_id",
              "last_activity"]  # fmt: skip
    policy = "consumer-terms-2025@1"
    activity = "2025-10-01T00:00:00.000000Z"
    rows = [
        header,
        ["chat-logs", "chats/ana/c1.json", "v1", "1", policy, "2030-10-01", None, "ana", activity],
        ["chat-logs", "chats/ben/c1.json", "v2", "1", policy, "2030-10-01", "erased", "ben", activity],
        ["chat-logs", "chats/cid/c1.json", "v3", "2", policy, "2030-10-01", None, "cid", activity],
    ]
    backend.query_results_queue.extend([QueryResults([], [])] * 2)  # the two partitions
    backend.query_results_queue.append(
        QueryResults([{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in rows], [])
    )
    runner = athena.Athena(client, PLACE, sleep=lambda _: None)
    location = "s3://training/manifests/run-42/"

    got = athena.verify(runner, "ledger-1", DATA, location, "2026-01-02T00:00:00.000000Z", "chat-logs")

    sent = [e.query for e in backend.executions.values()]
    manifest = athena.manifest_partition(location)
    assert sent[1].endswith(f"PARTITION (snapshot = '{manifest}') LOCATION '{location}parquet/'")
    assert f"consentry_training.manifests WHERE snapshot = '{manifest}'" in sent[2]
    assert "'2026-01-02T00:00:00.000000Z'" in sent[2] and "$" not in sent[2]
    granted_at = parse_instant("2025-09-01T00:00:00.000000Z")
    records = {
        "ana": ConsentRecord("ana", tier="free", training_consent="granted", consent_changed_at=granted_at),
        "cid": ConsentRecord("cid", tier="free", training_consent="denied", consent_changed_at=granted_at),
    }
    result = snapshot.verification_from_rows(
        got, parse_instant("2026-01-02T00:00:00Z"), tmp_path, consents=lambda users: records, policy=load_policy()
    )
    assert {r.entry.key: r.reason for r in result.revocations()} == {
        "chats/ben/c1.json": "erased",
        "chats/cid/c1.json": "consent-denied",
    }
    assert (result.checked, result.revoked, result.revocations()[0].entry.consent_version) == (3, 2, 1)


def test_a_local_server_gets_the_stacks_workgroup_once(aws: None) -> None:
    client = boto3.client("athena", region_name="us-east-1")
    assert athena.prepare_local(client, "s3://training/athena-results/") is True
    assert athena.prepare_local(client, "s3://training/athena-results/") is False
    config = client.get_work_group(WorkGroup=athena.WORKGROUP)["WorkGroup"]["Configuration"]
    assert config["EnforceWorkGroupConfiguration"] is True
