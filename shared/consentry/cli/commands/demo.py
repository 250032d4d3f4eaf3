"""`consentry demo`: the whole policy story on an embedded server."""

from __future__ import annotations

import argparse
import sys

from consentry.cli.options import UsageError, add_command, is_real


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_command(
        subparsers,
        "demo",
        "play the whole policy story on an embedded server (no setup, about 10 s)",
        "Starts an embedded moto server, provisions, seeds 14 users across every tier and consent state with "
        "chats and coding sessions over nine months, then plays: writes, a new user opted in by default, "
        "opt-out, opt-in, reopen of an archived chat, deletion, legal hold, erasure, the sweep a year later. "
        "Prints a table per step and a summary.",
    )


def run(args: argparse.Namespace) -> int:
    from consentry.cli import demo

    if is_real(args) or args.endpoint_url:
        raise UsageError("the demo runs on its own embedded server only: drop --real / --endpoint-url")
    return demo.main(sys.stdout, prefix=args.prefix or "consentry", as_json=args.json)
