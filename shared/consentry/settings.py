"""Settings from the environment (CONTRACT.md's variables), read once per function."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


# Lambda sets it in each function's environment, with the function role's credentials; the local
# runtime sets both around each handler when it runs them under per-function identities.
FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
_CREDENTIALS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}


def environment_credentials() -> dict[str, str]:
    """The credentials the environment holds now (boto3 keyword arguments), or none: the default chain then."""
    found = {arg: os.environ[name] for arg, name in _CREDENTIALS.items() if os.environ.get(name)}
    return found if {"aws_access_key_id", "aws_secret_access_key"} <= found.keys() else {}


@dataclass(frozen=True)
class Clients:
    s3: S3Client
    dynamodb: DynamoDBClient
    sqs: SQSClient

    @classmethod
    def create(cls) -> Clients:
        """boto3 clients signed with the environment's credentials at creation; they honour AWS_ENDPOINT_URL
        and moto's mocks. (Read at creation, not from boto3's default session, which caches the first ones.)"""
        keys = environment_credentials()
        key_id, secret, token = (keys.get(k) for k in _CREDENTIALS)
        return cls(
            s3=boto3.client(
                "s3",
                config=BOTO_CONFIG,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=token,
            ),
            dynamodb=boto3.client(
                "dynamodb",
                config=BOTO_CONFIG,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=token,
            ),
            sqs=boto3.client(
                "sqs",
                config=BOTO_CONFIG,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=token,
            ),
        )


class _Current:
    """Settings and clients of the running function, made on first use and kept (Lambda reuses them).

    Kept per function name (`AWS_LAMBDA_FUNCTION_NAME`): Lambda runs one function per process, the local
    runtime several, each with its own credentials when it runs them under their own IAM identities.
    Without the variable (the CLI, tests calling flows directly) one set serves the process.
    Tests that change the environment call `current.cache_clear()`.
    """

    def __init__(self) -> None:
        self._made: dict[str, tuple[Settings, Clients]] = {}

    def __call__(self) -> tuple[Settings, Clients]:
        function = os.environ.get(FUNCTION_NAME, "")
        made = self._made.get(function)
        if made is None:
            made = self._made[function] = (Settings.from_env(), Clients.create())
        return made

    def cache_clear(self) -> None:
        self._made.clear()


current = _Current()
