"""Handler cold import against `import boto3`, side by side in fresh interpreters.

Each round starts one interpreter that imports boto3 and one per handler
(`import app` in `functions/<name>/`, as Lambda does), interleaved, and times
the import statement alone (interpreter start-up excluded). The figure is the
median over rounds of the ratio handler / boto3 within a round; it is a ratio
of times measured side by side, never a threshold on seconds. `-X importtime` then tells where a handler's import goes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.deploy import ROOT

TIMER = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def handler_dirs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


# What infra/layer.py puts in the layer (pip --no-compile, __pycache__ left out): sources only.
LAYER_PACKAGES = ("consentry", "aws_lambda_powertools", "jmespath", "typing_extensions")


def layer_as_shipped() -> Path:
    """The layer's packages as sources without .pyc, under .bench/layer (Lambda's /opt is read-only)."""
    target = ROOT / ".bench" / "layer"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in LAYER_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(origin, target / origin.name)
    return target


def _time_import(module: str, cwd: Path, layer: Path | None = None) -> float:
    env = dict(os.environ)
    if layer is not None:
        # Nothing compiled is found or written: every module of the layer is compiled on import, as on a cold start.
        env.update(PYTHONPATH=str(layer), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(module=module)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


@dataclass
class ImportCost:
    boto3: list[float]
    handlers: dict[str, list[float]]
    as_shipped: list[float] = field(default_factory=list)  # tag_on_write with the layer's sources uncompiled

    @property
    def as_shipped_ratio(self) -> float:
        return statistics.median(h / b for h, b in zip(self.as_shipped, self.boto3, strict=True))

    def ratio(self, name: str) -> float:
        """Median over rounds of handler / boto3 in the same round (slow drifts of load cancel out)."""
        return statistics.median(h / b for h, b in zip(self.handlers[name], self.boto3, strict=True))

    def min_ratio(self, name: str) -> float:
        """Fastest handler run over fastest boto3 run (interference only ever adds time)."""
        return min(self.handlers[name]) / min(self.boto3)

    @property
    def worst(self) -> tuple[str, float]:
        name = max(self.handlers, key=self.ratio)
        return name, self.ratio(name)


def measure(rounds: int = 7) -> ImportCost:
    dirs = handler_dirs()
    boto3: list[float] = []
    handlers: dict[str, list[float]] = {d.name: [] for d in dirs}
    layer = layer_as_shipped()
    as_shipped: list[float] = []
    for d in dirs:  # unmeasured: compiles what changed since the last run, warms the file cache
        _time_import("app", d)
    for _ in range(rounds):
        boto3.append(_time_import("boto3", ROOT))
        for d in dirs:
            handlers[d.name].append(_time_import("app", d))
        as_shipped.append(_time_import("app", ROOT / "functions" / "tag_on_write", layer))
    return ImportCost(boto3, handlers, as_shipped)


def breakdown(handler: str = "tag_on_write", top: int = 8) -> list[tuple[str, int]]:
    """The heaviest imports a handler adds on top of boto3 (cumulative microseconds, `-X importtime`)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import boto3; import app"],
        cwd=ROOT / "functions" / handler,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[str, int]] = []
    after_boto3 = False
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        depth, name = len(m[3]), m[4]
        if name == "boto3" and depth == 1:
            after_boto3 = True
            continue
        if after_boto3 and name.split(".")[0] in ("consentry", "aws_lambda_powertools", "asyncio", "tomllib"):
            rows.append((name, int(m[2])))
    # Cumulative times: a package's row includes its children's.
    return sorted(rows, key=lambda r: -r[1])[:top]
