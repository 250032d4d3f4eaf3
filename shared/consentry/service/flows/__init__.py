"""One flow per trigger: load facts, decide through the policy core, apply through the one settle loop.

- `records`: the ledger record's state machine (states x events), `evaluate`;
- `enforcer`: `Enforcer.settle`, the one loop that writes records and makes S3 follow them;
- `lifecycle`: writes, reopen, archive, deletion, legal holds, backfill, purge;
- `messages`: the work queue's typed messages and their wire form;
- `fanout`: pages of work through the queue (retag of a user, holds on a user), each once;
- `erasure`: `Erasure Requested`;
- `sweep`: the retention sweep and its deletion protocol (docs/deletion.md);
- `work`: the work queue's dispatch.

The package's face imports nothing: callers import the module they need
(`from consentry.service.flows.lifecycle import hold`), so a function loads only the
flows it runs, which keeps its cold start short.
"""
