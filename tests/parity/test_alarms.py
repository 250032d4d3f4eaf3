"""The alarms watch what the code emits, and every emitted metric is watched or excused.

The emitted metrics are read from the package's code (`count("...")` and `add_metric(name="...")`
calls, with `ast`); the alarms from the synthesized template; the excuses from infra/reasons.py.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from consentry.service.deployment import CONSENT_STREAM, METRICS_NAMESPACE
from infra.reasons import UNALARMED_METRICS

from .template import ROOT, Json, Template, stack_template

PACKAGE = ROOT / "shared" / "consentry"
DAY = 86_400


def emitted_metrics(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Metric names the package emits -> the files that emit them."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = None
            if isinstance(node.func, ast.Name) and node.func.id == "count" and node.args:
                first = node.args[0]
                name = first.value if isinstance(first, ast.Constant) else None
            if isinstance(node.func, ast.Attribute) and node.func.attr == "add_metric":
                given = [k.value for k in node.keywords if k.arg == "name"]
                name = given[0].value if given and isinstance(given[0], ast.Constant) else None
            if isinstance(name, str):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def alarms() -> list[Json]:
    return [a["Properties"] for a in Template(stack_template()).of_type("AWS::CloudWatch::Alarm").values()]


def package_alarms() -> dict[str, Json]:
    return {a["MetricName"]: a for a in alarms() if a.get("Namespace") == METRICS_NAMESPACE}


def test_the_reader_finds_the_metrics_the_handlers_emit() -> None:
    found = emitted_metrics()
    assert {"BadEvents", "OldestDueAgeSeconds"} <= found.keys()
    assert "count" not in found and "removed" not in found  # list.count(...) is not a metric


def test_every_alarm_watches_a_metric_the_code_emits() -> None:
    emitted = emitted_metrics()
    assert sorted(set(package_alarms()) - emitted.keys()) == [], "an alarm on a metric nothing emits stays green"


def test_every_emitted_metric_is_alarmed_or_has_a_reason() -> None:
    emitted = emitted_metrics()
    unwatched = set(emitted) - set(package_alarms()) - set(UNALARMED_METRICS)
    assert sorted(unwatched) == [], "alarm it in infra/monitoring.py or say why not in infra/reasons.py"
    assert sorted(set(UNALARMED_METRICS) & set(package_alarms())) == [], "a reason for an alarmed metric"
    assert sorted(set(UNALARMED_METRICS) - emitted.keys()) == [], "a reason for a metric nothing emits"


def test_a_sweep_that_never_starts_pages_someone() -> None:
    heartbeat = package_alarms()["SweepStarted"]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold" and heartbeat["Threshold"] == 1
    window = heartbeat["Period"] * heartbeat["EvaluationPeriods"]
    assert DAY < window <= 2 * DAY  # longer than a night between sweeps, shorter than two
    assert heartbeat["DatapointsToAlarm"] == heartbeat["EvaluationPeriods"]
    assert heartbeat["Statistic"] == "Sum"


def _function_names(template: Template, description: str) -> Any:
    (logical,) = [
        k for k, v in template.of_type("AWS::Lambda::Function").items() if v["Properties"]["Description"] == description
    ]
    return {"Ref": logical}


def test_consent_stream_lag_alarms_well_before_the_stream_drops_records() -> None:
    from consentry.service.deployment import CONSENT_CHANGED

    template = Template(stack_template())
    function = _function_names(template, CONSENT_CHANGED.description)
    (lag,) = [
        a
        for a in alarms()
        if a.get("MetricName") == "IteratorAge" and {"Name": "FunctionName", "Value": function} in a["Dimensions"]
    ]
    assert lag["Namespace"] == "AWS/Lambda" and lag["Statistic"] == "Maximum"
    assert lag["Threshold"] <= CONSENT_STREAM.retention_hours * 3600 * 1000 / 4  # milliseconds, a quarter at most


def dead_letter_queues(template: Template) -> set[str]:
    """Every queue the template uses as a dead-letter queue or failure destination."""
    found: set[str] = set()

    def target(value: Any) -> None:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])

    for resource in template.resources.values():
        properties = resource.get("Properties", {})
        target(properties.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        target(properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
        for rule_target in properties.get("Targets", []) if resource["Type"] == "AWS::Events::Rule" else []:
            target(rule_target.get("DeadLetterConfig", {}).get("Arn"))
    return found


def test_every_dead_letter_queue_has_a_depth_alarm() -> None:
    template = Template(stack_template())
    dlqs = dead_letter_queues(template)
    assert len(dlqs) == 4
    watched = {
        d["Value"]["Fn::GetAtt"][0]
        for a in alarms()
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in a["Dimensions"]
        if isinstance(d["Value"], dict) and "Fn::GetAtt" in d["Value"]
    }
    assert watched == dlqs


def test_the_work_queue_alarms_when_its_oldest_message_waits() -> None:
    template = Template(stack_template())
    work = template.output_resource("WorkQueueUrl")
    ages = [
        a
        for a in alarms()
        if a.get("MetricName") == "ApproximateAgeOfOldestMessage"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [work, "QueueName"]}} in a["Dimensions"]
    ]
    assert len(ages) == 1 and ages[0]["Threshold"] <= 3600


def test_cloudwatch_may_publish_to_the_alarm_topic() -> None:
    template = Template(stack_template())
    (policy,) = template.of_type("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allowed = [
        s
        for s in statements
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(allowed) == 1
    assert allowed[0]["Action"] == "sns:Publish"
    assert allowed[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
