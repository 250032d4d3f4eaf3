"""Fixtures of the CLI tests: the command run as a user runs it, and a `consentry serve --seed` to run it against.

`cli(...)` calls `consentry.cli.main` in-process (argparse is the whole
framework: this is what the console script runs), capturing stdout, stderr
and the exit status. `run(...)` runs the installed `consentry` script in a
subprocess. `served` is one `consentry serve --seed` subprocess for the whole
session: the demo story up to its erasure step, on a free port; tests that
change data use the in-process `runtime` fixture of tests/conftest.py instead.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from clirun import SCRIPT, Result, Served, run_script

from consentry import settings
from consentry.cli import main
from consentry.local import free_port

CONTRACT_VARIABLES = (
    "CHAT_BUCKET",
    "CONSENT_TABLE",
    "LEDGER_TABLE",
    "WORK_QUEUE_URL",
    "WRITE_QUEUE_URL",
    "POLICY_FILE",
)
READY_TIMEOUT = 90


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without deployment variables, and no stray server on :5000 is ever picked up."""
    saved = dict(os.environ)
    for name in (*CONTRACT_VARIABLES, "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSENTRY_SERVE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_COLOR", "1")
    yield
    os.environ.clear()
    os.environ.update(saved)
    settings.current.cache_clear()


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`consentry ARGS...` in-process: Result(code, out, err)."""

    def call(*argv: str) -> Result:
        capsys.readouterr()  # only what this command prints (not the handlers' logs of a settle before it)
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture
def script() -> Callable[..., Result]:
    """`consentry ARGS...` in a subprocess (keyword `env` adds variables)."""
    return run_script


@pytest.fixture(scope="session", autouse=True)
def serving() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`consentry serve --seed` on a free port, started with the session so that it seeds while other tests run."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in (*CONTRACT_VARIABLES, "AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [SCRIPT, "serve", "--seed", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "NO_COLOR": "1"},
    )
    yield process, port
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def served(serving: tuple[subprocess.Popen[str], int]) -> Served:
    """The `serving` server once ready (its 'ready' line read; no sleeping)."""
    process, port = serving
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    banner: list[str] = []
    while True:
        line = lines.get(timeout=READY_TIMEOUT)
        if line is None:
            error = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"consentry serve ended before ready: {banner} {error}")
        banner.append(line)
        if line.startswith("ready"):
            return Served(f"http://127.0.0.1:{port}", banner, process)
