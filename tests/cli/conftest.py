"""Fixtures of the CLI tests: the command run as a user runs it, and a `consentry serve --seed` to run it against.

`cli(...)` calls `consentry.cli.main` in-process (argparse is the whole
framework: this is what the console script runs), capturing stdout, stderr
and the exit status. `run(...)` runs the installed `consentry` script in a
subprocess. `served` is one `consentry serve --seed` subprocess for the whole
session: the demo story up to its erasure step, on a free port; tests that
change data use the in-process `runtime` fixture of tests/conftest.py instead.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import threading
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from clirun import SCRIPT, Result, Served, run_script

from consentry.cli import main
from consentry.local import LocalRuntime, free_port
from consentry.service import settings
from consentry.service.deployment import FUNCTIONS

CONTRACT_VARIABLES = (
    "CHAT_BUCKET",
    "CONSENT_TABLE",
    "LEDGER_TABLE",
    "WORK_QUEUE_URL",
    "WRITE_QUEUE_URL",
    "POLICY_FILE",
)
READY_TIMEOUT = 90


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without deployment variables, and no stray server on :5000 is ever picked up."""
    saved = dict(os.environ)
    for name in (*CONTRACT_VARIABLES, "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSENTRY_SERVE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_COLOR", "1")
    yield
    os.environ.clear()
    os.environ.update(saved)
    settings.current.cache_clear()


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`consentry ARGS...` in-process: Result(code, out, err)."""

    def call(*argv: str) -> Result:
        capsys.readouterr()  # only what this command prints (not the handlers' logs of a settle before it)
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture
def script() -> Callable[..., Result]:
    """`consentry ARGS...` in a subprocess (keyword `env` adds variables)."""
    return run_script


@pytest.fixture(scope="session", autouse=True)
def serving() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`consentry serve --seed` on a free port, started with the session so that it seeds while other tests run."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in (*CONTRACT_VARIABLES, "AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [SCRIPT, "serve", "--seed", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "NO_COLOR": "1"},
    )
    yield process, port
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def served(serving: tuple[subprocess.Popen[str], int]) -> Served:
    """The `serving` server once ready (its 'ready' line read; no sleeping)."""
    process, port = serving
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    banner: list[str] = []
    while True:
        line = lines.get(timeout=READY_TIMEOUT)
        if line is None:
            error = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"consentry serve ended before ready: {banner} {error}")
        banner.append(line)
        if line.startswith("ready"):
            return Served(f"http://127.0.0.1:{port}", banner, process)


# -- deployments of their own, for the commands that change things ----------------------------------------


@pytest.fixture
def server() -> Iterator[LocalRuntime]:
    """A deployment of its own (prefix `test`) on an in-process moto server: the CLI's local path.

    Commands reach it with `--endpoint-url`; they hand chat events and work to
    the local runtime, which runs the handlers in this process.
    """
    with LocalRuntime.serve("test") as runtime:
        yield runtime
        # moto's backends live in the process, not in the server: the next test's server starts empty.
        urllib.request.urlopen(urllib.request.Request(f"{runtime.endpoint_url}/moto-api/reset", method="POST"))


FUNCTION_PREFIX = "test-"


@pytest.fixture
def functions(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stack's functions on moto's Lambda (in the `runtime` deployment, an AWS account to the CLI).

    moto runs Lambda code in Docker; here its execution step runs the handler
    through the local runtime instead, as that function (its own IAM
    identity). The request itself is moto's: function, payload and
    FunctionError as Lambda answers them. Returns the functions' ARNs by name;
    CHAT_EVENTS_FUNCTION is set as the stack's output would set it.
    """
    from moto.awslambda.models import LambdaFunction

    iam = boto3.client("iam")
    role = iam.create_role(
        RoleName="test-functions",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return None\n")
    lam = boto3.client("lambda")
    arns = {}
    for spec in FUNCTIONS:
        arns[spec.name] = lam.create_function(
            FunctionName=f"{FUNCTION_PREFIX}{spec.name}",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": archive.getvalue()},
        )["FunctionArn"]

    def run(self: Any, event: Any = None) -> tuple[str, bool, str]:
        name = self.function_name.removeprefix(FUNCTION_PREFIX)
        try:
            return json.dumps(runtime.invoke(name, event)), False, ""
        except Exception as err:
            return json.dumps({"errorMessage": str(err), "errorType": type(err).__name__}), True, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", run)
    monkeypatch.setenv("CHAT_EVENTS_FUNCTION", arns["chat_events"])
    return arns


# What an operator's role holds (README, "Operator permissions"): reads, the audit trail, and hand-offs to the
# deployment; nothing that tags, deletes or locks a chat. moto's names of some calls ride along (tests/parity/iam.py).
OPERATOR_ACTIONS = [
    "sts:GetCallerIdentity",
    "s3:ListBucket",
    "s3:HeadBucket",  # moto's name of HeadBucket (AWS: s3:ListBucket)
    "s3:ListBucketVersions",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObject",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "secretsmanager:GetSecretValue",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
    "sqs:SendMessageBatch",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "lambda:InvokeFunction",
    "lambda:Invoke",  # moto's name of Invoke
]


@pytest.fixture
def operator(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's calls signed as an operator holding OPERATOR_ACTIONS only (moto's IAM enforces them).

    The ledger's PutItem and UpdateItem are the audit trail's: a command that
    tried to tag, delete or lock a chat itself would be refused.
    """
    iam = boto3.client("iam")
    arn = iam.create_user(UserName="operator")["User"]["Arn"]
    iam.put_user_policy(
        UserName="operator",
        PolicyName="operator",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": OPERATOR_ACTIONS, "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return str(arn)
