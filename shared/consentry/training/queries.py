"""One set of SQL queries over a ledger export: DuckDB runs them here, Athena at scale.

The queries live beside this module as `sql/<name>.sql`, written in DuckDB's
dialect, and read four relations:

- `ledger`: the export, one row per item with the struct column `Item`
  (`consentry.training.schema`);
- `chats`, `erasures`: views over `ledger` (`sql/chats.sql`, `sql/erasures.sql`),
  which tolerate missing attributes and tombstones;
- `manifest`: a snapshot's entries (bucket, key, version_id,
  consent_version, policy_version, expires_on), for `verify` and the CSV.

Parameters are DuckDB's named `$at`, `$now`, `$bucket` (instants as the
ledger's fixed-width ISO text, which sorts as time). `DuckDB` runs the text as
it is; `consentry.training.athena` transpiles the same text to Trino (Athena
engine v3) with sqlglot.

Example:
    >>> sorted(parameters(text("manifest")))
    ['at', 'bucket']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentry.training.schema import COLUMN, duckdb_type

if TYPE_CHECKING:
    import duckdb

VIEWS = ("chats", "erasures")  # defined over `ledger`, in this order
QUERIES = ("manifest", "report", "verify", "batch_operations_csv")
MANIFEST_COLUMNS = ("bucket", "key", "version_id", "consent_version", "policy_version", "expires_on")
# The Parquet manifest's last column: the chat's ledger sort key (`chat#<keyed hash>`), by which verify finds a
# removed chat's tombstone (it keeps no key). Not in the Batch Operations CSV.
MATCH_COLUMN = "chat_sk"
# DuckDB's own memory, with spilling to the work directory beyond it: the peak stays flat as the ledger grows.
MEMORY_LIMIT = "256MB"
THREADS = 2
# A DynamoDB item is at most 400 KB; in DynamoDB JSON, with its type wrappers, well under 2 MB. DuckDB's
# JSON reader buffers per thread in proportion to this (default 16 MB), which would dominate the memory.
MAX_LINE = 2 * 2**20
# Rows a Parquet writer holds before it writes them (DuckDB's default, 122,880, buffers ~20 MB per thread).
ROW_GROUP = 32_768
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
_COMMENT = re.compile(r"--[^\n]*")


class QueryError(ValueError):
    """A query input (export or manifest) that cannot be read; the message says which and why."""


def text(name: str) -> str:
    """The SQL of a query or view (`manifest`, `report`, `verify`, `batch_operations_csv`, `chats`, `erasures`)."""
    return (files("consentry.training") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def parameters(sql: str) -> set[str]:
    """The named parameters (`$name`) of a query, comments left out."""
    return set(_PARAMETER.findall(_COMMENT.sub("", sql)))


def literal(value: str) -> str:
    """A SQL string literal (the same in DuckDB and Trino)."""
    return "'" + value.replace("'", "''") + "'"


class DuckDB:
    """DuckDB embedded over the gzipped DynamoDB-JSON files of an export.

    `workdir` holds DuckDB's database file and the spill space that keeps its
    memory under `memory_limit`. An export without files reads as an empty ledger.
    """

    def __init__(
        self,
        ledger_files: Sequence[Path],
        workdir: Path,
        memory_limit: str = MEMORY_LIMIT,
        threads: int = THREADS,
    ) -> None:
        import duckdb

        workdir.mkdir(parents=True, exist_ok=True)
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(str(workdir / "queries.duckdb"))
        self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f"SET temp_directory = {literal(str(workdir / 'spill'))}")
        self.con.execute("SET preserve_insertion_order = false")  # ORDER BY still holds; the rest may stream
        self.con.execute("SET enable_external_file_cache = false")  # files are read once: caching them only grows
        self.con.execute(f"CREATE OR REPLACE VIEW ledger AS {self._source(ledger_files)}")
        for view in VIEWS:
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {text(view)}")

    @staticmethod
    def _source(ledger_files: Sequence[Path]) -> str:
        if not ledger_files:
            return f"SELECT CAST(NULL AS {duckdb_type()}) AS {COLUMN} WHERE FALSE"
        paths = ", ".join(literal(str(path)) for path in ledger_files)
        columns = f"{{{literal(COLUMN)}: {literal(duckdb_type())}}}"
        return (
            f"SELECT {COLUMN} FROM read_json([{paths}], columns = {columns}, format = 'newline_delimited', "
            f"maximum_object_size = {MAX_LINE})"
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDB:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rows(self, name: str, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of query `name` with its parameters taken from `values`."""
        sql = text(name)
        return self.con.execute(sql, _only(sql, values)).fetchall()

    def copy(self, name: str, values: Mapping[str, Any], path: Path, file_format: str = "PARQUET") -> int:
        """Write the rows of query `name` to `path` (PARQUET, or CSV without a header); the row count."""
        sql = text(name)
        options = (
            f"FORMAT PARQUET, ROW_GROUP_SIZE {ROW_GROUP}" if file_format == "PARQUET" else "FORMAT CSV, HEADER false"
        )
        self.con.execute(f"COPY ({sql}) TO {literal(str(path))} ({options})", _only(sql, values))
        return self.count(path)

    def count(self, path: Path) -> int:
        found = self.con.execute(f"SELECT count(*) FROM {self._reader(path)}").fetchone()
        return int(found[0]) if found else 0

    def parquet_rows(self, path: Path) -> list[tuple[Any, ...]]:
        return self.con.execute(f"SELECT * FROM read_parquet({literal(str(path))})").fetchall()

    def use_manifest(self, path: Path) -> int:
        """Make `manifest` the entries of a snapshot (ours: Parquet or the Batch Operations CSV); their count."""
        if path.suffix == ".parquet":
            present = {row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {self._reader(path)}").fetchall()}
            columns = ", ".join(
                f'"{c}"' if c in present else f'NULL AS "{c}"' for c in (*MANIFEST_COLUMNS, MATCH_COLUMN)
            )
            source = f"SELECT {columns} FROM {self._reader(path)}"
        else:  # the Batch Operations CSV holds no hashes: tombstones are then found as `gone`
            source = (
                'SELECT bucket, url_decode("key") AS "key", version_id, consent_version, policy_version, '
                f"CAST(expires_on AS VARCHAR) AS expires_on, NULL AS chat_sk FROM {self._reader(path)}"
            )
        self.con.execute(f"CREATE OR REPLACE VIEW manifest AS {source}")
        try:  # every column read, so that a value that does not convert is found here
            found = self.con.execute(
                "SELECT count(*), count(consent_version), max(expires_on), max(policy_version), "
                "min(CASE WHEN bucket IS NULL OR bucket = '' OR \"key\" IS NULL OR \"key\" = '' "
                "OR version_id IS NULL OR version_id = '' THEN coalesce(\"key\", '') END) FROM manifest"
            ).fetchone()
        except Exception as err:  # duckdb's errors name the CSV line; keep the first lines of the message
            raise QueryError("; ".join(str(err).splitlines()[:3])) from None
        if found and found[4] is not None:
            raise QueryError(f"entry {found[4]!r}: bucket, key and version_id are required in every entry")
        return int(found[0]) if found else 0

    @staticmethod
    def _reader(path: Path) -> str:
        if path.suffix == ".parquet":
            return f"read_parquet({literal(str(path))})"
        columns = (
            "{'bucket': 'VARCHAR', 'key': 'VARCHAR', 'version_id': 'VARCHAR', 'consent_version': 'BIGINT', "
            "'policy_version': 'VARCHAR', 'expires_on': 'DATE'}"
        )
        return (
            f"read_csv({literal(str(path))}, header = false, auto_detect = false, delim = ',', quote = '\"', "
            f"columns = {columns})"
        )


def _only(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters `sql` uses (DuckDB refuses extra ones); KeyError names a missing one."""
    return {name: values[name] for name in parameters(sql)}


__all__ = [
    "MANIFEST_COLUMNS",
    "MATCH_COLUMN",
    "QUERIES",
    "VIEWS",
    "DuckDB",
    "QueryError",
    "literal",
    "parameters",
    "text",
]
