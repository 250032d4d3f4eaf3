"""Alarms to an SNS topic (e-mail), and one dashboard: DLQs, errors, throttles, the stream's lag and the sweep.

Every metric the package emits (`consentry.service.observability.count`, `metrics.add_metric`) has an alarm
here or a reason in `infra/reasons.py`; `tests/parity/test_alarms.py` reads the code and holds both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from consentry.service.deployment import CONSENT_STREAM
from infra.functions import METRICS_NAMESPACE, SERVICE, ConsentryFunction
from infra.reasons import UNALARMED_METRICS

FIVE_MINUTES = Duration.minutes(5)
# A queue message older than this means its consumer is stuck (normal latency is seconds).
QUEUE_AGE_LIMIT = Duration.hours(1)
# The consent stream keeps a record 24 h: a consent change not processed by then is lost and an opted-out
# user stays eligible. An hour behind leaves the operator most of a day to act.
ITERATOR_AGE_LIMIT = Duration.hours(1)
assert ITERATOR_AGE_LIMIT.to_hours() < CONSENT_STREAM.retention_hours
# Counters the package publishes (consentry.service.observability.count); any occurrence is worth a look.
FAILURE_COUNTERS = (
    "EnforcementFailures",
    "TagLimitExceeded",
    "InvalidConsentRecords",
    "RejectedEvents",
    "BadEvents",
    "BackfillFailures",
    "StreamFailures",
    "WorkFailures",
)
OLDEST_DUE = "OldestDueAgeSeconds"
# The sweep counts one on every run that queued its shards; none for this long pages someone.
SWEEP_STARTED = "SweepStarted"
SWEEP_HEARTBEAT = Duration.hours(26)  # a night, and two hours of slack for a slow start
# What the package emits and needs no alarm, with the reason (pure data, read by tests/parity too).
UNALARMED = UNALARMED_METRICS
NO_SUBSCRIBER = "consentry:noAlarmSubscriber"


def package_metric(name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A metric of the package: Powertools adds the `service` dimension to each one."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE},
        statistic=statistic,
        period=period,
    )


class Monitoring(Construct):
    """Every alarm notifies one topic; `alarm_email` subscribes to it (without it, a loud synth warning)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[ConsentryFunction],
        queues: dict[str, sqs.IQueue],
        dlqs: dict[str, sqs.IQueue],
        stream_consumer: ConsentryFunction,
        alarm_email: str | None,
        oldest_due_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # No SSE: alarm messages carry names and numbers, no personal data; TLS is enforced.
        self.topic = sns.Topic(self, "Alarms", display_name="consentry alarms", enforce_ssl=True)
        # The topic's policy replaces SNS's default one: CloudWatch needs its own Allow to publish.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchPublishesAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        else:
            Annotations.of(self).add_warning_v2(
                NO_SUBSCRIBER,
                "NOBODY RECEIVES THE ALARMS: deploy with -c alarmEmail=<address> (or subscribe to the AlarmTopicArn "
                "output) or a stuck sweep, a lagging consent stream and dead-lettered events go unnoticed.",
            )
        self.alarms: list[cloudwatch.Alarm] = []

        for name, dlq in dlqs.items():
            depth = dlq.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum")
            self._alarm(f"{name}DlqDepth", depth, 1, f"{name}: messages in the dead-letter queue")
        for name, queue in queues.items():
            age = queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum")
            self._alarm(f"{name}Age", age, QUEUE_AGE_LIMIT.to_seconds(), f"{name}: oldest message waits too long")
        for fn in functions:
            label = fn.spec.name
            self._alarm(f"{label}Errors", fn.function.metric_errors(period=FIVE_MINUTES), 1, f"{label}: errors")
            self._alarm(
                f"{label}Throttles", fn.function.metric_throttles(period=FIVE_MINUTES), 1, f"{label}: throttled"
            )
        lag = stream_consumer.function.metric("IteratorAge", statistic="Maximum", period=FIVE_MINUTES)
        self._alarm(
            "ConsentStreamIteratorAge",
            lag,
            ITERATOR_AGE_LIMIT.to_milliseconds(),
            f"consent changes wait over {ITERATOR_AGE_LIMIT.to_hours()} h; the stream drops them after "
            f"{CONSENT_STREAM.retention_hours} h",
        )
        # The sweep publishes it each night; past the threshold, due chats are kept longer than the policy allows.
        oldest = package_metric(OLDEST_DUE, "Maximum", Duration.hours(1))
        self._alarm("OldestDueAge", oldest, oldest_due_hours * 3600, f"a due chat has waited over {oldest_due_hours} h")
        heartbeat_periods = int(SWEEP_HEARTBEAT.to_hours())
        self._alarm(
            "SweepHeartbeat",
            package_metric(SWEEP_STARTED, "Sum", Duration.hours(1)),
            1,
            f"no retention sweep started for {heartbeat_periods} h: nothing is being deleted",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            periods=heartbeat_periods,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        for counter in FAILURE_COUNTERS:
            self._alarm(counter, package_metric(counter, "Sum", FIVE_MINUTES), 1, f"consentry counted {counter}")

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations",
                left=[fn.function.metric_invocations(label=fn.spec.name) for fn in functions],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Errors and throttles",
                left=[fn.function.metric_errors(label=fn.spec.name) for fn in functions],
                right=[fn.function.metric_throttles(label=fn.spec.name) for fn in functions],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[q.metric_approximate_number_of_messages_visible(label=n) for n, q in queues.items()],
                right=[q.metric_approximate_number_of_messages_visible(label=n) for n, q in dlqs.items()],
                right_y_axis=cloudwatch.YAxisProps(label="DLQ"),
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Oldest due chat (seconds)",
                left=[oldest],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=oldest_due_hours * 3600, label="alarm")],
                width=6,
            ),
            cloudwatch.GraphWidget(title="Consent stream lag (ms)", left=[lag], width=6),
            cloudwatch.GraphWidget(
                title="Failures and rejections",
                left=[package_metric(c, "Sum", FIVE_MINUTES) for c in FAILURE_COUNTERS],
                right=[package_metric(m, "Sum", FIVE_MINUTES) for m in (*UNALARMED, SWEEP_STARTED)],
                width=6,
            ),
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        periods: int = 1,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
