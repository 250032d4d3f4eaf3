"""The shape of a ledger export as the queries read it: one column `Item`, a struct of typed attributes.

DynamoDB writes an export (`ExportFormat=DYNAMODB_JSON`) as gzipped lines
`{"Item": {"pk": {"S": "user#..."}, "eligible": {"BOOL": true}, "revision": {"N": "3"}, ...}}`.
Both engines read only the attributes listed here, each as a struct of its
type's field: DuckDB through `read_json(..., columns=...)`, Athena through the
Glue table's column type (`infra/training.py`). Numbers stay text (`N`) and
are cast in SQL; an attribute that is absent, or `{"NULL": true}`, reads as
NULL. `history` is never read.

Example:
    >>> duckdb_type()[:40]
    'STRUCT("pk" STRUCT("S" VARCHAR), "sk" ST'
    >>> hive_type()[:36]
    'struct<pk:struct<s:string>,sk:struct'
"""

from __future__ import annotations

# attribute -> DynamoDB JSON type of the attributes the queries read (aws/ledger.py writes them).
ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("pk", "S"),
    ("sk", "S"),
    ("user_id", "S"),
    ("key", "S"),
    ("last_activity", "S"),
    ("eligible", "BOOL"),
    ("reason", "S"),
    ("retention_days", "N"),
    ("expires_at", "S"),
    ("expires_on", "S"),
    ("policy_version", "S"),
    ("consent_version", "N"),
    ("tier", "S"),
    ("state", "S"),
    ("deleted_at", "S"),
    ("last_deleted_at", "S"),  # a deletion noted on the key, applied or not (its life ends there)
    ("held", "BOOL"),
    ("tag_error", "S"),
    ("version_id", "S"),
    ("requested_at", "S"),  # erasure requests (sk `erasure#...`)
)
COLUMN = "Item"
_DUCKDB = {"S": "VARCHAR", "N": "VARCHAR", "BOOL": "BOOLEAN"}
_HIVE = {"S": "string", "N": "string", "BOOL": "boolean"}


def duckdb_type() -> str:
    """The `Item` column's type in DuckDB's syntax."""
    fields = ", ".join(f'"{name}" STRUCT("{kind}" {_DUCKDB[kind]})' for name, kind in ATTRIBUTES)
    return f"STRUCT({fields})"


def hive_type() -> str:
    """The `Item` column's type as a Glue table declares it (the JSON SerDe matches names case-insensitively)."""
    fields = ",".join(f"{name}:struct<{kind.lower()}:{_HIVE[kind]}>" for name, kind in ATTRIBUTES)
    return f"struct<{fields}>"


__all__ = ["ATTRIBUTES", "COLUMN", "duckdb_type", "hive_type"]
