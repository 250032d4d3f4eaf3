"""Running the `consentry` command as a user does, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = str(Path(sys.executable).with_name("consentry"))


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_script(*argv: str, env: dict[str, str | None] | None = None, timeout: float = 60) -> Result:
    """The installed `consentry` script in a subprocess (`env` adds variables; None removes one)."""
    full_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    done = subprocess.run([SCRIPT, *argv], capture_output=True, text=True, env=full_env, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Served:
    """A `consentry serve` subprocess: its address and what it printed before `ready`."""

    url: str
    banner: list[str]
    process: subprocess.Popen[str]


def local(server: Any) -> tuple[str, ...]:
    """The options that point a command at a `server` fixture's deployment (prefix `test`)."""
    assert server.endpoint_url is not None
    return ("--endpoint-url", server.endpoint_url, "--prefix", "test")
