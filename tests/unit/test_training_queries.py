"""The one set of SQL: each query transpiles from DuckDB's dialect to Trino's (Athena), and the constructs
that differ between the engines are held here as text. DuckDB runs them in tests/integration/test_snapshot.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from consentry.service.aws.batch_ops import encode_key
from consentry.service.policy import ConsentRecord, load_policy, parse_instant
from consentry.training import athena, queries, schema, snapshot

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
    assert queries.parameters(queries.text("manifest")) == {"at", "bucket"}
    assert queries.parameters(queries.text("report")) == {"now"}
    assert queries.parameters("-- $ghost\nSELECT $x") == {"x"}


# -- the queries on hand-made export lines: requests not yet applied, missing attributes -----------------

AT = "2026-01-01T00:00:00.000000Z"
LATER = "2026-01-05T00:00:00.000000Z"
GRANTED = {
    "eligible": {"BOOL": True},
    "reason": {"S": "consent-granted"},
    "state": {"S": "active"},
    "last_activity": {"S": "2025-10-01T00:00:00.000000Z"},
    "expires_at": {"S": "2030-10-01T00:00:00.000000Z"},
    "expires_on": {"S": "2030-10-01"},
    "policy_version": {"S": "consumer-terms-2025@1"},
    "consent_version": {"N": "1"},
}


def chat(user: str, name: str, **changes: dict[str, object] | None) -> dict[str, object]:
    """An eligible chat record as the export writes it; a change of None drops the attribute."""
    item: dict[str, object] = {
        "pk": {"S": f"user#{user}"},
        "sk": {"S": f"chat#{user}/{name}"},
        "user_id": {"S": user},
        "key": {"S": f"chats/{user}/{name}.json"},
        "version_id": {"S": f"v-{name}"},
        **GRANTED,
    }
    for attribute, value in changes.items():
        if value is None:
            item.pop(attribute, None)
        else:
            item[attribute] = value
    return item


def erasure(user: str, requested_at: str) -> dict[str, object]:
    return {"pk": {"S": f"user#{user}"}, "sk": {"S": f"erasure#{requested_at}"}, "requested_at": {"S": requested_at}}


def export_file(path: Path, items: list[dict[str, object]]) -> list[Path]:
    path.write_bytes(gzip.compress("".join(json.dumps({"Item": i}) + "\n" for i in items).encode()))
    return [path]


def listed(tmp_path: Path, items: list[dict[str, object]], at: str = AT) -> list[str]:
    files = export_file(tmp_path / "export.json.gz", items)
    taken = snapshot.manifest_files(files, parse_instant(at), "chat-logs", tmp_path / "m")
    return sorted(row[1] for row in duckdb.sql(f"SELECT * FROM read_parquet('{taken.parquet}')").fetchall())


Items = list[dict[str, object]]


def revoked(tmp_path: Path, then: Items, now_items: Items, **kw: Any) -> dict[str, str]:
    taken = snapshot.manifest_files(
        export_file(tmp_path / "then.json.gz", then), parse_instant(AT), "chat-logs", tmp_path / "m"
    )
    result = snapshot.verify_files(
        export_file(tmp_path / "now.json.gz", now_items), taken.parquet, parse_instant(LATER), "chat-logs",
        tmp_path / "v", **kw,
    )  # fmt: skip
    return {r.entry.key: r.reason for r in result.revocations()}


def test_a_manifest_leaves_out_chats_of_an_erasure_requested_but_not_yet_applied(tmp_path: Path) -> None:
    items = [
        chat("ana", "old"),
        chat("ana", "new-life", last_activity={"S": "2025-12-20T00:00:00.000000Z"}),  # written after the request
        chat("ben", "c1"),
        erasure("ana", "2025-12-01T00:00:00.000000Z"),
        erasure("ben", "2026-02-01T00:00:00.000000Z"),  # after the instant: not yet
    ]
    assert listed(tmp_path, items) == ["chats/ana/new-life.json", "chats/ben/c1.json"]


def test_a_manifest_leaves_out_a_chat_whose_deletion_is_noted_but_not_applied(tmp_path: Path) -> None:
    items = [
        chat("ana", "noted", last_deleted_at={"S": "2025-11-01T00:00:00.000000Z"}),
        chat("ana", "rewritten", last_deleted_at={"S": "2025-09-01T00:00:00.000000Z"}),
    ]
    assert listed(tmp_path, items) == ["chats/ana/rewritten.json"]


@pytest.mark.parametrize("missing", ["reason", "expires_at", "last_activity", "eligible", "state_null"])
def test_a_manifest_leaves_out_a_record_with_a_missing_attribute(tmp_path: Path, missing: str) -> None:
    change: dict[str, Any] = {missing: None} if missing != "state_null" else {"eligible": {"NULL": True}}
    assert listed(tmp_path, [chat("ana", "c1", **change), chat("ana", "whole")]) == ["chats/ana/whole.json"]


def test_verify_revokes_an_erasure_request_not_yet_applied_and_keeps_a_new_life(tmp_path: Path) -> None:
    then = [chat("ana", "c1"), chat("ana", "c2"), chat("ben", "c1")]
    now = [*then, erasure("ana", "2026-01-02T00:00:00.000000Z")]
    assert revoked(tmp_path, then, now) == {"chats/ana/c1.json": "erased", "chats/ana/c2.json": "erased"}


def test_verify_revokes_a_noted_deletion_not_yet_applied(tmp_path: Path) -> None:
    then = [chat("ana", "c1")]
    now = [chat("ana", "c1", last_deleted_at={"S": "2026-01-02T00:00:00.000000Z"})]
    assert revoked(tmp_path, then, now) == {"chats/ana/c1.json": "deleted"}


def test_verify_revokes_a_missing_reason_as_not_eligible_and_a_missing_expiry_as_expired(tmp_path: Path) -> None:
    then = [chat("ana", "no-reason"), chat("ana", "no-reason-ineligible"), chat("ana", "no-expiry"), chat("ana", "ok")]
    now = [
        chat("ana", "no-reason", reason=None),
        chat("ana", "no-reason-ineligible", reason={"NULL": True}, eligible={"BOOL": False}),
        chat("ana", "no-expiry", expires_at={"NULL": True}),
        chat("ana", "ok"),
    ]
    assert revoked(tmp_path, then, now) == {
        "chats/ana/no-reason.json": "not-eligible",
        "chats/ana/no-reason-ineligible.json": "not-eligible",
        "chats/ana/no-expiry.json": "expired",
    }


def test_verify_revokes_an_opt_out_read_from_the_consent_records_before_its_retag_lands(tmp_path: Path) -> None:
    policy = load_policy()
    granted_at = parse_instant("2025-09-01T00:00:00.000000Z")
    records = {
        "ana": ConsentRecord("ana", tier="free", training_consent="denied", consent_changed_at=granted_at, version=2),
        "ben": ConsentRecord("ben", tier="free", training_consent="granted", consent_changed_at=granted_at, version=1),
    }
    asked: list[set[str]] = []

    def consents(users: Any) -> dict[str, ConsentRecord]:
        asked.append(set(users))
        return {u: records[u] for u in users if u in records}

    items = [chat("ana", "c1"), chat("ben", "c1"), chat("cid", "c1")]  # cid: no consent record any more
    found = revoked(tmp_path, items, items, consents=consents, policy=policy)
    assert found == {"chats/ana/c1.json": "consent-denied", "chats/cid/c1.json": "consent-pending"}
    assert asked == [{"ana", "ben", "cid"}]  # one batch of users, only those the ledger still allows
