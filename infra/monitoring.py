"""Alarms to an SNS topic (e-mail), and one dashboard: DLQs, errors, throttles, and the sweep's lag."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, SERVICE, ConsentryFunction

FIVE_MINUTES = Duration.minutes(5)
# A queue message older than this means its consumer is stuck (normal latency is seconds).
QUEUE_AGE_LIMIT = Duration.hours(1)
# Counters the package publishes (consentry.observability.count); any occurrence is worth a look.
FAILURE_COUNTERS = (
    "TagFailures",
    "EnforcementFailures",
    "TagLimitExceeded",
    "InvalidConsentRecords",
    "RejectedEvents",
    "BadEvents",
    "BackfillFailures",
)
OLDEST_DUE = "OldestDueAgeSeconds"


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
    """Every alarm notifies one topic; `alarm_email` subscribes to it when given."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[ConsentryFunction],
        queues: dict[str, sqs.IQueue],
        dlqs: dict[str, sqs.IQueue],
        alarm_email: str | None,
        oldest_due_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # No SSE: alarm messages carry names and numbers, no personal data; TLS is enforced.
        self.topic = sns.Topic(self, "Alarms", display_name="consentry alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
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
        # The sweep publishes it each night; past the threshold, due chats are kept longer than the policy allows.
        oldest = package_metric(OLDEST_DUE, "Maximum", Duration.hours(1))
        self._alarm("OldestDueAge", oldest, oldest_due_hours * 3600, f"a due chat has waited over {oldest_due_hours} h")
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
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Oldest due chat (seconds)",
                left=[oldest],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=oldest_due_hours * 3600, label="alarm")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Failures and rejections",
                left=[package_metric(c, "Sum", FIVE_MINUTES) for c in FAILURE_COUNTERS],
                width=8,
            ),
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
