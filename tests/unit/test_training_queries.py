"""The one set of SQL: each query transpiles from DuckDB's dialect to Trino's (Athena), and the constructs
that differ between the engines are held here as text. DuckDB runs them in tests/integration/test_snapshot.py.
"""

from __future__ import annotations

from urllib.parse import quote

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from consentry.aws.batch_ops import encode_key
from consentry.training import athena, queries, schema

VALUES = {
    "at": "2026-01-01T00:00:00.000000Z",
    "now": "2026-01-02T00:00:00.000000Z",
    "bucket": "chat-logs",
    "by_hash": True,
}


@pytest.mark.parametrize("name", [*queries.QUERIES, *queries.VIEWS])
def test_each_query_transpiles_from_duckdb_to_trino_without_errors(name: str) -> None:
    [trino] = sqlglot.transpile(queries.text(name), read="duckdb", write="trino", unsupported_level=ErrorLevel.RAISE)
    assert sqlglot.parse_one(trino, read="trino") is not None


@pytest.mark.parametrize("name", queries.QUERIES)
def test_the_athena_statement_of_each_query_parses_as_trino_with_no_parameter_left(name: str) -> None:
    sql = athena.trino(name, VALUES, ledger="ledger-20260101T000000Z", manifest="run-42")
    assert sqlglot.parse_one(sql, read="trino", error_level=ErrorLevel.RAISE) is not None
    assert "$" not in sql and ":at" not in sql and ":now" not in sql and ":bucket" not in sql


def test_athena_reads_one_export_partition_and_one_manifest_partition() -> None:
    sql = athena.trino("verify", VALUES, ledger="ledger-1", manifest="run-'42")
    assert sql.startswith(
        "WITH ledger AS (SELECT item FROM consentry_training.ledger_exports WHERE snapshot = 'ledger-1'), chats AS ("
    )
    assert (
        'manifest AS (SELECT "bucket", "key", "version_id", "consent_version", "policy_version", "expires_on", '
        "\"chat_sk\" FROM consentry_training.manifests WHERE snapshot = 'run-''42')"
    ) in sql
    with pytest.raises(ValueError, match="name the export partition"):
        athena.trino("manifest", VALUES)


def test_constructs_that_differ_between_engines_as_trino_gets_them() -> None:
    chats = athena.trino("manifest", VALUES, ledger="l")
    # struct fields of the export's `Item`: Glue lower-cases them, Trino matches case-insensitively
    assert 'Item."key".S AS chat_key' in chats and "COALESCE(Item.eligible.BOOL, FALSE) AS eligible" in chats
    assert "TRY_CAST(Item.consent_version.N AS BIGINT)" in chats
    assert "Item.sk.S LIKE 'chat#%'" in chats
    # named parameters become literals, quotes doubled
    assert "last_activity <= '2026-01-01T00:00:00.000000Z'" in chats
    assert "'o''brien' AS bucket" in athena.trino("manifest", {**VALUES, "bucket": "o'brien"}, ledger="l")
    report = athena.trino("report", VALUES, ledger="l")
    assert "COUNT_IF(stored AND NOT held AND expires_at <= '2026-01-02T00:00:00.000000Z') AS due" in report
    assert "GROUP BY GROUPING SETS ((reason), (tier), (expiry_month), (state), (pk), ())" in report  # one scan
    assert "COUNT_IF(dimension = 'user' AND eligible + not_eligible > 0) OVER () AS users" in report
    # the query's own CTE comes after the ledger's
    assert report.index("chats AS (") < report.index("chat_rows AS (")
    csv = athena.trino("batch_operations_csv", VALUES, manifest="m")
    assert (
        "REPLACE(REPLACE(REPLACE(REPLACE(URL_ENCODE(m.\"key\"), '+', '%20'), '%2F', '/'), '%7E', '~'), '*', '%2A')"
        in csv
    )


def test_the_key_encoding_expression_gives_encode_key_on_duckdb() -> None:
    keys = ["".join(chr(c) for c in range(32, 127)), "chats/ü ser+1/c,1 é~*.json", "€😀\t/x"]
    expression = queries.text("batch_operations_csv").split("SELECT", 1)[1].split(' AS "key"')[0].split(",\n", 1)[1]
    con = duckdb.connect()
    for key in keys:
        [(encoded,)] = con.execute(f'SELECT {expression.strip()} FROM (SELECT ? AS "key") AS m', [key]).fetchall()
        assert encoded == encode_key(key) == quote(key, safe="/")


def test_trino_url_encode_as_documented_is_undone_by_the_same_expression() -> None:
    """Trino's url_encode (form encoding: space as `+`, `~` as %7E, `*` kept), replayed in Python."""

    def trino_url_encode(key: str) -> str:
        return quote(key, safe="-_.*").replace("%20", "+").replace("~", "%7E")

    def expression(encoded: str) -> str:
        return encoded.replace("+", "%20").replace("%2F", "/").replace("%7E", "~").replace("*", "%2A")

    for key in ["chats/u 1/c+1~*.json", "code-sessions/ü/s%20.jsonl"]:
        assert expression(trino_url_encode(key)) == encode_key(key)


def test_both_engines_read_the_same_attributes_of_the_export() -> None:
    names = [name for name, _ in schema.ATTRIBUTES]
    hive, duck = schema.hive_type(), schema.duckdb_type()
    assert all(f"{n}:struct<" in hive and f'"{n}" STRUCT(' in duck for n in names)
    assert hive.count("struct<") == duck.count("STRUCT(") == len(names) + 1


def test_parameters_are_found_outside_comments() -> None:
    assert queries.parameters(queries.text("verify")) == {"now", "bucket", "by_hash"}
    assert queries.parameters(queries.text("report")) == {"now"}
    assert queries.parameters("-- $ghost\nSELECT $x") == {"x"}
