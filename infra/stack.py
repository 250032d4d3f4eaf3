"""The consentry stack: storage, triggers, functions, enforcement and operations, wired together."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import access, nag
from infra.batch_operations import BatchOperations
from infra.enforcement import chat_object_arns, enforcement_statements
from infra.event_rules import ChatEvents, NightlySweep
from infra.functions import (
    BACKFILL,
    CHAT_EVENTS,
    CONSENT_CHANGED,
    RETENTION_SWEEP,
    SPECS,
    TAG_ON_WRITE,
    WORKER,
    ConsentryFunction,
)
from infra.layer import ConsentryLayer, layer_policy_path
from infra.monitoring import Monitoring
from infra.queues import QueueWithDlq, dead_letter_queue, visibility_for
from infra.settings import Settings
from infra.storage import ChatBucket, private_bucket
from infra.tables import ConsentTable, LedgerTable
from infra.training import Training
from infra.training_reader import TrainingReader

# S3 notifications are small; 100 per invocation with a short wait keeps Lambda calls few at peak.
WRITE_BATCH_SIZE = 100
WRITE_BATCH_WINDOW = Duration.seconds(10)
WORK_BATCH_SIZE = 10
# Stream records retried this often (then halved by bisect) before the DLQ gets their coordinates.
STREAM_RETRIES = 10
# The roles the bucket policy lets tag and delete chats: the functions that act on objects.
ENFORCERS = (TAG_ON_WRITE, CHAT_EVENTS, WORKER, BACKFILL)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


class ConsentryStack(Stack):
    """Everything of issue 4; `settings` chooses create or attach mode for the bucket and consent table."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        policy = settings.policy

        # -- storage and queues ------------------------------------------------------------
        access_logs = private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(settings.access_log_days))],
        )
        write = QueueWithDlq(
            self, "WriteQueue", visibility_timeout=visibility_for(TAG_ON_WRITE.timeout, WRITE_BATCH_WINDOW)
        )
        work = QueueWithDlq(self, "WorkQueue", visibility_timeout=visibility_for(WORKER.timeout))
        consent_dlq = dead_letter_queue(self, "ConsentStreamDlq")
        events_dlq = dead_letter_queue(self, "EventsDlq")
        chats = ChatBucket(self, "ChatBucket", settings=settings, write_queue=write.queue, access_logs=access_logs)
        consent = ConsentTable(self, "ConsentTable", settings=settings)
        ledger = LedgerTable(self, "Ledger")

        # -- functions -----------------------------------------------------------------------
        layer = ConsentryLayer(self, "Layer", policy_file=settings.policy_file)
        environment = {
            "CHAT_BUCKET": chats.bucket.bucket_name,
            "CONSENT_TABLE": consent.table.table_name,
            "LEDGER_TABLE": ledger.table.table_name,
            "WORK_QUEUE_URL": work.queue.queue_url,
        }
        if settings.policy_file is not None:
            environment["POLICY_FILE"] = layer_policy_path(settings.policy_file)
        fns = {
            spec.name: ConsentryFunction(
                self,
                f"{_camel(spec.name)}Function",
                spec=spec,
                layer=layer.layer,
                environment=environment,
                log_retention_days=settings.log_retention_days,
            )
            for spec in SPECS
        }

        # -- least privilege: each role gets exactly its flows' calls -------------------------
        bucket_arn = chats.bucket.bucket_arn
        for spec, object_actions in (
            (TAG_ON_WRITE, access.TAGGER_OBJECT_ACTIONS),
            (BACKFILL, access.TAGGER_OBJECT_ACTIONS),
            (CHAT_EVENTS, access.ENFORCER_OBJECT_ACTIONS),
            (WORKER, access.ENFORCER_OBJECT_ACTIONS),
        ):
            fns[spec.name].allow(
                *access.chat_object_statements(bucket_arn, policy, object_actions),
                access.consent_read_statement(consent.table.table_arn),
                access.ledger_statement(ledger.table.table_arn, ledger.index_arns),
                access.send_statement(work.queue.queue_arn),
            )
            nag.acknowledge_wildcards(
                fns[spec.name].role,
                chat_object_arns(bucket_arn, policy),
                "Chat objects are addressed by key and keys embed user ids: the chat prefix is the narrowest "
                "ARN that covers every chat, and nothing outside the chat prefixes is granted.",
            )
        fns[CONSENT_CHANGED.name].allow(
            access.stream_read_statement(consent.stream_arn), access.send_statement(work.queue.queue_arn)
        )
        fns[RETENTION_SWEEP.name].allow(access.send_statement(work.queue.queue_arn))

        # -- triggers ------------------------------------------------------------------------
        fns[TAG_ON_WRITE.name].function.add_event_source(
            sources.SqsEventSource(
                write.queue,
                batch_size=WRITE_BATCH_SIZE,
                max_batching_window=WRITE_BATCH_WINDOW,
                report_batch_item_failures=True,
            )
        )
        fns[WORKER.name].function.add_event_source(
            sources.SqsEventSource(work.queue, batch_size=WORK_BATCH_SIZE, report_batch_item_failures=True)
        )
        fns[CONSENT_CHANGED.name].function.add_event_source_mapping(
            "ConsentStream",
            event_source_arn=consent.stream_arn,
            # From the oldest record kept (24 h): nothing written before the mapping existed is skipped.
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=100,
            bisect_batch_on_error=True,
            retry_attempts=STREAM_RETRIES,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(consent_dlq),
        )
        chat_events = ChatEvents(self, "ChatEvents", handler=fns[CHAT_EVENTS.name].function, dlq=events_dlq)
        NightlySweep(
            self,
            "NightlySweep",
            handler=fns[RETENTION_SWEEP.name].function,
            dlq=events_dlq,
            hour_utc=settings.sweep_hour_utc,
        )
        batch = BatchOperations(self, "BatchOperations", backfill=fns[BACKFILL.name].function, access_logs=access_logs)
        self.training = Training(self, "Training", access_logs=access_logs, batch_operations_role=batch.role)

        # -- enforcement in the bucket policy ------------------------------------------------
        reader = TrainingReader(self, "TrainingReader", bucket_arn=bucket_arn, policy=policy)
        chats.policy.document.add_statements(
            *enforcement_statements(
                bucket_arn,
                policy,
                enforcer_arns=[fns[spec.name].role.role_arn for spec in ENFORCERS],
                reader_arns=[reader.role.role_arn, *settings.reader_role_arns],
            )
        )

        # -- operations ----------------------------------------------------------------------
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions=list(fns.values()),
            queues={"Write": write.queue, "Work": work.queue},
            dlqs={
                "Write": write.dlq,
                "Work": work.dlq,
                "ConsentStream": consent_dlq,
                "Events": events_dlq,
            },
            alarm_email=settings.alarm_email,
            oldest_due_hours=settings.oldest_due_alarm_hours,
        )

        self.functions, self.chats, self.consent, self.ledger = fns, chats, consent, ledger
        self.write, self.work, self.consent_dlq, self.events_dlq = write, work, consent_dlq, events_dlq
        self.reader, self.batch, self.monitoring, self.layer = reader, batch, monitoring, layer

        for name, value in {
            "ChatBucketName": chats.bucket.bucket_name,
            "ConsentTableName": consent.table.table_name,
            "LedgerTableName": ledger.table.table_name,
            "WriteQueueUrl": write.queue.queue_url,
            "WorkQueueUrl": work.queue.queue_url,
            "ChatEventBusName": chat_events.bus.event_bus_name,
            "BackfillFunctionArn": fns[BACKFILL.name].function.function_arn,
            "BatchOperationsRoleArn": batch.role.role_arn,
            "BatchOperationsBucketName": batch.bucket.bucket_name,
            "TrainingReaderRoleArn": reader.role.role_arn,
            "AlarmTopicArn": monitoring.topic.topic_arn,
        }.items():
            CfnOutput(self, name, value=value)

        # cdk-nag: the other acknowledgments sit where their findings are made.
        for dlq in (consent_dlq, events_dlq):
            nag.acknowledge(
                dlq,
                "SQS3",
                "This queue is itself a dead-letter queue (a stream on-failure destination, an EventBridge target "
                "DLQ, a Lambda async on-failure destination); cdk-nag only recognises redrive policies.",
            )
        nag.acknowledge_notifications_handler(self)
