"""The Lambda entry points: one module each, `functions/<name>/app.py` re-exports its `handler`.

| module | function | event |
|---|---|---|
| `tag_on_write` | tag_on_write | SQS, bodies are S3 notifications |
| `consent_changed` | consent_changed | DynamoDB Streams of the consent table |
| `chat_events` | chat_events | EventBridge `chat.app` |
| `retention_sweep` | retention_sweep | EventBridge schedule |
| `worker` | worker | SQS work queue |
| `backfill` | backfill | S3 Batch Operations, schema 2.0 |

`batch` holds what they share (`entry_point`: Powertools logs and metrics,
the deadline, scrubbed escaping errors; partial batch responses), `events`
the AWS event shapes. `consentry.service.handlers.<function>_handler` names each
entry point here too, imported on first use: a function loads its own
module, not the other five.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

MODULES = ("tag_on_write", "consent_changed", "chat_events", "retention_sweep", "worker", "backfill")


def __getattr__(name: str) -> Any:
    if name.endswith("_handler") and name.removesuffix("_handler") in MODULES:
        return import_module(f"{__name__}.{name.removesuffix('_handler')}").handler
    if name == "WRITE_CHUNK":
        return import_module(f"{__name__}.tag_on_write").WRITE_CHUNK
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
