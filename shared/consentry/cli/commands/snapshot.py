"""`consentry snapshot`: the training set eligible at an instant, and its re-check.

The work is done by `consentry.training.snapshot` (`take`, `write`, `read`,
`verify`), imported when the command runs, so that the rest of the CLI works
without it.
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from types import ModuleType
from typing import Any

from consentry.cli.commands.output import table
from consentry.cli.commands.target import CommandError, Target


def module() -> ModuleType:
    try:
        return importlib.import_module("consentry.training.snapshot")
    except ModuleNotFoundError as err:
        if err.name != "consentry.training.snapshot":
            raise
        raise CommandError(
            "snapshots need consentry.training.snapshot, which this installation does not have yet: upgrade consentry"
        ) from None


def take(target: Target, at: datetime, out: str | None) -> int:
    """Write the snapshot at `at` to `out` (stdout when None or '-'); returns the entry count."""
    snapshot = module()
    entries = snapshot.take(target.enforcer(), at)
    if out in (None, "-"):
        snapshot.write(entries, sys.stdout)
    else:
        with open(out, "w", encoding="utf-8", newline="") as stream:
            snapshot.write(entries, stream)
    return len(entries)


def verify(target: Target, path: str, now: datetime | None = None) -> list[Any]:
    """The revocations of a snapshot file: entries a training run must not read any more."""
    snapshot = module()
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            entries = snapshot.read(stream)
    except FileNotFoundError:
        hint = "write one with `consentry snapshot --at T --out FILE`"
        raise CommandError(f"no snapshot file {path!r}: {hint}") from None
    except ValueError as err:
        raise CommandError(f"{path} is not a snapshot this version can read: {err}") from None
    extra = {} if now is None else {"now": now}
    result: list[Any] = snapshot.verify(target.enforcer(), entries, **extra)
    return result


def render_revocations(revocations: list[Any], path: str) -> str:
    if not revocations:
        return f"{path}: every entry may still be read; nothing to revoke"
    rows = []
    for revocation in revocations:
        entry = getattr(revocation, "entry", revocation)
        rows.append(
            [
                getattr(entry, "key", str(entry)),
                getattr(entry, "version_id", "-"),
                getattr(revocation, "reason", "-"),
            ]
        )
    count = len(revocations)
    head = f"{count} entr{'y' if count == 1 else 'ies'} of {path} must not be trained on any more:"
    return f"{head}\n{table(['key', 'version', 'reason'], rows)}"
