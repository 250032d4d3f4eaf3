"""The six Lambda functions of CONTRACT.md, each with its own role and log group.

Their names, timeouts, memory and concurrency caps are deployment facts (`consentry.service.deployment`).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from consentry.service.deployment import (
    BACKFILL,
    CHAT_EVENTS,
    CONSENT_CHANGED,
    FUNCTIONS,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
    RETENTION_SWEEP,
    TAG_ON_WRITE,
    WORKER,
    FunctionSpec,
)
from infra import ROOT, nag
from infra.layer import ARCHITECTURE, RUNTIME
from infra.settings import LOG_RETENTION

FUNCTIONS_DIR = ROOT / "functions"
SERVICE = POWERTOOLS_SERVICE
SPECS = FUNCTIONS

__all__ = [
    "BACKFILL",
    "CHAT_EVENTS",
    "CONSENT_CHANGED",
    "FUNCTIONS_DIR",
    "METRICS_NAMESPACE",
    "RETENTION_SWEEP",
    "SERVICE",
    "SPECS",
    "TAG_ON_WRITE",
    "WORKER",
    "ConsentryFunction",
    "FunctionSpec",
    "timeout",
]


def timeout(spec: FunctionSpec) -> Duration:
    return Duration.seconds(spec.timeout_seconds)


def log_retention(days: int) -> logs.RetentionDays:
    return logs.RetentionDays[LOG_RETENTION[days]]


def code_dir(name: str) -> str:
    """functions/<name>, which must hold app.py with `handler`."""
    path = FUNCTIONS_DIR / name
    if not (path / "app.py").is_file():
        raise FileNotFoundError(f"{path}/app.py is missing: every function of CONTRACT.md needs its handler")
    return str(path)


class ConsentryFunction(Construct):
    """One handler: Python on arm64, the shared layer, a role that holds only what is granted to it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        log_retention_days: int,
        reserve_concurrency: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        # Our own role rather than AWSLambdaBasicExecutionRole: its log rights cover every log group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"consentry {spec.name}",
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention(log_retention_days))
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(code_dir(spec.name), exclude=["__pycache__", "*.pyc"]),
            handler="app.handler",
            layers=[layer],
            role=self.role,
            timeout=timeout(spec),
            memory_size=spec.memory_mb,
            reserved_concurrent_executions=spec.reserved_concurrency if reserve_concurrency else None,
            log_group=self.log_group,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        nag.acknowledge(
            self.function,
            "L1",
            "Python 3.13 is pinned on purpose: the layer is built from cp313 aarch64 wheels and the package is "
            "tested on it; moving to 3.14 is a deliberate change of RUNTIME in infra/layer.py.",
        )

    def allow(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_principal_policy(statement)
