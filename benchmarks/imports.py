"""Handler cold import against `import boto3`, side by side in fresh interpreters.

Each round starts one interpreter that imports boto3 and one per handler
(`import app` in `functions/<name>/`, as Lambda does), interleaved, and takes
the CPU time of the import statement alone (interpreter start-up excluded; CPU
rather than wall time, which on a shared machine includes other processes'
turns and varied 1.5x to 2x between runs). The figure is the
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

# CPU time of the import statement: on a shared machine, wall time also counts other processes' turns.
TIMER = "import time; t = time.process_time(); import {module}; print(time.process_time() - t)"


def handler_dirs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


# What infra/layer.py puts in the layer (pip --no-compile, __pycache__ left out): sources only.
LAYER_PACKAGES = ("consentry", "aws_lambda_powertools", "jmespath", "typing_extensions")


def layer_as_shipped(compiled: bool = False) -> Path:
    """The layer's packages as sources without .pyc, under .bench/layer (Lambda's /opt is read-only).

    `compiled`: with bytecode compiled at build time, as `python -m compileall
    --invalidation-mode unchecked-hash` would in the layer's bundling (no
    timestamps in the .pyc, so the asset hash stays stable; it must run on the
    runtime's Python version, or the .pyc files are ignored).
    """
    target = ROOT / ".bench" / ("layer-compiled" if compiled else "layer")
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
    if compiled:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)],
            check=True,
            capture_output=True,
        )
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
    compiled: list[float] = field(default_factory=list)  # tag_on_write with the layer's bytecode compiled

    def _paired(self, times: list[float]) -> float:
        return statistics.median(h / b for h, b in zip(times, self.boto3, strict=True))

    @property
    def as_shipped_ratio(self) -> float:
        return self._paired(self.as_shipped)

    @property
    def compiled_ratio(self) -> float:
        return self._paired(self.compiled)

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
    layer, compiled_layer = layer_as_shipped(), layer_as_shipped(compiled=True)
    as_shipped: list[float] = []
    compiled: list[float] = []
    for d in dirs:  # unmeasured: compiles what changed since the last run, warms the file cache
        _time_import("app", d)
    for _ in range(rounds):
        boto3.append(_time_import("boto3", ROOT))
        for d in dirs:
            handlers[d.name].append(_time_import("app", d))
        as_shipped.append(_time_import("app", ROOT / "functions" / "tag_on_write", layer))
        compiled.append(_time_import("app", ROOT / "functions" / "tag_on_write", compiled_layer))
    return ImportCost(boto3, handlers, as_shipped, compiled)


POWERTOOLS_BASE = "from aws_lambda_powertools import Logger, Metrics"
POWERTOOLS_BATCH = (
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response; "
    "from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, EventBridgeEvent"
)
LAYERS = (
    ("boto3", "", "import boto3"),
    ("+ Powertools Logger, Metrics", "import boto3", POWERTOOLS_BASE),
    ("+ Powertools batch, data classes", f"import boto3; {POWERTOOLS_BASE}", POWERTOOLS_BATCH),
    ("+ consentry (tag_on_write)", f"import boto3; {POWERTOOLS_BASE}; {POWERTOOLS_BATCH}", "import app"),
)


def decompose(rounds: int = 5) -> list[tuple[str, float]]:
    """Median CPU seconds of each layer of the tag_on_write import, each imported after the ones above it."""
    cwd = ROOT / "functions" / "tag_on_write"
    times: dict[str, list[float]] = {label: [] for label, _, _ in LAYERS}
    for _ in range(rounds):
        for label, before, statement in LAYERS:
            code = f"{before}\nimport time; t = time.process_time()\n{statement}\nprint(time.process_time() - t)"
            out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
            times[label].append(float(out.stdout.strip()))
    return [(label, statistics.median(values)) for label, values in times.items()]


def own_modules(runs: int = 3) -> list[tuple[str, int]]:
    """Self time of each consentry module in the tag_on_write import (fastest of `runs`, -X importtime)."""
    best: dict[str, int] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import boto3; import app"],
            cwd=ROOT / "functions" / "tag_on_write",
            capture_output=True,
            text=True,
            check=True,
        )
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if m and (m[3].startswith("consentry") or m[3] in ("tomllib", "tomllib._parser")):
                best[m[3]] = min(best.get(m[3], 10**9), int(m[1]))
    return sorted(best.items(), key=lambda kv: -kv[1])
