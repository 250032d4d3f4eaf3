"""`consentry serve`: the embedded server and local runtime in the foreground."""

from __future__ import annotations

import argparse
import os
import sys

from consentry.cli.options import DEFAULT_SERVE_URL, UsageError, add_command, is_real, port


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = add_command(
        subparsers,
        "serve",
        "run the embedded server and local runtime in the foreground",
        "Runs an embedded moto server with a provisioned deployment, and delivers S3 notifications, consent "
        "changes and work-queue messages to the handlers until Ctrl-C. While it runs, the other commands use it "
        f"by default ({DEFAULT_SERVE_URL}). Its data lives as long as the process.",
    )
    serve.add_argument("--port", type=port, default=5000, help="port (default 5000)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--seed", action="store_true", help="load the demo's users, chats and story first")


def run(args: argparse.Namespace) -> int:
    from consentry.cli.serve import serve

    if is_real(args) or args.endpoint_url:
        raise UsageError("serve starts an embedded server: drop --real / --endpoint-url")
    code = serve(
        sys.stdout, port=args.port, host=args.host, prefix=args.prefix or "consentry", seed=args.seed, as_json=args.json
    )
    # Stopped and said so: the server's data is discarded, so the process skips tearing down moto's heap
    # object by object (seconds for a large bucket), which would keep a stop from being prompt.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
