"""AWS list prices (us-east-1) and the cost of measured calls.

Request prices are per request class; DynamoDB on-demand is billed in request
units, which `benchmarks.calls` derives from item sizes. Lambda duration is
not measured (moto's latency says nothing about AWS's): it is estimated from
the call counts with the per-call latencies below, the handlers making their
calls one after another. docs/cost.md states the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.calls import Tally

# us-east-1 list prices.
S3_PUT_CLASS_PER_1K = 0.005  # PUT, COPY, POST, LIST (PutObjectTagging, ListObjectVersions, DeleteObjects counted here)
S3_GET_CLASS_PER_1K = 0.0004  # GET, HEAD and all other requests (GetObject, GetObjectTagging, HeadObject)
DYNAMODB_WRU_PER_MILLION = 0.625  # on-demand write request unit (standard table class)
DYNAMODB_RRU_PER_MILLION = 0.125  # on-demand read request unit
SQS_PER_MILLION = 0.40  # standard queue, per 64 KB request chunk
LAMBDA_GB_SECOND = 0.0000133334  # arm64 (infra/layer.py: the functions run on ARM_64); x86 is 0.0000166667
LAMBDA_PER_MILLION = 0.20
S3_BATCH_OPERATIONS_JOB = 0.25
S3_BATCH_OPERATIONS_PER_MILLION = 1.00
S3_INVENTORY_PER_MILLION = 0.0025
DYNAMODB_STORAGE_GB_MONTH = 0.25

# Assumed latency of one call from Lambda in the same region (for the duration estimate only).
LATENCY_MS = {"s3": 20.0, "dynamodb": 6.0, "sqs": 10.0}
INVOCATION_OVERHEAD_MS = 20.0
# Lambda's SQS poller: one ReceiveMessage per 10 messages and one DeleteMessageBatch per 10.
POLLER_REQUESTS_PER_MESSAGE = 0.2


@dataclass(frozen=True)
class Bill:
    s3: float
    dynamodb: float
    sqs: float
    lambda_: float

    @property
    def total(self) -> float:
        return self.s3 + self.dynamodb + self.sqs + self.lambda_

    def __add__(self, other: Bill) -> Bill:
        return Bill(
            self.s3 + other.s3, self.dynamodb + other.dynamodb, self.sqs + other.sqs, self.lambda_ + other.lambda_
        )


def lambda_seconds(tally: Tally) -> float:
    return sum(LATENCY_MS.get(c.service, 10.0) for c in tally.calls) / 1000


def bill(
    tally: Tally,
    scale: float = 1.0,
    *,
    notifications: float = 0.0,
    consumed: float = 0.0,
    invocations: float = 0.0,
    memory_mb: int = 512,
) -> Bill:
    """Dollars of `scale` times the calls of `tally`, plus the SQS and Lambda around them.

    `notifications`: messages S3 sends to the write queue (not in `tally`);
    `consumed`: messages Lambda's poller receives and deletes; `invocations`:
    Lambda invocations, of `memory_mb` each.
    """
    s3 = (tally.s3_put_class * S3_PUT_CLASS_PER_1K + tally.s3_get_class * S3_GET_CLASS_PER_1K) / 1000 * scale
    dynamodb = (tally.wru * DYNAMODB_WRU_PER_MILLION + tally.rru * DYNAMODB_RRU_PER_MILLION) / 1e6 * scale
    sqs_requests = tally.count("sqs") * scale + notifications + consumed * POLLER_REQUESTS_PER_MESSAGE
    sqs = sqs_requests * SQS_PER_MILLION / 1e6
    seconds = lambda_seconds(tally) * scale + invocations * INVOCATION_OVERHEAD_MS / 1000
    lambda_ = seconds * memory_mb / 1024 * LAMBDA_GB_SECOND + invocations * LAMBDA_PER_MILLION / 1e6
    return Bill(s3, dynamodb, sqs, lambda_)
