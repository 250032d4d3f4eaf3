"""The table: one row per budget, with the measured figure and PASS, FAIL or INFO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    budget: str
    limit: str
    measured: str
    passed: bool | None  # None: reported, no budget

    @property
    def result(self) -> str:
        return "INFO" if self.passed is None else ("PASS" if self.passed else "FAIL")


def table(rows: Sequence[Row]) -> str:
    headers = ("#", "budget", "limit", "measured", "result")
    cells = [(str(i + 1), r.budget, r.limit, r.measured, r.result) for i, r in enumerate(rows)]
    widths = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(headers)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [_row(headers, widths), line]
    out += [_row(c, widths) for c in cells]
    return "\n".join(out)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)).rstrip()


def section(title: str, lines: Sequence[str]) -> str:
    return "\n".join([f"\n{title}", "-" * len(title), *lines])


def money(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    if value >= 0.01:
        return f"${value:.4f}"
    return f"${value:.6f}"


def mb(value: float) -> str:
    return f"{value / 2**20:.2f} MB"
