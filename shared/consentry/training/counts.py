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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from consentry.service.policy import format_instant
from consentry.training.queries import DuckDB, literal

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
    return from_rows(rows), out


def from_rows(rows: Iterable[Sequence[object]]) -> list[Count]:
    """Counts from `sql/report.sql`'s rows, on either engine (Athena gives every value as text)."""
    # COUNT_IF over no row is NULL in DuckDB
    return [Count(str(row[0]), None if row[1] is None else str(row[1]), *(_whole(v) for v in row[2:])) for row in rows]


def _whole(value: object) -> int:
    """A count as DuckDB (an integer, or a float from a window) or Athena (text) gives it."""
    return int(Decimal(str(value))) if value is not None else 0


def counts_parquet(counts: Sequence[Count], path: Path) -> Path:
    """The counts as `report.parquet` holds them (for rows that came from Athena)."""
    import duckdb

    names = [field.name for field in fields(Count)]
    with duckdb.connect() as con:
        con.execute(
            f"CREATE TABLE report (dimension VARCHAR, label VARCHAR, {', '.join(f'{n} BIGINT' for n in names[2:])})"
        )
        if counts:
            con.executemany(
                f"INSERT INTO report VALUES ({', '.join('?' * len(names))})",
                [[getattr(c, n) for n in names] for c in counts],
            )
        con.execute(f"COPY report TO {literal(str(path))} (FORMAT PARQUET)")
    return path


__all__ = ["Count", "counts_parquet", "from_rows", "report_files"]
