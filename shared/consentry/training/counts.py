"""The report's numbers from a ledger export: `sql/report.sql`, run by DuckDB, kept as Parquet.

One row per (dimension, label): `objects` (the totals), `reason`, `tier`
(label NULL: no consent record), `month` (of `expires_at`), `state`. Stored
chats (all but removed ones) are counted eligible or not, held, due at `now`
(not held), with a tag error, and their users (distinct partition keys);
`records` counts every chat record of the group, removed ones too.
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
    records: int = 0
    held: int = 0
    due: int = 0
    tag_errors: int = 0
    users: int = 0

    @property
    def stored(self) -> int:
        return self.eligible + self.not_eligible


def report_files(ledger_files: list[Path], now: datetime, into: Path) -> tuple[list[Count], Path]:
    """The report's counts at `now`, and `report.parquet` (the same rows) in `into`."""
    into.mkdir(parents=True, exist_ok=True)
    out = into / PARQUET_NAME
    with DuckDB(ledger_files, into / ".duckdb") as db:
        db.copy("report", {"now": format_instant(now)}, out)
        rows = db.parquet_rows(out)
    shutil.rmtree(into / ".duckdb", ignore_errors=True)
    # COUNT_IF over no row is NULL in DuckDB
    return [Count(str(row[0]), row[1], *(int(v or 0) for v in row[2:])) for row in rows], out


__all__ = ["Count", "report_files"]
