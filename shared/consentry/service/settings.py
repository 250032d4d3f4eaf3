"""Settings from the environment (CONTRACT.md's variables), read once per function."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.config import Config

from consentry.service.aws.ledger_schema import DUE_SHARDS, DUE_SHARDS_MAX
from consentry.service.deadline import refuse_late_calls
from consentry.service.policy import Policy, load_policy
from consentry.service.pseudonyms import Pseudonyms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# The standard retry mode: 3 attempts with jittered backoff, nothing carried from one invocation to the next
# (the adaptive mode's client-side rate limiter outlives invocations in a warm container and slows the next
# one after a single throttle). A call whose every attempt times out gives up after 3 x (2 + 8) s plus the
# backoff, under the shortest function timeout (60 s); the deadline hook refuses an attempt that the
# invocation's remaining time cannot cover, and the record is then retried by its event source.
CONNECT_TIMEOUT, READ_TIMEOUT = 2, 8
BOTO_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
)
CALL_BUDGET = CONNECT_TIMEOUT + READ_TIMEOUT
# For a call that must not be repeated blindly (a delete marker: a retry after a lost answer puts a second one):
# no SDK retry; the flow's own retry (the event redelivered) lists what is there and goes on from it.
ONCE_CONFIG = BOTO_CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))
DEFAULT_DUE_SHARDS = DUE_SHARDS
DEFAULT_THREADS = 16  # S3 and DynamoDB calls of one batch in flight at once (I/O bound: threads are enough)
# A page of one of a user's 16 hash ranges (retag, erasure): the 16 pages run at once on one DynamoDB partition, so
# 16 x 4 chats in flight, about 750 record writes a second at the latencies of docs/cost.md (the partition takes
# 1,000); 16 x 8 already loses pages to throttling there (benchmarks/latency.py).
DEFAULT_RANGE_THREADS = 4


class SettingsError(RuntimeError):
    """A required variable is missing or malformed; the message names it."""


class Settings(NamedTuple):
    bucket: str
    consent_table: str
    ledger_table: str
    work_queue_url: str
    policy: Policy
    hash_key_secret: str = ""  # empty: `<ledger table>/hash-key`, as provision() names it
    due_shards: int = DEFAULT_DUE_SHARDS
    threads: int = DEFAULT_THREADS
    range_threads: int = DEFAULT_RANGE_THREADS

    @property
    def hash_key_secret_id(self) -> str:
        if self.hash_key_secret:
            return self.hash_key_secret
        from consentry.service.deployment import (
            hash_key_secret_name,  # the stack's facts: not needed on a function's path
        )

        return hash_key_secret_name(self.ledger_table)

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
            hash_key_secret=os.environ.get("HASH_KEY_SECRET", ""),
            due_shards=_shards(_positive("DUE_SHARDS", DEFAULT_DUE_SHARDS)),
            threads=_positive("CONSENTRY_THREADS", DEFAULT_THREADS),
            range_threads=_positive("CONSENTRY_RANGE_THREADS", DEFAULT_RANGE_THREADS),
        )


def _shards(count: int) -> int:
    if count > DUE_SHARDS_MAX:  # shard names are three digits
        raise SettingsError(f"DUE_SHARDS must be at most {DUE_SHARDS_MAX}, got {count}")
    return count


def _positive(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingsError(f"{name} must be a positive integer, got {value!r}")
    return number


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


@dataclass(frozen=True, eq=False)  # never compared: no __eq__ or __hash__ to generate at import
class Clients:
    s3: S3Client
    s3_once: S3Client  # no SDK retries (ONCE_CONFIG)
    dynamodb: DynamoDBClient
    sqs: SQSClient
    secrets: SecretsManagerClient
    _names: dict[str, Pseudonyms] = field(default_factory=dict, compare=False, repr=False)

    def pseudonyms(self, secret_id: str) -> Pseudonyms:
        """The hash key of `secret_id`, read once per set of clients (once per Lambda container)."""
        if secret_id not in self._names:
            self._names[secret_id] = Pseudonyms.from_secret(self.secrets, secret_id)
        return self._names[secret_id]

    @classmethod
    def create(cls, session: boto3.session.Session | None = None, endpoint_url: str | None = None) -> Clients:
        """Clients of `session`; by default signed with the environment's credentials at creation.

        They honour AWS_ENDPOINT_URL and moto's mocks. The credentials are read at creation, not from
        boto3's default session, which caches the first ones (the local runtime runs each function
        under its own IAM identity).
        """
        if session is not None:
            make: Any = session.client
        else:
            keys = environment_credentials()

            def make(service: str, **kwargs: Any) -> Any:
                return boto3.client(service, **keys, **kwargs)  # type: ignore[call-overload]

        kwargs = {"config": BOTO_CONFIG, **({"endpoint_url": endpoint_url} if endpoint_url else {})}
        clients = cls(
            s3=make("s3", **kwargs),
            s3_once=make("s3", **{**kwargs, "config": ONCE_CONFIG}),
            dynamodb=make("dynamodb", **kwargs),
            sqs=make("sqs", **kwargs),
            secrets=make("secretsmanager", **kwargs),
        )
        for client in (clients.s3, clients.s3_once, clients.dynamodb, clients.sqs, clients.secrets):
            client.meta.events.register_first("before-send", refuse_late_calls(CALL_BUDGET))  # before sending
        return clients


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
