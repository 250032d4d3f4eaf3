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


# What infra/layer.py puts in the layer (Powertools and what it needs), and what the Lambda runtime provides.
LAYER_PACKAGES = ("consentry", "aws_lambda_powertools", "jmespath", "typing_extensions")
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def runtime_interpreter() -> tuple[str, str]:
    """(interpreter, label): a CPython of the functions' runtime version if one is here, else this one."""
    from infra.layer import RUNTIME, runtime_python

    version = RUNTIME.name.removeprefix("python")
    found = runtime_python(version)
    if found is not None:
        return found, f"CPython {version}"
    return sys.executable, f"CPython {sys.version_info[0]}.{sys.version_info[1]} (no {version} here)"


def _copy_packages(names: tuple[str, ...], target: Path) -> None:
    from infra.layer import NO_BYTECODE, copy_service

    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        if name == "consentry":
            copy_service(origin.parent, target / name)
        elif origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=NO_BYTECODE)
        else:
            shutil.copy(origin, target / origin.name)


def build(python: str, compiled: bool, name: str = "") -> tuple[Path, Path]:
    """(layer, runtime) directories under .bench: the layer as infra/layer.py bundles it, boto3 as Lambda has it.

    The layer's packages are copied from this environment as infra/layer.py copies them (consentry's
    `service/` folder only), then compiled as infra/layer.py compiles them (`compile_bytecode`: unchecked
    hashes) when `compiled`. boto3 and its dependencies, which the runtime provides, are compiled as an
    installed package is (Lambda's runtime ships them with bytecode).
    """
    from infra.layer import compile_bytecode

    tag = name or ("compiled" if compiled else "sources")
    layer, runtime = ROOT / ".bench" / f"layer-{tag}", ROOT / ".bench" / "runtime"
    for directory in (layer, runtime):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    _copy_packages(LAYER_PACKAGES, layer)
    _copy_packages(RUNTIME_PACKAGES, runtime)
    if compiled:
        compile_bytecode(layer, python)
    compile_bytecode(runtime, python)
    return layer, runtime


def _time_import(python: str, module: str, cwd: Path, path: list[Path]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # /opt is read-only on Lambda: nothing compiled at import is kept for the next cold start.
    env.update(PYTHONPATH=os.pathsep.join(map(str, path)), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    out = subprocess.run(
        [python, "-S", "-c", TIMER.format(module=module)], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


SHIPPED = ROOT / ".bench" / "layer-shipped"  # the layer as infra/layer.py bundles it on this machine


def shipped_bytecode(layer: Path, python: str) -> int:
    """consentry modules in `layer` with bytecode `python` loads (its cache tag); 0: the layer ships sources only."""
    probe = [python, "-S", "-c", "import sys; print(sys.implementation.cache_tag)"]
    tag = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    return len(list((layer / "consentry").rglob(f"__pycache__/*.{tag}.pyc")))


@dataclass
class ImportCost:
    interpreter: str  # which Python measured it
    boto3: list[float]
    handlers: dict[str, list[float]]  # each handler as the layer ships (bytecode compiled at bundling)
    as_sources: list[float] = field(default_factory=list)  # tag_on_write with the layer's sources uncompiled
    bytecode: int = 0  # consentry modules shipped with bytecode for the measuring Python (0: none, a failure)

    def _paired(self, times: list[float]) -> float:
        return statistics.median(h / b for h, b in zip(times, self.boto3, strict=True))

    @property
    def sources_ratio(self) -> float:
        return self._paired(self.as_sources)

    def ratio(self, name: str) -> float:
        """Median over rounds of handler / boto3 in the same round (slow drifts of load cancel out)."""
        return self._paired(self.handlers[name])

    def min_ratio(self, name: str) -> float:
        """Fastest handler run over fastest boto3 run (interference only ever adds time)."""
        return min(self.handlers[name]) / min(self.boto3)

    @property
    def worst(self) -> tuple[str, float]:
        name = max(self.handlers, key=self.ratio)
        return name, self.ratio(name)


def measure(rounds: int = 7) -> ImportCost:
    """Each handler's import as the layer ships, against `import boto3`, on the runtime's Python if here.

    `-S` and PYTHONPATH: only the layer and the runtime's packages are importable, as on Lambda (no site
    packages of this machine). Rounds interleave boto3, every handler, and the layer without bytecode.
    """
    from infra.layer import runtime_python

    python, label = runtime_interpreter()
    # As infra/layer.py bundles: compiled only with a CPython of the runtime's version (else sources only).
    layer, runtime = build(python, compiled=runtime_python() is not None, name=SHIPPED.name.removeprefix("layer-"))
    sources, _ = build(python, compiled=False)
    dirs = handler_dirs()
    boto3: list[float] = []
    handlers: dict[str, list[float]] = {d.name: [] for d in dirs}
    as_sources: list[float] = []
    tag_on_write = ROOT / "functions" / "tag_on_write"
    for d in dirs:  # unmeasured: warms the file cache
        _time_import(python, "app", d, [layer, runtime])
    for _ in range(rounds):
        boto3.append(_time_import(python, "boto3", ROOT, [runtime]))
        for d in dirs:
            handlers[d.name].append(_time_import(python, "app", d, [layer, runtime]))
        as_sources.append(_time_import(python, "app", tag_on_write, [sources, runtime]))
    return ImportCost(label, boto3, handlers, as_sources, bytecode=shipped_bytecode(layer, python))


POWERTOOLS_BASE = "from aws_lambda_powertools import Logger, Metrics"
LAYERS = (
    ("boto3", "", "import boto3"),
    ("+ Powertools Logger, Metrics", "import boto3", POWERTOOLS_BASE),
    ("+ consentry (tag_on_write)", f"import boto3; {POWERTOOLS_BASE}", "import app"),
)


def _env(path: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=os.pathsep.join(map(str, path)), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    return env


def decompose(rounds: int = 5) -> list[tuple[str, float]]:
    """Median CPU seconds of each layer of the tag_on_write import (as shipped), each after the ones above it."""
    python, _ = runtime_interpreter()
    path = [SHIPPED, ROOT / ".bench" / "runtime"]
    cwd = ROOT / "functions" / "tag_on_write"
    times: dict[str, list[float]] = {label: [] for label, _, _ in LAYERS}
    for _ in range(rounds):
        for label, before, statement in LAYERS:
            code = f"{before}\nimport time; t = time.process_time()\n{statement}\nprint(time.process_time() - t)"
            out = subprocess.run(
                [python, "-S", "-c", code], cwd=cwd, env=_env(path), capture_output=True, text=True, check=True
            )
            times[label].append(float(out.stdout.strip()))
    return [(label, statistics.median(values)) for label, values in times.items()]


def own_modules(runs: int = 3) -> list[tuple[str, int]]:
    """Self time of each consentry module in the tag_on_write import (fastest of `runs`, -X importtime)."""
    python, _ = runtime_interpreter()
    path = [SHIPPED, ROOT / ".bench" / "runtime"]
    best: dict[str, int] = {}
    for _ in range(runs):
        out = subprocess.run(
            [python, "-S", "-X", "importtime", "-c", "import boto3; import app"],
            cwd=ROOT / "functions" / "tag_on_write",
            env=_env(path),
            capture_output=True,
            text=True,
            check=True,
        )
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if m and (m[3].startswith("consentry") or m[3] in ("tomllib", "tomllib._parser")):
                best[m[3]] = min(best.get(m[3], 10**9), int(m[1]))
    return sorted(best.items(), key=lambda kv: -kv[1])
