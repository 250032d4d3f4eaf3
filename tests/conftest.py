"""Shared fixtures: moto for real (in-process `mock_aws`), provisioned by the package itself.

Integration and reliability deployments run under IAM parity (tests/parity/iam.py): each handler
signs its calls as an IAM user holding its function's statements from the synthesized stack, with
moto's IAM enforcement on, and every call is decided with AWS's rules; a refused call fails the test.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
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

import botocore.loaders
import botocore.session
import fastmoto
import moto.s3.models
import summaries
from moto import mock_aws
from moto.s3.exceptions import MissingVersion
from parity.iam import ACTIVE, Parity, deployed

from consentry.local import LocalRuntime
from consentry.service import handlers, settings
from consentry.service.deployment import FUNCTIONS

# pytester: the kit's tests (tests/cli/test_testing_kit.py) run a user's test file in a pytest of its own.
pytest_plugins = ["pytester"]

_LOADERS: dict[str, botocore.loaders.Loader] = {}


def _shared_loader(search_paths: Any = None) -> botocore.loaders.Loader:
    """botocore parses its service models anew in every session, and moto starts a session per test:
    one loader for the whole run reads each model once (speed only: same models, same calls)."""
    key = repr(search_paths)
    if key not in _LOADERS:
        _LOADERS[key] = botocore.loaders.create_loader(search_paths)
    return _LOADERS[key]


botocore.session.create_loader = _shared_loader  # type: ignore[assignment]
fastmoto.install()  # speed only: moto's answers are the same bytes (tests/parity/test_fastmoto.py)


def _as_its_function(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """A handler that, called from anywhere (a test, the runtime, `functions/<name>/app.py`), runs as its
    function when a deployment is under IAM parity: its name and its user's keys in the environment."""

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if not ACTIVE:
            return handler(event, context)
        with ACTIVE[-1].runtime.as_function(name):
            return handler(event, context)

    return run


# At import, before any test module binds a handler (tests/integration/test_backfill_handler.py loads
# functions/backfill/app.py, which re-exports the handler object).
for _spec in FUNCTIONS:
    _name = f"{_spec.name}_handler"
    setattr(handlers, _name, _as_its_function(_spec.name, getattr(handlers, _name)))


_put_legal_hold = moto.s3.models.S3Backend.put_object_legal_hold


def _put_legal_hold_as_s3_does(self: Any, bucket_name: str, key_name: str, version_id: Any, status: Any) -> None:
    """moto raises AttributeError for a version that is gone; S3 answers NoSuchVersion (404)."""
    if self.get_object(bucket_name, key_name, version_id=version_id) is None:
        raise MissingVersion()
    _put_legal_hold(self, bucket_name, key_name, version_id, status)


moto.s3.models.S3Backend.put_object_legal_hold = _put_legal_hold_as_s3_does  # type: ignore[method-assign,assignment]


@pytest.fixture(scope="module", autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each module leaves the process environment as it found it: a local runtime exports its deployment's
    variables (CHAT_BUCKET, LEDGER_TABLE, credentials), which would otherwise point the next module's
    commands at a deployment that is gone."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    settings.current.cache_clear()


@pytest.fixture(autouse=True)
def _observability_restored() -> Iterator[None]:
    """The CLI's main() quiets the package logger and metrics for its process: undo it after each test."""
    from consentry.service.observability import logger

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


def fail_on_refusals(parity: Parity) -> None:
    problems = parity.problems()
    if problems:
        pytest.fail("IAM refused calls the handlers make (stack roles, bucket policy):\n  " + "\n  ".join(problems))


@pytest.fixture(autouse=True)
def _iam_parity_held() -> Iterator[None]:
    """A test on a longer-lived deployment under parity (a module's) fails if IAM refused a handler's call."""
    yield
    for parity in ACTIVE:
        fail_on_refusals(parity)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        settings.current.cache_clear()
        yield
    settings.current.cache_clear()


@pytest.fixture
def parity(aws: None) -> Iterator[Parity]:
    """A provisioned deployment on moto under IAM parity (tests/parity/iam.py)."""
    with deployed("test") as found:
        yield found
        fail_on_refusals(found)


@pytest.fixture
def runtime(parity: Parity) -> LocalRuntime:
    """A provisioned deployment on moto, with the local runtime to deliver its events (under IAM parity)."""
    return parity.runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first (stable: each module's order, and so its module-scoped deployment, is kept).

    xdist's worksteal hands out the rest as workers free up, so a run ends on short tests: collected in
    path order, the long reliability tests came last, and one worker ran the last of them alone for minutes.
    """
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    summaries.send(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist's: a worker finished; its figures are kept for the summary."""
    summaries.receive(node)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summaries.print_summary(config, terminalreporter)
