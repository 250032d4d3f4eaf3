"""Settings from the environment (CONTRACT.md's variables), read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from consentry.policy import Policy, load_policy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Adaptive retries back off on throttling (S3 503 SlowDown, DynamoDB
# ProvisionedThroughputExceeded) well within a Lambda timeout: a call whose every
# attempt times out gives up after 4 x 8 s plus at most 7 s of backoff, under the
# shortest function timeout (60 s); the record is then retried by its event source.
BOTO_CONFIG = Config(retries={"max_attempts": 3, "mode": "adaptive"}, connect_timeout=2, read_timeout=8)


class SettingsError(RuntimeError):
    """A required variable is missing; the message names it."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    consent_table: str
    ledger_table: str
    work_queue_url: str
    policy: Policy

    @classmethod
    def from_env(cls) -> Settings:
        missing = [
            name
            for name in ("CHAT_BUCKET", "CONSENT_TABLE", "LEDGER_TABLE", "WORK_QUEUE_URL")
            if not os.environ.get(name)
        ]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            bucket=os.environ["CHAT_BUCKET"],
            consent_table=os.environ["CONSENT_TABLE"],
            ledger_table=os.environ["LEDGER_TABLE"],
            work_queue_url=os.environ["WORK_QUEUE_URL"],
            policy=load_policy(os.environ.get("POLICY_FILE") or None),
        )


@dataclass(frozen=True)
class Clients:
    s3: S3Client
    dynamodb: DynamoDBClient
    sqs: SQSClient

    @classmethod
    def create(cls) -> Clients:
        """Default boto3 clients: they honour AWS_ENDPOINT_URL and moto's mocks."""
        return cls(
            s3=boto3.client("s3", config=BOTO_CONFIG),
            dynamodb=boto3.client("dynamodb", config=BOTO_CONFIG),
            sqs=boto3.client("sqs", config=BOTO_CONFIG),
        )


@cache
def current() -> tuple[Settings, Clients]:
    """Settings and clients of this process, made on first use (Lambda reuses them).

    Tests that change the environment call `current.cache_clear()`.
    """
    return Settings.from_env(), Clients.create()
