"""The serve loop and the local runtime's port (where commands run: test_cli_place.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from consentry.cli.commands.serve import pump, serve
from consentry.cli.commands.target import CommandError
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
