"""S3 Batch Operations (schema 2.0) -> Lambda: tag each task's object.

Each task's result string goes into the job's completion report (kept in the
Batch Operations bucket, docs/privacy.md): it says the outcome, or the error's
code and its scrubbed text (keys hashed), never an AWS error text as raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from consentry.service.deadline import OutOfTime
from consentry.service.flows import lifecycle
from consentry.service.flows.enforcer import raise_first
from consentry.service.handlers import events
from consentry.service.handlers.batch import deferred, enforcer, entry_point, step
from consentry.service.observability import count, logger, mention, scrub

if TYPE_CHECKING:
    from consentry.service.deadline import RemainingTime as LambdaContext

THROTTLING = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
}
ResultCode = Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]


def backfill(event: dict[str, Any]) -> dict[str, Any]:
    """An S3 Batch Operations (schema 2.0) invocation: tag each task's object."""
    app = enforcer()
    results = []
    code: ResultCode
    for task in event["tasks"]:
        key = unquote_plus(task["s3Key"])  # S3 Batch Operations URL-encodes keys
        mention("key", key)
        arn = task.get("s3BucketArn")  # schema 1.0; 2.0 names the bucket
        bucket = arn.split(":::")[-1] if arn else task.get("s3Bucket")
        try:
            with step("backfill task"):
                if bucket not in (None, app.settings.bucket):
                    raise events.BadEvent(f"bucket {bucket} is not the chat bucket")
                outcomes = lifecycle.backfill(app, [(key, None)])
                raise_first(outcomes)
            record = outcomes[0].record if outcomes else None
            code, text = "Succeeded", record.reason.value if record else "ignored: not a chat key, or gone"
        except OutOfTime as err:
            deferred(err, key=key)
            code, text = "TemporaryFailure", "deferred: the invocation's time ran short"
        except ClientError as err:
            error = err.response.get("Error", {})
            temporary = error.get("Code") in THROTTLING
            code = "TemporaryFailure" if temporary else "PermanentFailure"
            text = f"{error.get('Code', 'ClientError')}: {scrub(str(error.get('Message', '')))}"
        except Exception as err:
            code, text = "PermanentFailure", f"{type(err).__name__}: {scrub(str(err))}"
        if code != "Succeeded":
            logger.error("backfill task failed", extra={"key": key, "code": code, "error": text})
            count("BackfillFailures")
        results.append({"taskId": task["taskId"], "resultCode": code, "resultString": text})
    return {
        "invocationSchemaVersion": event["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": results,
    }


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return backfill(event)
