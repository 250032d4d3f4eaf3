"""What every entry point shares: its instrumentation, its deadline, partial batch responses, scrubbed errors.

`entry_point` turns a plain `handler(event, context)` into the Lambda entry
point: Powertools' structured logs and EMF metrics, the invocation's deadline
(`consentry.service.deadline`), and one rule for errors: an exception that leaves the
handler is replaced by one whose text is scrubbed (keyed hashes only) before
the Lambda runtime sees it. The runtime writes that text to CloudWatch
(`errorMessage`) and into an asynchronous invocation's on-failure record, and
AWS error texts quote object ARNs: no consentry formatter sees either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from consentry.service import deadline
from consentry.service.flows.enforcer import Enforcer
from consentry.service.observability import count, forget, logger, metrics, scrub, scrubbing

if TYPE_CHECKING:
    from consentry.service.deadline import OutOfTime
    from consentry.service.deadline import RemainingTime as LambdaContext

T = TypeVar("T")
PartialItemFailureResponse = dict[str, list[dict[str, str]]]
WITHHELD = "(text withheld: the hash key was not read yet, so keys in it could not be hashed)"


class HandlerError(Exception):
    """An error that left a handler, as the runtime may see it: its type's name and its scrubbed text."""


def escaped(err: Exception) -> Exception:
    """`err` with its text scrubbed: of the same type when that type takes its text alone (or is botocore's
    ClientError), else a HandlerError.

    The cause and context are dropped with the original: the runtime prints neither, but a traceback would.
    """
    if isinstance(err, ClientError):  # kept a ClientError: retries and callers read its code
        error = err.response.get("Error", {})
        message = scrub(str(error.get("Message", ""))) if scrubbing() else WITHHELD
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        response: Any = {"Error": {"Code": error.get("Code", ""), "Message": message}}
        if status is not None:
            response["ResponseMetadata"] = {"HTTPStatusCode": status}
        return ClientError(response, err.operation_name)
    text = scrub(str(err)) if scrubbing() else WITHHELD
    try:
        same = type(err)(text)
        if str(same) == text:
            return same
    except Exception:  # a type built from other arguments: the generic one names it
        pass
    return HandlerError(f"{type(err).__name__}: {text}")


def entry_point(body: Callable[[Any, LambdaContext], T]) -> Callable[[Any, LambdaContext], T]:
    """`body` as a Lambda entry point: logs, metrics, the deadline, and no raw text in an escaping error."""

    @logger.inject_lambda_context
    @metrics.log_metrics
    def instrumented(event: Any, context: LambdaContext) -> T:
        with deadline.running(context):
            return body(event, context)

    @functools.wraps(body)
    def handler(event: Any, context: LambdaContext) -> T:
        forget()  # the values the last invocation named
        try:
            result: T = instrumented(event, context)
            return result
        except Exception as err:
            clean = escaped(err)
        raise clean  # outside the except: no chained original for a traceback to print

    return handler


def enforcer() -> Enforcer:
    return Enforcer.from_env()


def step(what: str) -> AbstractContextManager[Any]:
    """The deadline's step for one record (a no-op outside an invocation with a context)."""
    current = deadline.current()
    return nullcontext() if current is None else current.step(what)


def deferred(err: OutOfTime, **context: Any) -> None:
    logger.warning("not started: the invocation's remaining time is short; back to the queue", extra=context)
    count("DeadlineDeferrals")


def message_id(record: Mapping[str, Any]) -> str:
    return str(record.get("messageId", ""))


def sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def partial(
    event: Mapping[str, Any],
    handle: Callable[[Mapping[str, Any]], None],
    identifier: Callable[[Mapping[str, Any]], str],
) -> PartialItemFailureResponse:
    """A partial batch response (SQS, DynamoDB Streams): the records whose `handle` raised are retried.

    The event source mapping needs `ReportBatchItemFailures` (infra/functions.py sets it). Lambda retries
    only these; every failure was logged and counted by `handle` (or before, as with tag_on_write).
    """
    failures: list[dict[str, str]] = []
    for record in records(event):
        try:
            handle(record)
        except Exception:
            failures.append({"itemIdentifier": identifier(record)})
    return {"batchItemFailures": failures}


def records(event: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    found = event.get("Records")
    return found if isinstance(found, list) else []
