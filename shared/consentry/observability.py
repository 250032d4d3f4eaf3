"""One Logger and one Metrics for the package (Powertools, structured JSON / EMF)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="consentry")
metrics = Metrics(namespace="consentry", service="consentry")


def count(name: str, value: int = 1) -> None:
    """Count an outcome (a failure, a rejection, a deletion) as a CloudWatch metric."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
