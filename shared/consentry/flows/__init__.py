"""One flow per trigger: load facts, decide through the policy core, apply through the one settle loop.

- `records`: the ledger record's state machine (states x events), `evaluate`;
- `enforcer`: `Enforcer.settle`, the one loop that writes records and makes S3 follow them;
- `lifecycle`: writes, reopen, archive, deletion, legal holds, backfill, purge;
- `fanout`: pages of work through the queue (retag of a user, holds on a user), each once;
- `erasure`: `Erasure Requested`;
- `sweep`: the retention sweep and its deletion protocol (docs/deletion.md);
- `work`: the work queue's dispatch.

Names are imported from their modules on first use (PEP 562): a function
imports only the flows it runs (issue 16: cold start).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consentry.flows.enforcer import MAX_ROUNDS, Enforcer, Outcome, Target, Update, raise_first
    from consentry.flows.erasure import erasure_counts, start_erasure
    from consentry.flows.fanout import Work, request_retag
    from consentry.flows.lifecycle import (
        EventRejected,
        Write,
        archive,
        backfill,
        delete_chat,
        hold,
        own_chat,
        purge,
        reopen,
        tag_on_write,
    )
    from consentry.flows.records import Event, State, chat_of, evaluate
    from consentry.flows.sweep import SweepResult, due, start_sweep, sweep_chats
    from consentry.flows.work import run_work

_MODULES = {
    "Enforcer": "enforcer",
    "Event": "records",
    "EventRejected": "lifecycle",
    "MAX_ROUNDS": "enforcer",
    "Outcome": "enforcer",
    "State": "records",
    "SweepResult": "sweep",
    "Target": "enforcer",
    "Update": "enforcer",
    "Work": "fanout",
    "Write": "lifecycle",
    "archive": "lifecycle",
    "backfill": "lifecycle",
    "chat_of": "records",
    "delete_chat": "lifecycle",
    "due": "sweep",
    "erasure_counts": "erasure",
    "evaluate": "records",
    "hold": "lifecycle",
    "own_chat": "lifecycle",
    "purge": "lifecycle",
    "raise_first": "enforcer",
    "reopen": "lifecycle",
    "request_retag": "fanout",
    "run_work": "work",
    "start_erasure": "erasure",
    "start_sweep": "sweep",
    "sweep_chats": "sweep",
    "tag_on_write": "lifecycle",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MAX_ROUNDS",
    "Enforcer",
    "Event",
    "EventRejected",
    "Outcome",
    "State",
    "SweepResult",
    "Target",
    "Update",
    "Work",
    "Write",
    "archive",
    "backfill",
    "chat_of",
    "delete_chat",
    "due",
    "erasure_counts",
    "evaluate",
    "hold",
    "own_chat",
    "purge",
    "raise_first",
    "reopen",
    "request_retag",
    "run_work",
    "start_erasure",
    "start_sweep",
    "sweep_chats",
    "tag_on_write",
]
