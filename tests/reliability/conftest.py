"""Fixtures and hypothesis profiles of the reliability suite.

Profiles: `ci` (the default; about a thousand generated histories in all) and
`nightly` (HYPOTHESIS_PROFILE=nightly: twenty times as many, longer histories).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws
from parity.iam import deployed

from consentry.service import settings as consentry_settings

from .figures import FIGURES
from .harness import Deployment, FakeS3Clock, Faults, LogCapture, VirtualTime, WriteCounter, consentry_logger

_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("ci", derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("nightly", derandomize=False, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", derandomize=False, **_COMMON)  # type: ignore[arg-type]
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
SCALE = {"ci": 1, "dev": 1, "nightly": 20}.get(PROFILE, 1)


def budget(ci_examples: int) -> int:
    """Examples for one property: `ci_examples` in CI, many more nightly."""
    return ci_examples * SCALE


@pytest.fixture(scope="module")
def provisioned() -> Iterator[Deployment]:
    """One provisioned deployment on moto (mock_aws) per test module, S3's clock under the model's control."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")  # reset purges between tests
    clock = FakeS3Clock()
    import moto.s3.models

    patch.setattr(moto.s3.models, "utcnow", clock)
    try:
        with mock_aws():
            consentry_settings.current.cache_clear()
            with deployed("rel") as parity:  # every handler under its stack role's IAM policy
                yield Deployment(parity.runtime, clock)
    finally:
        patch.undo()
        consentry_settings.current.cache_clear()


@pytest.fixture
def deployment(provisioned: Deployment) -> Deployment:
    """The module's deployment, emptied: every test (and every generated history) starts from nothing."""
    provisioned.reset()
    return provisioned


@pytest.fixture
def two_due_shards(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The due index in 2 shards, not 16, for the long tests (exploration, side by side, generated histories):
    a sweep costs 2 pages (each an invocation and a query of its shard) instead of 16. What the sweep finds
    and does is the same in any number of shards; the 16 of a deployment are the integration tests'
    (tests/integration) and the budgets' (tests/benchmarks)."""
    monkeypatch.setenv("DUE_SHARDS", "2")
    consentry_settings.current.cache_clear()
    yield
    consentry_settings.current.cache_clear()


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    logger = consentry_logger()
    level = logger.level
    logger.setLevel(logging.INFO)  # other suites (the CLI's) may have quietened the package logger
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)
    logger.setLevel(level)


@pytest.fixture
def virtual_time(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """Backoff sleeps (botocore's and ours) are recorded, not waited."""
    import time

    clock = VirtualTime()
    monkeypatch.setattr(time, "sleep", clock.sleep)
    return clock


@pytest.fixture
def faults(deployment: Deployment, virtual_time: VirtualTime) -> Iterator[Faults]:
    from .harness import handler_clients

    injector = Faults()
    injector.install(handler_clients())
    yield injector
    FIGURES.faults += sum(injector.injected.values())
    injector.uninstall()
    # Throttling leaves the adaptive retry mode's rate limiter slowed down: the next test gets fresh clients.
    consentry_settings.current.cache_clear()


@pytest.fixture
def writes(deployment: Deployment) -> Iterator[WriteCounter]:
    from .harness import handler_clients

    counter = WriteCounter()
    counter.install(handler_clients())
    yield counter
    counter.uninstall()
