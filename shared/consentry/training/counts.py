"""The report's numbers from a ledger export: `sql/report.sql`, run by DuckDB, kept as Parquet.

One row per (dimension, label) with the eligible and not-eligible chat
objects: `objects` (every stored chat), `reason`, `tier` (label NULL: no
consent record), `month` (of `expires_at`), `state` (every chat record,
removed ones too), `held`, `due` (at `now`, not held), `tag_errors`, and
`users` (distinct partition keys with a stored chat, in `eligible`).
`consentry report` turns them into its HTML and JSON.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from consentry.policy import format_instant
from consentry.training.queries import DuckDB

PARQUET_NAME = "report.parquet"


@dataclass(frozen=True)
class Count:
    dimension: str
    label: str | None
    eligible: int
    not_eligible: int


def report_files(ledger_files: list[Path], now: datetime, into: Path) -> tuple[list[Count], Path]:
    """The report's counts at `now`, and `report.parquet` (the same rows) in `into`."""
    into.mkdir(parents=True, exist_ok=True)
    out = into / PARQUET_NAME
    with DuckDB(ledger_files, into / ".duckdb") as db:
        db.copy("report", {"now": format_instant(now)}, out)
        rows = db.parquet_rows(out)
    shutil.rmtree(into / ".duckdb", ignore_errors=True)
    return [
        Count(str(d), label, int(e or 0), int(n or 0)) for d, label, e, n in rows
    ], out  # COUNT_IF of no row is NULL in DuckDB


__all__ = ["Count", "report_files"]
