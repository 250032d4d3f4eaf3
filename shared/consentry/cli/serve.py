"""`consentry serve`: the embedded server and the local runtime, in the foreground, until Ctrl-C.

The other commands find it at http://127.0.0.1:5000 (or CONSENTRY_SERVE_URL)
and work on what it holds; boto3, the AWS CLI or a browser
(`/moto-api/`) can use it too. Writes to the bucket, changes of the consent
table and work-queue messages are delivered to the handlers every half
second, as Lambda would deliver them. SIGINT or SIGTERM stops it at once
(delivery runs in a thread of its own, and a stop discards the data anyway);
a second one ends the process.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TextIO

from consentry.cli.options import CommandError
from consentry.cli.output import Style, to_jsonable
from consentry.cli.target import LOCAL_CREDENTIALS, moto_answers, serve_url
from consentry.service.records import State

POLL_SECONDS = 0.5


def _delivered(runtime: Any) -> tuple[int, int, int, int]:
    d = runtime.delivered
    return d.writes, d.stream, d.work, d.failures


def pump(
    runtime: Any,
    say: Callable[[str], None],
    emit: Callable[..., None] | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Deliver everything pending once (until `stop` is set); say what was delivered. False when nothing was."""
    before = _delivered(runtime)
    runtime.settle(stopping=stop.is_set if stop is not None else None)
    after = _delivered(runtime)
    writes, stream, work, failures = (a - b for a, b in zip(after, before, strict=True))
    if not (writes or stream or work):
        return False
    now = datetime.now(UTC)
    text = (
        f"[{now:%H:%M:%S}] delivered {writes} S3 notification(s), {stream} consent change(s), {work} work message(s)"
        + (f", {failures} failed (retried, then dead-lettered)" if failures else "")
    )
    if emit is not None:
        emit("delivered", text, at=now, writes=writes, consent_changes=stream, work=work, failures=failures)
    else:
        say(text)
    return True


def serve(
    out: TextIO,
    port: int = 5000,
    host: str = "127.0.0.1",
    prefix: str = "consentry",
    seed: bool = False,
    stop: threading.Event | None = None,
    as_json: bool = False,
) -> int:
    """Serve until stopped. With `as_json`, one JSON object per line (`event`: listening, seeded, ready,
    delivered, stopped) instead of the text lines: a supervisor reads them as they come."""
    from consentry.cli import demo
    from consentry.local import LocalRuntime

    url = f"http://{host}:{port}"
    if moto_answers(url):
        raise CommandError(f"a server already answers at {url} (another `consentry serve`?): use it, or pass --port")
    style = Style(out)

    def say(text: str) -> None:
        if not as_json:
            print(text, file=out, flush=True)

    def emit(event: str, text: str, **data: Any) -> None:
        if as_json:
            print(json.dumps(to_jsonable({"event": event, **data})), file=out, flush=True)
        else:
            say(text)

    try:
        context = LocalRuntime.serve(prefix, port=port, host=host)
        runtime = context.__enter__()
    except OSError as err:
        raise CommandError(f"cannot listen on {host}:{port} ({err.strerror}): pass another --port") from None
    stop = stop or threading.Event()
    restore = _on_signals(stop)
    try:
        env = runtime.env
        emit(
            "listening",
            style.bold(f"consentry serve: embedded AWS (moto) at {url}, prefix {prefix!r}"),
            url=url,
            prefix=prefix,
            bucket=env["CHAT_BUCKET"],
            consent_table=env["CONSENT_TABLE"],
            ledger_table=env["LEDGER_TABLE"],
            work_queue_url=env["WORK_QUEUE_URL"],
            write_queue_url=env["WRITE_QUEUE_URL"],
        )
        say(f"  bucket {env['CHAT_BUCKET']}, consent table {env['CONSENT_TABLE']}, ledger {env['LEDGER_TABLE']}")
        if seed:
            say("  seeding the demo story up to its erasure step (2025-11-22); the sweep a year later is yours:")
            outcome = demo.play(runtime, through=demo.SWEEP_STEP - 1)
            stored = sum(r.state != State.REMOVED for r in outcome.records.values())
            emit(
                "seeded",
                f"  seeded {len(outcome.records)} chat objects of {len(demo.CAST) + 1} users, {stored} stored; "
                "try `consentry sweep --dry-run --now 2026-11-20`",
                chats=len(outcome.records),
                users=len(demo.CAST) + 1,
                stored=stored,
            )
        if url == serve_url():
            say("  other commands use this server while it runs: consentry report, consentry explain --user ava, ...")
        else:
            say(f"  other commands use it with --endpoint-url {url} (or export CONSENTRY_SERVE_URL={url})")
        exports = " ".join(f"{k}={v}" for k, v in LOCAL_CREDENTIALS.items() if k != "AWS_ACCOUNT_ID_ENDPOINT_MODE")
        say(f"  for boto3 / the AWS CLI: export AWS_ENDPOINT_URL={url} {exports}")
        emit(
            "ready",
            f"ready: delivering events to the handlers every {POLL_SECONDS}s (Ctrl-C to stop)",
            url=url,
            poll_seconds=POLL_SECONDS,
        )
        failed: list[BaseException] = []

        def deliver() -> None:
            try:
                while not stop.is_set():
                    pump(runtime, say, emit, stop)
                    stop.wait(POLL_SECONDS)
            except BaseException as err:  # handed to the main thread, which raises it
                failed.append(err)
                stop.set()

        # Delivery runs beside the main thread, which only waits for a signal: stopping never waits for a
        # handler to finish (whatever is in flight dies with the server's data, which a stop discards anyway).
        delivering = threading.Thread(target=deliver, name="consentry-serve-delivery", daemon=True)
        delivering.start()
        while not stop.is_set():
            stop.wait(POLL_SECONDS)
        delivering.join(timeout=1)
        if failed:
            raise failed[0]
        emit("stopped", "stopped; the embedded server's data is gone")
    finally:
        restore()
        context.__exit__(None, None, None)
    return 0


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C and SIGTERM end the loop cleanly (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        # The first signal stops the server at once; a second one ends the process however it stands.
        stop.set()
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, previous in saved.items():
            signal.signal(sig, previous)

    return restore
