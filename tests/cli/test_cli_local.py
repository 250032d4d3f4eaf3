"""The serve loop and the local runtime's port (where commands run: test_cli_place.py)."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator

import pytest

from consentry.cli.options import CommandError
from consentry.cli.serve import pump, serve
from consentry.local import LocalRuntime, check_port, free_port
from support import eligible, t


def test_pump_delivers_writes_as_the_serve_loop_does(runtime: LocalRuntime) -> None:
    from support import set_consent

    set_consent(runtime, "u1", "granted", t("2025-09-01"))
    runtime.put_chat("chats/u1/c1.json", at=t("2025-10-01"))
    said: list[str] = []

    assert pump(runtime, said.append) is True
    assert eligible(runtime, "chats/u1/c1.json")
    assert "S3 notification(s)" in said[0] and "consent change(s)" in said[0]
    assert pump(runtime, said.append) is False


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_serve_runs_until_stopped_and_refuses_a_busy_port(
    stop: threading.Event, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)
            if text.startswith("ready"):
                with pytest.raises(CommandError, match="already answers"):
                    serve(Out(), port=port)  # type: ignore[arg-type]
                stop.set()

        def flush(self) -> None:
            pass

    thread = threading.Thread(target=lambda: serve(Out(), port=port, stop=stop))  # type: ignore[arg-type]
    thread.start()
    thread.join(timeout=60)

    text = "".join(lines)
    assert f"embedded AWS (moto) at http://127.0.0.1:{port}" in text
    assert "ready: delivering events" in text
    assert text.rstrip().endswith("stopped; the embedded server's data is gone")


def test_local_runtime_refuses_a_port_in_use_at_once() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError):
            check_port("127.0.0.1", port)
        with pytest.raises(OSError), LocalRuntime.serve(port=port):
            pass


def test_serve_stops_within_five_seconds_of_sigterm_while_it_delivers() -> None:
    import os
    import subprocess
    import sys
    import time

    import boto3

    from consentry.cli.target import LOCAL_CREDENTIALS

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "consentry.cli.main", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**env, **LOCAL_CREDENTIALS, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        assert any(line.startswith("ready") for line in process.stdout)
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "chat-logs" in b["Name"])
        for i in range(300):  # minutes of delivery for the loop
            s3.put_object(Bucket=bucket, Key=f"chats/u{i % 7}/c{i}.json", Body=b"{}")
        delivering = next(line for line in process.stdout if "delivered" in line)
        assert delivering
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
        process.wait(timeout=10)
        took = time.monotonic() - asked
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 5, f"stopped {took:.1f} s after SIGTERM"
    assert rest.rstrip().endswith("stopped; the embedded server's data is gone")
