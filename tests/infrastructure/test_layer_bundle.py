"""The layer's local bundling, run for real once (pip downloads aarch64 wheels from PyPI), and bundle sizes."""

from __future__ import annotations

import ast
import shutil
import zipfile
from pathlib import Path

from infra.functions import FUNCTIONS_DIR, SPECS
from infra.layer import RUNTIME, SERVICE, PipLayerBundling, runtime_python, runtime_requirements

from .synthesis import ROOT, SUMMARY

PACKAGE = ROOT / "shared" / "consentry"

# Lambda's limit is 250 MB unzipped for a function and its layers; this one should stay tiny.
LAYER_LIMIT_BYTES = 30 * 1024 * 1024


def zip_size(directory: Path, archive: Path) -> int:
    return Path(shutil.make_archive(str(archive), "zip", directory)).stat().st_size


def tree_size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def shipped(folder: Path) -> set[Path]:
    """Every file under `folder` but bytecode, relative to it."""
    return {f.relative_to(folder) for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts}


def test_the_service_folder_imports_nothing_beside_it() -> None:
    """What the layer ships must run without what it leaves out: no module of `service/` imports another part
    of `consentry` (at its top or inside a function), so none fails in a function with ModuleNotFoundError."""
    outside = []
    for module in sorted((PACKAGE / SERVICE).rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "consentry" else [f"consentry.{a.name}" for a in node.names]
            else:
                continue
            outside += [
                f"{module.relative_to(PACKAGE)}:{node.lineno} {name}"
                for name in names
                if name.startswith("consentry.") and not name.startswith(f"consentry.{SERVICE}")
            ]
    assert outside == []
    assert (PACKAGE / SERVICE / "handlers" / "__init__.py").is_file()  # the walk above saw the handlers


def test_runtime_dependencies_come_from_pyproject_without_boto3() -> None:
    requirements = runtime_requirements()
    assert any(r.startswith("aws-lambda-powertools") for r in requirements)
    assert not any(r.startswith(("boto3", "botocore")) for r in requirements)


def test_local_bundling_builds_a_layer_with_consentry_and_powertools(tmp_path: Path) -> None:
    out = tmp_path / "layer"
    out.mkdir()
    policy_file = ROOT / "shared/consentry/service/policies/consumer-terms-2025.toml"
    assert PipLayerBundling(runtime_requirements(), policy_file).try_bundle(str(out), None)  # type: ignore[arg-type]

    python = out / "python"
    assert (python / "consentry" / "service" / "policies" / "consumer-terms-2025.toml").is_file()
    assert (python / "aws_lambda_powertools" / "__init__.py").is_file()
    assert (out / "policy" / "consumer-terms-2025.toml").is_file()
    # Bytecode of the runtime's Python when one is here (infra/layer.py: runtime_python), else none.
    tag = "cpython-" + RUNTIME.name.removeprefix("python").replace(".", "")
    compiled = {p.parent.parent / (p.name.split(".")[0] + ".py") for p in python.rglob(f"__pycache__/*.{tag}.pyc")}
    sources = set(python.rglob("*.py"))
    if runtime_python() is None:
        assert not list(python.rglob("__pycache__"))
    else:
        assert sources <= compiled, sorted(map(str, sources - compiled))[:5]
        assert not [p for p in python.rglob("*.pyc") if f".{tag}." not in p.name]
    assert not (python / "boto3").exists()
    # The package's service folder and its root, file for file; the operator's parts beside it stay out.
    assert shipped(python / "consentry") == {Path("__init__.py")} | {SERVICE / f for f in shipped(PACKAGE / SERVICE)}
    # Only wheels for Linux on arm64 (or pure Python): no x86 or macOS binaries slipped in.
    binaries = [p.name for p in python.rglob("*.so")]
    assert all("aarch64" in name or "abi3" in name for name in binaries), binaries

    unzipped = tree_size(out)
    zipped = zip_size(out, tmp_path / "layer")
    assert unzipped < LAYER_LIMIT_BYTES
    with zipfile.ZipFile(tmp_path / "layer.zip") as archive:
        assert "python/consentry/__init__.py" in archive.namelist()
    SUMMARY["layer bundle"] = f"{zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped"


def test_the_layer_builds_the_same_bytes_twice(tmp_path: Path) -> None:
    """The asset hash is the output's: bytecode compiled at bundling must not change it from build to build."""
    trees = []
    for name in ("one", "two"):
        out = tmp_path / name
        out.mkdir()
        assert PipLayerBundling(runtime_requirements()).try_bundle(str(out), None)  # type: ignore[arg-type]
        trees.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert trees[0].keys() == trees[1].keys()
    assert [k for k in trees[0] if trees[0][k] != trees[1][k]] == []


def test_function_code_is_only_the_thin_handlers(tmp_path: Path) -> None:
    sizes = {}
    for spec in SPECS:
        directory = FUNCTIONS_DIR / spec.name
        assert (directory / "app.py").is_file()
        staged = tmp_path / spec.name
        shutil.copytree(directory, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        sizes[spec.name] = zip_size(staged, tmp_path / f"{spec.name}-code")
    assert all(size < 100_000 for size in sizes.values()), sizes
    SUMMARY["function code (zipped)"] = ", ".join(f"{name} {size} B" for name, size in sizes.items())
