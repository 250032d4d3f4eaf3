"""Shared fixtures: moto for real (in-process `mock_aws`), provisioned by the package itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Before any boto3 client exists: fake credentials, a region, and moto-friendly DynamoDB endpoints.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    POWERTOOLS_SERVICE_NAME="consentry-tests",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import moto.s3.models
from moto import mock_aws
from moto.s3.exceptions import MissingVersion

from consentry import settings
from consentry.local import LocalRuntime


_put_legal_hold = moto.s3.models.S3Backend.put_object_legal_hold


def _put_legal_hold_as_s3_does(self: Any, bucket_name: str, key_name: str, version_id: Any, status: Any) -> None:
    """moto raises AttributeError for a version that is gone; S3 answers NoSuchVersion (404)."""
    if self.get_object(bucket_name, key_name, version_id=version_id) is None:
        raise MissingVersion()
    _put_legal_hold(self, bucket_name, key_name, version_id, status)


moto.s3.models.S3Backend.put_object_legal_hold = _put_legal_hold_as_s3_does  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _observability_restored() -> Iterator[None]:
    """The CLI's main() quiets the package logger and metrics for its process: undo it after each test."""
    from consentry.observability import logger

    level = logger.log_level
    handler = logger.registered_handler
    stream = getattr(handler, "stream", None)
    metrics_disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    yield
    logger.setLevel(level)
    if stream is not None:
        handler.stream = stream  # type: ignore[attr-defined]
    if metrics_disabled is None:
        os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    else:
        os.environ["POWERTOOLS_METRICS_DISABLED"] = metrics_disabled


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        settings.current.cache_clear()
        yield
    settings.current.cache_clear()


@pytest.fixture
def runtime(aws: None) -> LocalRuntime:
    """A provisioned deployment on moto, with the local runtime to deliver its events."""
    return LocalRuntime.provisioned("test")
