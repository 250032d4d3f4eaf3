"""Alarms to an e-mail topic, a dashboard, and the sweep's lag watched."""

from __future__ import annotations

from typing import Any

import pytest

from infra.monitoring import NO_SUBSCRIBER

from .synthesis import Synth, flat

NAMES = ("tag_on_write", "consent_changed", "chat_events", "retention_sweep", "worker", "backfill")


def alarms(synth: Synth) -> list[dict[str, Any]]:
    return [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]


def alarms_on(synth: Synth, metric: str, namespace: str) -> list[dict[str, Any]]:
    return [a for a in alarms(synth) if a.get("MetricName") == metric and a.get("Namespace") == namespace]


def test_every_dead_letter_queue_has_a_depth_alarm(each_mode: Synth) -> None:
    stack = each_mode.stack
    dlqs = {stack.write.dlq, stack.work.dlq, stack.consent_dlq, stack.events_dlq}
    watched = {
        flat(d["Value"])
        for a in alarms_on(each_mode, "ApproximateNumberOfMessagesVisible", "AWS/SQS")
        for d in a["Dimensions"]
    }
    assert watched == {each_mode.ref(q.queue_name) for q in dlqs}
    for alarm in alarms_on(each_mode, "ApproximateNumberOfMessagesVisible", "AWS/SQS"):
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_error_and_throttle_alarms(created: Synth, metric: str) -> None:
    watched = {flat(d["Value"]) for a in alarms_on(created, metric, "AWS/Lambda") for d in a["Dimensions"]}
    assert watched == {created.ref(created.stack.functions[n].function.function_name) for n in NAMES}


def test_oldest_due_object_age_is_alarmed(created: Synth, attached: Synth) -> None:
    for synth, hours in ((created, 36), (attached, 48)):
        (alarm,) = alarms_on(synth, "OldestDueAgeSeconds", "consentry")
        assert alarm["Threshold"] == hours * 3600
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "consentry"}]


@pytest.mark.parametrize(
    "counter", ["InvalidConsentRecords", "TagLimitExceeded", "RejectedEvents", "StreamFailures", "WorkFailures"]
)
def test_package_failure_counters_are_alarmed(created: Synth, counter: str) -> None:
    (alarm,) = alarms_on(created, counter, "consentry")
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == 1


def test_every_alarm_notifies_the_alarm_topic(each_mode: Synth) -> None:
    topic = each_mode.ref(each_mode.stack.monitoring.topic.topic_arn)
    assert all([flat(a) for a in alarm["AlarmActions"]] == [topic] for alarm in alarms(each_mode))


def test_alarm_email_subscribes_when_given_and_its_absence_is_a_loud_warning(created: Synth, attached: Synth) -> None:
    assert created.of_type("AWS::SNS::Subscription") == {}
    assert NO_SUBSCRIBER in created.warnings()
    (subscription,) = attached.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "privacy-oncall@example.com"
    assert NO_SUBSCRIBER not in attached.warnings()


def test_alarm_topic_requires_tls(created: Synth) -> None:
    (policy,) = created.of_type("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_dashboard_shows_functions_queues_and_the_sweep(created: Synth) -> None:
    (dashboard,) = created.of_type("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for title in ("Invocations", "Errors and throttles", "Queue depth", "Oldest due chat", "Failures"):
        assert title in body


def test_queues_alarm_when_their_oldest_message_waits_an_hour(created: Synth) -> None:
    watched = alarms_on(created, "ApproximateAgeOfOldestMessage", "AWS/SQS")
    assert {flat(d["Value"]) for a in watched for d in a["Dimensions"]} == {
        created.ref(created.stack.write.queue.queue_name),
        created.ref(created.stack.work.queue.queue_name),
    }
    assert all(a["Threshold"] == 3600 for a in watched)


def test_the_batch_operations_bucket_keeps_manifests_and_reports_30_days_in_one_version(created: Synth) -> None:
    """Manifests list keys and completion reports name the failed tasks' keys (docs/privacy.md): both expire."""
    bucket = created.resources[created.logical_id(created.stack.batch.bucket.bucket_arn)]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [(r.get("Prefix"), r["ExpirationInDays"], r["Status"]) for r in rules] == [(None, 30, "Enabled")]
    assert bucket.get("VersioningConfiguration", {}).get("Status") != "Enabled"  # no noncurrent copy outlives it
