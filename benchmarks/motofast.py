"""A faster wire format for moto's DynamoDB item responses (speed only; no count changes).

moto 5.2 serializes every response through botocore's output shapes, which
takes seconds for a 500-item Query page of ledger records. Item-carrying
DynamoDB responses are plain JSON of DynamoDB's typed attribute values, so
they are written with `json.dumps` instead. Which calls are made, and what
they return, is unchanged: the benchmarks count calls, not moto's speed.
"""

from __future__ import annotations

import json
from typing import Any

FAST_OPERATIONS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem", "PutItem"})
_patched = False


def speed_up_moto() -> None:
    """Patch moto's DynamoDB results in this process (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in FAST_OPERATIONS:
            return original(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    _patched = True
