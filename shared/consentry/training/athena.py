"""The same queries on Athena (engine v3, Trino's dialect), over the export and the manifests in S3.

The stack (`infra/training.py`) creates a workgroup whose results location
and encryption are enforced, a Glue database and two tables partitioned by
`snapshot` (the export's or manifest's name):

- `ledger_exports`: the exports' `data/` files, JSON SerDe, one column `item`
  of the type `consentry.training.schema.hive_type()`;
- `manifests`: the manifests' Parquet files (bucket, key, version_id,
  consent_version, policy_version, expires_on).

A query of `consentry.training.queries` becomes one Athena statement: the
DuckDB text transpiled by sqlglot, its relations given as CTEs over one
partition (`ledger` over an export, `manifest` over a manifest), its `$name`
parameters replaced by literals. The manifest and its CSV are written by
`UNLOAD` (Parquet, and uncompressed text for S3 Batch Operations; UNLOAD may
split either into several files, one Batch Operations job each).

Example:
    >>> sql = trino("manifest", {"at": "2026-01-01T00:00:00.000000Z", "bucket": "b"}, ledger="ledger-x")
    >>> sql.startswith("WITH ledger AS (SELECT item FROM consentry_training.ledger_exports WHERE snapshot = ")
    True
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from consentry.training.queries import MANIFEST_COLUMNS, MATCH_COLUMN, VIEWS, literal, text

if TYPE_CHECKING:
    from mypy_boto3_athena import AthenaClient

DATABASE = "consentry_training"
WORKGROUP = "consentry-training"
LEDGER_TABLE = "ledger_exports"
MANIFEST_TABLE = "manifests"
PARTITION = "snapshot"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# Manifest columns as Glue declares them (Parquet written by DuckDB or UNLOAD).
MANIFEST_TYPES = {"consent_version": "bigint"}


class QueryFailed(RuntimeError):
    """Athena reported the query FAILED or CANCELLED; the message has its reason."""


@dataclass(frozen=True)
class Place:
    """Where the queries run: the workgroup (results location enforced there) and the Glue database."""

    workgroup: str = WORKGROUP
    database: str = DATABASE
    output: str | None = None  # results location; only used by a workgroup that does not enforce its own


def trino(name: str, values: Mapping[str, str | bool], ledger: str | None = None, manifest: str | None = None,
          database: str = DATABASE) -> str:  # fmt: skip
    """Query `name` in Trino's dialect over the export partition `ledger` and the manifest partition `manifest`."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(text(name), read="duckdb")
    assert isinstance(tree, exp.Query), name  # every query file is a SELECT or a UNION of them
    used = {table.name for table in tree.find_all(exp.Table)}
    sources: list[tuple[str, str]] = []
    if used & {"ledger", *VIEWS}:
        if ledger is None:
            raise ValueError(f"{name} reads the ledger: name the export partition")
        sources.append(("ledger", f"SELECT item FROM {database}.{LEDGER_TABLE} WHERE {PARTITION} = {literal(ledger)}"))
        sources.extend((view, text(view)) for view in VIEWS)
    if "manifest" in used:
        if manifest is None:
            raise ValueError(f"{name} reads a manifest: name its partition")
        columns = ", ".join(f'"{column}"' for column in (*MANIFEST_COLUMNS, MATCH_COLUMN))
        sources.append(
            ("manifest", f"SELECT {columns} FROM {database}.{MANIFEST_TABLE} WHERE {PARTITION} = {literal(manifest)}")
        )
    own = tree.args.get("with_")
    tree.set("with_", None)
    for alias, body in sources:
        tree = tree.with_(alias, as_=body, dialect="duckdb", copy=False)
    for cte in own.expressions if own else []:
        tree = tree.with_(cte.alias, as_=cte.this, copy=False)
    for placeholder in list(tree.find_all(exp.Placeholder)):
        value = values[placeholder.name]
        placeholder.replace(exp.Boolean(this=value) if isinstance(value, bool) else exp.Literal.string(value))
    return tree.sql(dialect="trino", comments=False)


def unload(query: str, location: str, file_format: str) -> str:
    """`UNLOAD` of a query's rows to an empty S3 prefix: PARQUET, or TEXTFILE as S3 Batch Operations reads CSV."""
    options = "format = 'PARQUET'"
    if file_format == "TEXTFILE":
        options = "format = 'TEXTFILE', field_delimiter = ',', compression = 'NONE'"
    return f"UNLOAD ({query}) TO {literal(location.rstrip('/') + '/')} WITH ({options})"


def add_partition(table: str, name: str, location: str, database: str = DATABASE) -> str:
    """The DDL that makes one export's `data/` folder (or one manifest's Parquet folder) a partition."""
    return (
        f"ALTER TABLE {database}.{table} ADD IF NOT EXISTS PARTITION ({PARTITION} = {literal(name)}) "
        f"LOCATION {literal(location.rstrip('/') + '/')}"
    )


def request(sql: str, place: Place) -> dict[str, Any]:
    """The StartQueryExecution parameters of one statement."""
    params: dict[str, Any] = {
        "QueryString": sql,
        "WorkGroup": place.workgroup,
        "QueryExecutionContext": {"Catalog": "AwsDataCatalog", "Database": place.database},
    }
    if place.output:
        params["ResultConfiguration"] = {"OutputLocation": place.output}
    return params


def athena_delays() -> Iterable[float]:
    """Seconds between GetQueryExecution polls: at once, then 0.5 s doubling to 10 s, two hours in all."""
    yield 0.0
    delay, waited = 0.5, 0.0
    while waited < 7200:
        yield delay
        waited += delay
        delay = min(delay * 2, 10.0)


class Athena:
    """Runs statements in a workgroup and waits for them (no query is sent before `run`)."""

    def __init__(self, client: AthenaClient, place: Place, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.place = place
        self.sleep = sleep

    def run(self, sql: str) -> str:
        """Start `sql`, wait until it succeeds; its execution id (QueryFailed otherwise)."""
        execution = self.client.start_query_execution(**request(sql, self.place))["QueryExecutionId"]
        for pause in athena_delays():
            self.sleep(pause)
            status: Any = self.client.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                raise QueryFailed(f"Athena query {execution} {state}: {status.get('StateChangeReason', '')}")
        raise QueryFailed(f"Athena query {execution} did not finish in two hours")

    def rows(self, execution: str) -> list[tuple[str | None, ...]]:
        """The result rows of a finished SELECT, as text (Athena's first row, the header, left out)."""
        out: list[tuple[str | None, ...]] = []
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=execution):
            for row in page["ResultSet"]["Rows"]:
                out.append(tuple(cell.get("VarCharValue") for cell in row["Data"]))
        return out[1:]


def take(runner: Athena, name: str, data: str, at: str, chat_bucket: str, out: str) -> int:
    """The snapshot `name` on Athena: the export's `data/` folder as a partition, the manifest UNLOADed to
    `out` (`parquet/` and `csv/`), itself a partition of `manifests`; the number of entries."""
    runner.run(add_partition(LEDGER_TABLE, name, data, runner.place.database))
    select = trino("manifest", {"at": at, "bucket": chat_bucket}, ledger=name, database=runner.place.database)
    runner.run(unload(select, f"{out.rstrip('/')}/parquet/", "PARQUET"))
    runner.run(add_partition(MANIFEST_TABLE, name, f"{out.rstrip('/')}/parquet/", runner.place.database))
    csv = trino("batch_operations_csv", {}, manifest=name, database=runner.place.database)
    runner.run(unload(csv, f"{out.rstrip('/')}/csv/", "TEXTFILE"))
    counted = runner.rows(runner.run(f"SELECT count(*) FROM {runner.place.database}.{MANIFEST_TABLE} "
                                     f"WHERE {PARTITION} = {literal(name)}"))  # fmt: skip
    return int(counted[0][0] or 0) if counted else 0


def report(runner: Athena, ledger: str, now: str) -> list[tuple[str | None, ...]]:
    """The report's counts over the export partition `ledger` (rows as `counts.report_files` has them)."""
    return runner.rows(runner.run(trino("report", {"now": now}, ledger=ledger, database=runner.place.database)))


def manifest_partition(location: str) -> str:
    """The `manifests` partition of a manifest at `location` (an s3:// prefix): one per place, whoever wrote it."""
    return "m-" + hashlib.sha256(location.rstrip("/").encode()).hexdigest()[:20]


def verify(
    runner: Athena, ledger: str, data: str, location: str, now: str, chat_bucket: str
) -> list[tuple[str | None, ...]]:
    """`sql/verify.sql` over the export `ledger` (its `data/` folder) and the manifest whose Parquet files are
    under `location` + `parquet/` (as `snapshot` writes it with either engine); every entry's row, as text."""
    database = runner.place.database
    manifest = manifest_partition(location)
    runner.run(add_partition(LEDGER_TABLE, ledger, data, database))
    runner.run(add_partition(MANIFEST_TABLE, manifest, f"{location.rstrip('/')}/parquet/", database))
    values: dict[str, str | bool] = {"now": now, "bucket": chat_bucket, "by_hash": True}  # our Parquet has chat_sk
    return runner.rows(runner.run(trino("verify", values, ledger=ledger, manifest=manifest, database=database)))


def prepare_local(client: AthenaClient, results: str, place: Place = Place()) -> bool:
    """On a local (moto) server only: the workgroup the stack would create, made when missing; True if made."""
    try:
        found: Any = client.get_work_group(WorkGroup=place.workgroup).get("WorkGroup")
    except ClientError:  # AWS: InvalidRequestException; moto answers None
        found = None
    if found:
        return False
    client.create_work_group(
        Name=place.workgroup,
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": results,
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            },
            "EnforceWorkGroupConfiguration": True,
        },
    )
    return True


__all__ = [
    "DATABASE",
    "LEDGER_TABLE",
    "MANIFEST_TABLE",
    "PARTITION",
    "WORKGROUP",
    "Athena",
    "Place",
    "QueryFailed",
    "add_partition",
    "manifest_partition",
    "prepare_local",
    "report",
    "request",
    "take",
    "trino",
    "unload",
    "verify",
]
