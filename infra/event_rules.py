"""EventBridge: the chat.app bus, its rule and who may publish on it, and the nightly sweep schedule."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from consentry.service.handlers.events import CHAT_EVENT_SOURCE, CHAT_EVENT_TYPES

# EventBridge retries delivery with backoff; past this age or count the event goes to the DLQ.
# An erasure must be done within the hour (POLICY.md), so no point retrying for a day.
DELIVERY_RETRIES = 8
DELIVERY_MAX_AGE = Duration.hours(1)
# Lambda's own retries of an asynchronous invocation that raised.
INVOKE_RETRIES = 2


def deliver_with_dlq(rule: events.Rule, function: lambda_.IFunction, dlq: sqs.IQueue) -> None:
    """Target `function`; whatever cannot be delivered or keeps failing lands in `dlq`, never dropped."""
    rule.add_target(
        targets.LambdaFunction(
            function, dead_letter_queue=dlq, retry_attempts=DELIVERY_RETRIES, max_event_age=DELIVERY_MAX_AGE
        )
    )
    function.configure_async_invoke(
        retry_attempts=INVOKE_RETRIES,
        max_event_age=Duration.hours(6),
        on_failure=destinations.SqsDestination(dlq),
    )


def only_sender_statement(bus_arn: str, sender_arn: str | None) -> iam.PolicyStatement:
    """Refuse `chat.app` events from anyone but `sender_arn` (from everyone when None: fail closed).

    A Deny in the bus policy binds principals of this account too, whatever their IAM policies say:
    a forged `Chat Deleted` or `Legal Hold Released` would delete chats.
    """
    conditions: dict[str, object] = {"StringEquals": {"events:source": CHAT_EVENT_SOURCE}}
    if sender_arn is not None:
        conditions["ArnNotEquals"] = {"aws:PrincipalArn": sender_arn}
    return iam.PolicyStatement(
        sid="OnlyTheChatAppSendsChatEvents",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["events:PutEvents"],
        resources=[bus_arn],
        conditions=conditions,
    )


class ChatEvents(Construct):
    """The bus the chat app publishes to, who may publish `chat.app` on it, and the rule for its six events."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        dlq: sqs.IQueue,
        sender_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus")
        self.bus.add_to_resource_policy(only_sender_statement(self.bus.event_bus_arn, sender_arn))
        if sender_arn is not None:
            # A chat app in another account needs this Allow; one in this account is allowed by its own role.
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="ChatAppSendsChatEvents",
                    principals=[iam.ArnPrincipal(sender_arn)],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={"StringEquals": {"events:source": CHAT_EVENT_SOURCE}},
                )
            )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=self.bus,
            description="chat.app lifecycle events to chat_events",
            event_pattern=events.EventPattern(source=[CHAT_EVENT_SOURCE], detail_type=list(CHAT_EVENT_TYPES)),
        )
        deliver_with_dlq(self.rule, handler, dlq)


class NightlySweep(Construct):
    """The sweep's schedule: once a night, at `hour_utc`:00 UTC."""

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, dlq: sqs.IQueue, hour_utc: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="nightly retention sweep",
            schedule=events.Schedule.cron(minute="0", hour=str(hour_utc)),
        )
        deliver_with_dlq(self.rule, handler, dlq)
