"""The Lambda layer holding `consentry` and its runtime dependencies, built without Docker.

Local bundling pip-installs the dependencies as manylinux aarch64 wheels for the functions'
Python version into `python/`, then copies the package next to them. No Docker image is
ever pulled: the `image` below only satisfies the BundlingOptions signature.

Bytecode: Lambda mounts a layer read-only, so a module shipped without its `.pyc` is compiled
on every cold start. When a CPython of the runtime's version is at hand (`runtime_python`),
every module is compiled with it at bundling, `--invalidation-mode unchecked-hash` (no
timestamps) and `PYTHONHASHSEED=0` (set constants marshalled in one order), so the same
sources give the same bytes and the asset hash stays stable. Without one the layer ships
sources only, and synth says so; a build image of the runtime (`public.ecr.aws/sam/build-
python3.13`) would run the same `compileall` command inside Docker.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import ROOT, SHARED

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
PLATFORM = "manylinux2014_aarch64"
# boto3/botocore ship with the Lambda runtime; bundling them would add ~20 MB for nothing we use.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
# Where a custom policy file lands: layers are mounted under /opt.
POLICY_DIR = "policy"
# What runs in a function is one folder of the package; the operator's parts beside it (CLI, demo, report,
# snapshots, the training reader, provisioning, the local runtime on moto, the testing kit) never do.
SERVICE = "service"
# shutil.copytree's ignore for a package copied into the layer: bytecode is compiled at bundling, or not at all.
NO_BYTECODE = shutil.ignore_patterns("__pycache__", "*.pyc")


# Where to look for a CPython of the runtime's version, after $CONSENTRY_LAYER_PYTHON and the PATH.
PYENV_PYTHONS = "~/.pyenv/versions/{version}*/bin/python{version}"


def runtime_python(version: str = RUNTIME.name.removeprefix("python")) -> str | None:
    """A CPython interpreter of `version` (e.g. "3.13") that runs, or None.

    `$CONSENTRY_LAYER_PYTHON` first (it must be of that version), then `python<version>` on the PATH (a
    pyenv shim that names no installed version does not run), then pyenv's installed versions.
    """
    candidates = [os.environ.get("CONSENTRY_LAYER_PYTHON"), shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(PYENV_PYTHONS.format(version=version))), reverse=True)
    probe = "import sys, platform; print(platform.python_implementation(), *sys.version_info[:2])"
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run(
                [candidate, "-c", probe],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.split() == ["CPython", *version.split(".")]:
            return candidate
    return None


def compile_bytecode(target: Path, python: str, mounted_at: str = "/opt/python") -> None:
    """Compile every module under `target` with `python`, reproducibly (same sources, same bytes).

    Code objects name their file as Lambda will see it (`mounted_at`), not the build's directory.
    """
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    command += ["-s", str(target), "-p", mounted_at, str(target)]
    subprocess.run(command, check=True, env=env)


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The package's dependencies from pyproject.toml, less those the runtime provides."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [r for r in project["dependencies"] if _name(r) not in PROVIDED_BY_RUNTIME]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower()


def layer_policy_path(policy_file: Path) -> str:
    """Where the functions find a custom policy file (their POLICY_FILE)."""
    return f"/opt/{POLICY_DIR}/{policy_file.name}"


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Builds the layer directory on this machine (no Docker)."""

    def __init__(self, requirements: list[str], policy_file: Path | None = None) -> None:
        self.requirements = requirements
        self.policy_file = policy_file

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        target = Path(output_dir) / "python"
        version = RUNTIME.name.removeprefix("python")
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target),
            "--platform", PLATFORM, "--implementation", "cp", "--python-version", version,
            "--only-binary=:all:",
            "--no-compile",  # pip's .pyc embed timestamps, for this Python: compiled below, reproducibly
            *self.requirements,
        ]  # fmt: skip
        subprocess.run(command, check=True)
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts (jp.py): nothing a function runs
        copy_service(SHARED / "consentry", target / "consentry")
        python = runtime_python(version)
        if python is not None:
            compile_bytecode(target, python)
        else:
            print(
                f"consentry layer: no CPython {version} found (set CONSENTRY_LAYER_PYTHON): the layer ships sources "
                "only, and every cold start compiles them (docs/cost.md, Cold start)",
                file=sys.stderr,
            )
        if self.policy_file is not None:
            (Path(output_dir) / POLICY_DIR).mkdir()
            shutil.copy(self.policy_file, Path(output_dir) / POLICY_DIR / self.policy_file.name)
        return True


def copy_service(package: Path, to: Path) -> None:
    """The package as a function has it: its root `__init__` and its `service/` folder, no bytecode."""
    to.mkdir(parents=True)
    shutil.copy(package / "__init__.py", to / "__init__.py")
    shutil.copytree(package / SERVICE, to / SERVICE, ignore=NO_BYTECODE)


class ConsentryLayer(Construct):
    """One layer shared by the six functions: `consentry`, Powertools, and a custom policy file if any."""

    def __init__(self, scope: Construct, construct_id: str, *, policy_file: Path | None = None) -> None:
        super().__init__(scope, construct_id)
        self.bundling = PipLayerBundling(runtime_requirements(), policy_file)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            description="consentry and its runtime dependencies",
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            code=lambda_.Code.from_asset(
                str(SHARED),
                exclude=["__pycache__", "*.pyc", "*.egg-info"],
                # The output hash changes exactly when the bundle does (new dependency versions included).
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("unused-local-bundling"),
                    # jsii passes BundlingOptions as one argument; mypy knows only the keyword-expanded protocol.
                    local=cast(ILocalBundling, self.bundling),
                ),
            ),
        )
