"""A moto server in a child process, with a seeding channel on stdin.

`python -m benchmarks.server memory [CHATS] [RUNS]` measures a `consentry serve`
instead: its RSS after the first and the last of RUNS `sweep --dry-run`s over
CHATS due chats (default 1,000 and 20; the budget: the last within 1.5x of the
first), and how long it takes to stop after SIGINT (budget 5 s).

`python -m benchmarks.server` starts moto's threaded server on a free loopback
port, prints the port, then runs one seeding command (a JSON line, see
`benchmarks.seed`) per input line and answers with a JSON line. Running moto
in its own process keeps its allocations out of the memory the benchmarks
measure on the handler's side.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from benchmarks.deploy import FAKE_AWS


def main() -> None:
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from benchmarks import seed
    from benchmarks.motofast import faster_moto
    from consentry.local import correct_moto, free_port

    # As `consentry serve` does (consentry.local.correct_moto): without it moto applies the stack's conditional
    # Deny statements to everyone (a GetObject of a chat is refused) and every ListObjectVersions deep-copies the
    # bucket's versions (a retag of 100k chats then outlasts the clients' read timeout), and every model instance it
    # makes, the items copied for one Query's response included, stays in its dashboard's lists for good.
    correct_moto()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(port, flush=True)
    try:
        with faster_moto():
            for line in sys.stdin:
                try:
                    answer = {"ok": seed.apply(json.loads(line))}
                except Exception as err:  # reported to the parent, which raises
                    answer = {"error": f"{type(err).__name__}: {err}"}
                print(json.dumps(answer), flush=True)
    finally:
        server.stop()


# -- `consentry serve` memory over repeated plans ------------------------------------------------------------


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` (Linux /proc), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def serve_memory(chats: int = 1000, runs: int = 20, budget: float = 1.5) -> dict[str, float]:
    """RSS of a `consentry serve` after the first and after the last of `runs` `sweep --dry-run`s over `chats`
    due chats (each a command of its own, as an operator runs them); `ok` when last <= budget x first."""
    import subprocess
    import time

    import boto3

    from consentry.cli.target import LOCAL_CREDENTIALS
    from consentry.local import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **LOCAL_CREDENTIALS, "CONSENTRY_SERVE_URL": url, "NO_COLOR": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "consentry.cli.main", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert serve.stdout is not None
        for line in serve.stdout:
            if line.startswith("ready"):
                break
        s3 = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="x"
        )
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "chat-logs" in b["Name"])
        for i in range(chats):
            s3.put_object(Bucket=bucket, Key=f"chats/u{i % 50}/c{i}.json", Body=b"{}")
        plan = [sys.executable, "-m", "consentry.cli.main", "sweep", "--dry-run", "--now", "2099-01-01", "--json"]

        def dry_run() -> int:
            done = subprocess.run(plan, capture_output=True, text=True, env=env, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"sweep --dry-run failed: {done.stderr.strip()}")
            return int(json.loads(done.stdout)["totals"]["chats"])

        deadline = time.monotonic() + 600
        while dry_run() < chats:  # the serve loop is still delivering the writes
            if time.monotonic() > deadline:
                raise RuntimeError("the serve loop did not deliver the writes in 10 minutes")
        first = rss_mib(serve.pid)
        started = time.monotonic()
        for _ in range(runs - 1):
            dry_run()
        seconds = (time.monotonic() - started) / max(1, runs - 1)
        last = rss_mib(serve.pid)
        serve.send_signal(2)
        stopping = time.monotonic()
        serve.wait(timeout=30)
        stop_seconds = time.monotonic() - stopping
    finally:
        if serve.poll() is None:
            serve.kill()
    return {
        "chats": chats,
        "runs": runs,
        "rss_first_mib": round(first, 1),
        "rss_last_mib": round(last, 1),
        "ratio": round(last / first, 2),
        "seconds_per_dry_run": round(seconds, 2),
        "stop_seconds_after_sigint": round(stop_seconds, 2),
        "ok": last <= budget * first and stop_seconds <= 5,
    }


if __name__ == "__main__" and sys.argv[1:2] == ["memory"]:
    print(json.dumps(serve_memory(*(int(a) for a in sys.argv[2:4]))))
    sys.exit(0)


if __name__ == "__main__":
    main()
