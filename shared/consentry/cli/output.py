"""What the commands print: tables, colour, times, JSON, a progress bar. Stdlib only.

Results go to stdout; notes, warnings and progress go to stderr, so that
`--json` output and manifests can be piped.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Style:
    """ANSI colour when the stream is a terminal and NO_COLOR is unset (https://no-color.org)."""

    def __init__(self, stream: TextIO | None = None, color: bool | None = None) -> None:
        if color is None:
            stream = stream or sys.stdout
            color = bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def warn(self, text: str) -> str:
        return self._wrap("33", text)

    def yes_no(self, value: bool | None) -> str:
        if value is None:
            return "-"
        return self.good("yes") if value else self.bad("no")


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    """A plain-text table: a header row, a rule, the rows; columns as wide as their widest cell."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(visible_len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = [cell + " " * (widths[i] - visible_len(cell)) for i, cell in enumerate(row)]
        return (indent + "  ".join(padded)).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


# -- time ----------------------------------------------------------------------


class TimeError(ValueError):
    """A time argument that does not parse; the message shows accepted forms."""


def parse_time(text: str) -> datetime:
    """`now`, a date (`2026-11-20`, midnight UTC) or an ISO-8601 instant with its zone (`Z` or an offset)."""
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise TimeError(
            f"not a time: {text!r} (use 'now', a date like 2026-11-20 or an instant like 2026-11-20T09:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise TimeError(f"{text!r} has no time zone: add Z or an offset (2026-11-20T09:00:00Z, ...+02:00)")
    return parsed.astimezone(UTC)


def instant(value: datetime | None) -> str:
    """An instant as operators paste it back: `2025-11-10T09:00:00Z`."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: datetime | str | None) -> str:
    """An instant for tables: `2025-11-10 09:00`."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return short(parsed)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# -- JSON ----------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes, sets and Decimals as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Decimal):  # DynamoDB's numbers: a whole number is an integer
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}: {value!r}")


def print_json(value: Any, stream: TextIO | None = None) -> None:
    json.dump(to_jsonable(value), stream or sys.stdout, indent=2, sort_keys=False)
    (stream or sys.stdout).write("\n")


def note(message: str) -> None:
    """One line for the person at the terminal, on stderr."""
    print(f"consentry: {message}", file=sys.stderr, flush=True)


# -- progress ------------------------------------------------------------------


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def advance(self, count: int, detail: str = "") -> None:
        self.done += count
        self.draw(detail)

    def draw(self, detail: str = "") -> None:
        fraction = self.done / self.total if self.total else 1.0
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = f"{self.label} [{bar}] {fraction:4.0%} {self.done}/{self.total}, {rate:,.0f}/s, eta {eta:,.0f}s"
        if self.tty:
            tail = f"  {detail}" if detail else ""
            self.stream.write("\r\x1b[2K" + (text + tail)[:160])
            self.stream.flush()
            return
        tenth = int(fraction * 10)
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
