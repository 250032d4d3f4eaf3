"""The synthesized stack (create mode, cdk.json's context), once per source state: cached as JSON.

The cache lives in the system's temp directory under a hash of everything the template depends on
(`infra/`, `shared/consentry`, `functions/`, `cdk.json`), so a rerun without changes reads a file
instead of starting jsii and CDK (several seconds). Nothing in it is a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("infra", "shared/consentry", "functions", "cdk.json")
CACHE = Path(tempfile.gettempdir()) / "consentry-synth"
TIMES: dict[str, float] = {}  # seconds spent synthesizing (absent on a cache hit), for the run's summary

Json = dict[str, Any]


def _files() -> Iterator[Path]:
    for source in SOURCES:
        path = ROOT / source
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*")):
            if found.is_file() and "__pycache__" not in found.parts and found.suffix != ".pyc":
                yield found


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in _files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


@cache
def stack_template() -> Json:
    """The template `cdk synth` makes of the default (create mode) stack."""
    path = CACHE / f"{source_hash()}.json"
    if path.is_file():
        template: Json = json.loads(path.read_text())
        return template
    from infrastructure.synthesis import synthesize  # jsii and CDK start only on a cache miss

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as outdir:
        template = synthesize(Path(outdir), {}).raw
    TIMES["synth"] = time.perf_counter() - start
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(template))
    partial.replace(path)  # atomic: a parallel run reads a whole file or none
    return template


class Template:
    """Reading a template: resources by type, outputs, the logical id behind an output."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @property
    def resources(self) -> dict[str, Json]:
        resources: dict[str, Json] = self.raw["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, Json]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    def output(self, name: str) -> Any:
        return self.raw["Outputs"][name]["Value"]

    def output_resource(self, name: str) -> str:
        """The logical id an output names (`Ref` or `Fn::GetAtt`)."""
        value = self.output(name)
        return str(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])

    def properties(self, logical_id: str) -> Json:
        properties: Json = self.resources[logical_id].get("Properties", {})
        return properties
