"""The training side at 10k, 100k and 1M ledger records: snapshot, verify and report, old path vs new.

`python -m benchmarks.training [--sizes 10000,100000,1000000]` prints the
table; `python -m benchmarks` runs 10k and 100k, the old path at 10k (1M, and
the old path at 100k, with `--training-1m`).

- **New path** (`consentry.training`): DuckDB over the export's files, writing
  Parquet and the Batch Operations CSV. The ledger export is written straight
  into DynamoDB's export format (gzipped DynamoDB JSON, parts of 250k items,
  items shaped as `ChatRecord.to_ledger` writes them, one history entry, ~630 B)
  instead of going through moto: moto's export of 1M items would take longer
  than everything measured. S3 transfer and the export itself are left out
  (DynamoDB's work, billed per GB: docs/cost.md).
- **Old path** (`benchmarks.old_training`, the code before the export-based path): a Scan
  of the ledger on moto (in-process, `benchmarks.motofast`), every record a
  Python object, sorted; verify with a BatchGetItem per 100 entries and two S3
  calls per entry. It runs at 10k and 100k (verify at 10k only: 2 S3 calls per
  entry); larger sizes are extrapolated linearly from the largest measured
  (time, and memory above the process's base) and marked `~`. Its ledger has
  no tombstones: the old code cannot read them.

Each figure comes from a child process of its own: time is `perf_counter`
around the operation alone, memory is the child's peak resident set
(`getrusage(RUSAGE_SELF).ru_maxrss`, read by the child at its end: Python,
DuckDB's native memory and, for the old path, moto's transient responses), and
`+` the part above the child's resident set just before the operation (after
imports, and after seeding moto for the old path).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.deploy import ROOT, prepare_environment

SIZES = (10_000, 100_000)
LARGE = 1_000_000
OLD_SIZES = (10_000,)  # the old path on moto in the default run (it adds about a minute)
OLD_SIZES_FULL = (10_000, 100_000)  # with --training-1m
OLD_VERIFY_MAX = 10_000  # the old verify (2 S3 calls per entry) up to here
PART = 50_000  # items per export data file (DynamoDB splits an export into many files)
BUCKET = "consentry-chat-logs-123456789012-us-east-1"
T = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 2, tzinfo=UTC)
OPS = ("snapshot", "verify", "report")
# Budgets of the export-based path, from 100k to 1M records.
MEMORY_GROWTH = 1.5
TIME_GROWTH = 12.0


# -- the ledger, in the export's format ------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item(i: int, fresh: bool = False, tombstones: bool = True) -> dict[str, Any]:
    """Ledger item number `i` as DynamoDB JSON: 50% eligible, the rest spread over the other reasons and states.

    `fresh`: the ledger some days later: of every 100, 2 opted out, 1 written again, 1 removed.
    """
    user, kind = f"user{i // 100:07d}-abcdefghij", i % 100
    key = f"chats/{user}/{i:08d}-89ab-cdef-0123-456789abcdef.json"
    activity = datetime(2025, 9, 1, tzinfo=UTC) + timedelta(minutes=i % 150_000)
    eligible, reason, days, state = True, "consent-granted", 1825, "active"
    if (fresh and kind in (0, 1)) or 50 <= kind < 70:
        eligible, reason, days = False, "consent-denied", 30
    elif 70 <= kind < 85:
        eligible, reason, days = False, "commercial-tier", 365
    elif 85 <= kind < 90:
        eligible, reason, days = False, "consent-pending", 30
    elif 90 <= kind < 95 or (fresh and kind == 3):
        eligible, reason, days, state = False, "deleted", 0, "removed"
    elif 95 <= kind < 98:
        eligible, reason, days, state = False, "deleted", 0, "deleted"
    expires = activity + timedelta(days=days)
    version = f"v{i:010d}{'x' if fresh and kind == 2 else ''}" + "0" * 20
    if (state == "removed" and tombstones and kind < 93) or (fresh and kind == 3 and tombstones):
        return {
            "pk": {"S": f"user#{zlib.crc32(user.encode()):08x}"},
            "sk": {"S": f"chat#{i:064x}"},
            "state": {"S": "removed"},
            "reason": {"S": "deleted"},
            "deleted_at": {"S": _iso(expires)},
            "policy_version": {"S": "consumer-terms-2025@1"},
            "ttl": {"N": str(int(expires.timestamp()) + 30 * 86400)},
        }
    out: dict[str, Any] = {
        "pk": {"S": f"user#{user}"},
        "sk": {"S": f"chat#{key}"},
        "user_id": {"S": user},
        "key": {"S": key},
        "last_activity": {"S": _iso(activity)},
        "eligible": {"BOOL": eligible},
        "reason": {"S": reason},
        "retention_days": {"N": str(days)},
        "expires_at": {"S": _iso(expires)},
        "expires_on": {"S": expires.strftime("%Y-%m-%d")},
        "policy_version": {"S": "consumer-terms-2025@1"},
        "consent_version": {"N": "2"},
        "tier": {"S": "team" if reason == "commercial-tier" else "pro"},
        "incognito": {"BOOL": False},
        "state": {"S": state},
        "held": {"BOOL": state == "deleted"},
        "version_id": {"S": version},
        "revision": {"N": "1"},
        "due_shard": {"S": f"{i % 16:02d}"},
        "history": {
            "L": [
                {
                    "M": {
                        "event": {"S": "write"},
                        "at": {"S": _iso(activity)},
                        "eligible": {"BOOL": eligible},
                        "reason": {"S": reason},
                        "consent_version": {"N": "2"},
                        "expires_on": {"S": expires.strftime("%Y-%m-%d")},
                        "state": {"S": "active"},
                    }
                }
            ]
        },
    }
    if state != "active":
        out["deleted_at"] = {"S": _iso(activity + timedelta(days=1))}
    if kind in (98, 99):
        out["eligible"], out["tag_error"] = {"BOOL": False}, {"S": "tag-limit"}
    return out


def write_export(n: int, into: Path, fresh: bool = False) -> list[Path]:
    """The export of an `n`-record ledger as DynamoDB writes it: `data/*.json.gz`, one item a line."""
    into.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, n, PART):
        path = into / f"part-{start // PART:05d}.json.gz"
        with gzip.open(path, "wt", compresslevel=1, encoding="utf-8") as out:
            for i in range(start, min(n, start + PART)):
                out.write(json.dumps({"Item": item(i, fresh)}, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths


# -- one measurement, in a child process ------------------------------------------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _new(op: str, work: Path) -> dict[str, Any]:
    from consentry.training import counts, snapshot

    then = sorted((work / "then").glob("*.json.gz"))
    fresh = sorted((work / "now").glob("*.json.gz"))
    manifest = work / "manifest" / "manifest.parquet"
    base = _rss_kb()
    start = time.perf_counter()
    if op == "snapshot":
        result: Any = snapshot.manifest_files(then, T, BUCKET, work / "manifest").entries
    elif op == "verify":
        result = snapshot.verify_files(fresh, manifest, NOW, BUCKET, work / "verify").revoked
    else:
        result = len(counts.report_files(then, NOW, work / "report")[0])
    return {"seconds": time.perf_counter() - start, "base_kb": base, "result": result}


def _old(op: str, n: int, work: Path) -> dict[str, Any]:
    from moto import mock_aws

    from benchmarks import old_training, seed
    from benchmarks.motofast import faster_moto
    from consentry.local import LocalRuntime
    from consentry.service.flows.enforcer import Enforcer

    with faster_moto(), mock_aws():
        runtime = LocalRuntime.provisioned("bench")
        table = seed._table(runtime.env["LEDGER_TABLE"])
        consents = seed._table(runtime.env["CONSENT_TABLE"])
        consents.stream_shard = None
        for user in range((n + 99) // 100):
            consents.put_item(
                {
                    "user_id": {"S": f"user{user:07d}-abcdefghij"},
                    "tier": {"S": "pro"},
                    "training_consent": {"S": "granted"},
                    "consent_changed_at": {"S": "2025-08-30T00:00:00Z"},
                    "version": {"N": "2"},
                },
                overwrite=True,
            )
        for i in range(n):
            record = item(i, tombstones=False)
            if op == "verify" and record["eligible"]["BOOL"]:
                record["version_id"] = {"S": seed._put_object(runtime.bucket, record["key"]["S"], {}, {})}
            table.put_item(record, overwrite=True)
        enforcer = Enforcer.from_env()
        entries = old_training.take(enforcer, T) if op == "verify" else []
        base = _rss_kb()
        start = time.perf_counter()
        if op == "snapshot":
            taken = old_training.take(enforcer, T)
            with open(work / "old.csv", "w", encoding="utf-8", newline="") as out:
                old_training.write(taken, out)
            result: Any = len(taken)
        elif op == "verify":
            result = len(old_training.verify(enforcer, entries, NOW))
        else:
            result = old_training.collect(enforcer.ledger.scan(), NOW, "p", "bench", runtime.bucket).objects
        return {"seconds": time.perf_counter() - start, "base_kb": base, "result": result}


def child_main(argv: list[str]) -> None:
    path, op, n, work = argv[0], argv[1], int(argv[2]), Path(argv[3])
    out = _new(op, work) if path == "new" else _old(op, n, work)
    out["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


def run_child(path: str, op: str, n: int, work: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.training", "--child", path, op, str(n), str(work)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{path} {op} n={n} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    seconds: float
    peak_mb: float
    above_mb: float
    extrapolated: bool = False

    def cell(self) -> str:
        mark = "~" if self.extrapolated else ""
        return f"{mark}{self.seconds:.2f} s, {mark}{self.peak_mb:.0f} MB (+{self.above_mb:.0f})"


def _figure(raw: dict[str, Any]) -> Figure:
    return Figure(raw["seconds"], raw["peak_kb"] / 1024, (raw["peak_kb"] - raw["base_kb"]) / 1024)


def _extrapolate(measured: dict[int, Figure], n: int) -> Figure:
    largest = max(measured)
    f = measured[largest]
    scale = n / largest
    base = f.peak_mb - f.above_mb
    return Figure(f.seconds * scale, base + f.above_mb * scale, f.above_mb * scale, extrapolated=True)


def measure(
    sizes: tuple[int, ...] = SIZES, old_sizes: tuple[int, ...] = OLD_SIZES, log: Any = sys.stderr
) -> dict[str, dict[str, dict[int, Figure]]]:
    """figures[path][op][n] for path in (old, new); the old path measured at `old_sizes`, extrapolated beyond."""
    figures: dict[str, dict[str, dict[int, Figure]]] = {"old": {op: {} for op in OPS}, "new": {op: {} for op in OPS}}
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"consentry-bench-{n}-"))
        try:
            print(f"  training: export of {n:,} records (written directly) ...", file=log, flush=True)
            write_export(n, work / "then")
            write_export(n, work / "now", fresh=True)
            for op in OPS:
                print(f"  training: new {op} n={n:,} ...", file=log, flush=True)
                figures["new"][op][n] = _figure(run_child("new", op, n, work))
            for op in OPS:
                if n in old_sizes and (op != "verify" or n <= OLD_VERIFY_MAX):
                    print(f"  training: old {op} n={n:,} (moto) ...", file=log, flush=True)
                    figures["old"][op][n] = _figure(run_child("old", op, n, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for op in OPS:
        measured = dict(figures["old"][op])
        for n in sizes:
            if n not in measured and measured:
                figures["old"][op][n] = _extrapolate(measured, n)
    return figures


def growth(figures: dict[str, dict[str, dict[int, Figure]]], op: str, small: int, large: int) -> tuple[float, float]:
    a, b = figures["new"][op][small], figures["new"][op][large]
    return b.seconds / a.seconds, b.peak_mb / a.peak_mb


def lines(figures: dict[str, dict[str, dict[int, Figure]]]) -> list[str]:
    sizes = sorted(figures["new"]["snapshot"])
    out = [f"{'records':>10}  {'operation':<9}  {'old path (Scan on moto, Python)':<36}  new path (export + DuckDB)"]
    for n in sizes:
        for op in OPS:
            old = figures["old"][op].get(n)
            out.append(f"{n:>10,}  {op:<9}  {old.cell() if old else '-':<36}  {figures['new'][op][n].cell()}")
    if 100_000 in sizes and LARGE in sizes:
        for op in OPS:
            t, m = growth(figures, op, 100_000, LARGE)
            out.append(f"new {op} 100k -> 1M: time x{t:.1f} (budget <= {TIME_GROWTH:.0f}), peak x{m:.2f} (<= 1.5)")
    out.append(
        "time: the operation alone; MB: the child's peak RSS (+ above its RSS before the operation); ~ extrapolated"
    )
    return out


def rows(figures: dict[str, dict[str, dict[int, Figure]]]) -> list[Any]:
    from benchmarks.report import Row

    sizes = sorted(figures["new"]["snapshot"])
    out = []
    if 100_000 in sizes and LARGE in sizes:
        for op in OPS:
            t, m = growth(figures, op, 100_000, LARGE)
            out.append(
                Row(
                    f"training {op}, new path: time 100k -> 1M", f"<= {TIME_GROWTH:.0f}x", f"{t:.1f}x", t <= TIME_GROWTH
                )
            )
            out.append(
                Row(
                    f"training {op}, new path: peak memory 100k -> 1M",
                    f"<= {MEMORY_GROWTH}x",
                    f"{m:.2f}x",
                    m <= MEMORY_GROWTH,
                )
            )
    else:
        small, large = sizes[0], sizes[-1]
        for op in OPS:
            t, m = growth(figures, op, small, large)
            out.append(
                Row(
                    f"training {op}, new path: {small:,} -> {large:,} (1M: --training-1m)",
                    "report",
                    f"time x{t:.1f}, peak x{m:.2f}",
                    None,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["--child"]:
        child_main(args_list[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="ledger sizes (default 10k,100k,1M)")
    parser.add_argument("--old-sizes", default="10000,100000", help="sizes the old path runs at (moto)")
    args = parser.parse_args(args_list)
    figures = measure(
        tuple(int(s) for s in args.sizes.split(",")), tuple(int(s) for s in args.old_sizes.split(",") if s)
    )
    print("\n".join(lines(figures)))
    from benchmarks.report import table

    print(table(rows(figures)))
    return 0 if all(r.passed is not False for r in rows(figures)) else 1


if __name__ == "__main__":
    prepare_environment()
    sys.exit(main())
