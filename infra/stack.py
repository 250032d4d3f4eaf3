"""The consentry stack: storage, triggers, functions, enforcement and operations, wired together.

The figures (sizes, timeouts, queue settings, schemas, bucket policy, lifecycle) are deployment
facts from `consentry.service.deployment`, shared with `consentry.provision`.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from consentry.service.deployment import (
    CONSENT_STREAM,
    DELETERS,
    ENFORCERS,
    HASH_KEY_BYTES,
    HASH_KEY_CHARACTERS,
    HOLDERS,
    OUTPUTS,
    WORK_QUEUE,
    WRITE_QUEUE,
    Principals,
    QueueSpec,
    hash_key_secret_name,
)
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
from infra.queues import QueueWithDlq, dead_letter_queue
from infra.settings import Settings
from infra.storage import ChatBucket, private_bucket
from infra.tables import ConsentTable, LedgerTable
from infra.training import Training
from infra.training_reader import TrainingReader

WRITE_BATCH_SIZE = WRITE_QUEUE.batch_size
WORK_BATCH_SIZE = WORK_QUEUE.batch_size
STREAM_RETRIES = CONSENT_STREAM.retry_attempts
NO_CHAT_APP = "consentry:noChatAppPrincipal"

__all__ = ["DELETERS", "ENFORCERS", "HOLDERS", "ConsentryStack"]


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def sqs_source(queue: QueueWithDlq) -> sources.SqsEventSource:
    """The queue's event source as its spec says: batches, window, partial failures, maximum concurrency."""
    spec: QueueSpec = queue.spec
    return sources.SqsEventSource(
        queue.queue,
        batch_size=spec.batch_size,
        max_batching_window=Duration.seconds(spec.batching_window_seconds) if spec.batching_window_seconds else None,
        max_concurrency=spec.max_concurrency,
        report_batch_item_failures=True,
    )


class ConsentryStack(Stack):
    """The whole deployment; `settings` chooses create or attach mode for the bucket and consent table."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        policy = settings.policy

        # -- storage and queues ------------------------------------------------------------
        access_logs = private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(settings.access_log_days))],
        )
        write = QueueWithDlq(self, "WriteQueue", spec=WRITE_QUEUE)
        work = QueueWithDlq(self, "WorkQueue", spec=WORK_QUEUE)
        consent_dlq = dead_letter_queue(self, "ConsentStreamDlq")
        events_dlq = dead_letter_queue(self, "EventsDlq")
        chats = ChatBucket(self, "ChatBucket", settings=settings, write_queue=write.queue, access_logs=access_logs)
        consent = ConsentTable(self, "ConsentTable", settings=settings)
        ledger = LedgerTable(self, "Ledger", recovery_period_days=settings.ledger_recovery_days)
        # One random key per deployment for keyed hashes of user ids and keys. Never rotated: every hash
        # made with the old key (in logs, metrics, reports) would stop matching its user.
        hash_key = secretsmanager.Secret(
            self,
            "HashKey",
            secret_name=hash_key_secret_name(ledger.table.table_name),
            description="consentry: key of the keyed hashes of user ids and chat keys",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=2 * HASH_KEY_BYTES,
                exclude_characters="".join(chr(c) for c in range(33, 127) if chr(c) not in HASH_KEY_CHARACTERS),
                include_space=False,
                require_each_included_type=False,
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        nag.acknowledge(
            hash_key,
            "SMG4",
            "The hash key is never rotated on purpose: rotating it would orphan every keyed hash made with it "
            "(log lines, metrics and reports could no longer be matched to their user).",
        )

        # -- functions -----------------------------------------------------------------------
        layer = ConsentryLayer(self, "Layer", policy_file=settings.policy_file)
        environment = {
            "CHAT_BUCKET": chats.bucket.bucket_name,
            "CONSENT_TABLE": consent.table.table_name,
            "LEDGER_TABLE": ledger.table.table_name,
            "WORK_QUEUE_URL": work.queue.queue_url,
            "HASH_KEY_SECRET": hash_key.secret_arn,
            "DUE_SHARDS": str(settings.due_shards),
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
                reserve_concurrency=settings.reserve_concurrency,
            )
            for spec in SPECS
        }

        # -- least privilege: each role gets exactly its flows' calls -------------------------
        bucket_arn = chats.bucket.bucket_arn
        ledger_arn, due_index = ledger.table.table_arn, ledger.index_arns
        for spec in (TAG_ON_WRITE, BACKFILL):
            fns[spec.name].allow(
                access.object_statement(bucket_arn, policy, access.TAGGER_OBJECT_ACTIONS),
                access.list_bucket_statement(bucket_arn),
                access.list_versions_statement(bucket_arn, policy),
                access.consent_read_statement(consent.table.table_arn),
                access.ledger_statement(ledger_arn, access.TAGGER_LEDGER_ACTIONS),
            )
        for spec in (CHAT_EVENTS, WORKER):
            fns[spec.name].allow(
                access.object_statement(bucket_arn, policy, access.ENFORCER_OBJECT_ACTIONS),
                access.list_bucket_statement(bucket_arn),
                access.list_versions_statement(bucket_arn, policy),
                access.consent_read_statement(consent.table.table_arn),
                access.ledger_statement(ledger_arn, access.ENFORCER_LEDGER_ACTIONS),
                access.send_statement(work.queue.queue_arn),
            )
        fns[WORKER.name].allow(  # sweep pages: the due index, and the sweep's delete marker
            access.due_index_statement(due_index), access.object_statement(bucket_arn, policy, access.MARKER_ACTIONS)
        )
        for spec in (TAG_ON_WRITE, BACKFILL, CHAT_EVENTS, WORKER):
            nag.acknowledge_wildcards(
                fns[spec.name].role,
                chat_object_arns(bucket_arn, policy),
                "Chat objects are addressed by key and keys embed user ids: the chat prefix is the narrowest "
                "ARN that covers every chat, and nothing outside the chat prefixes is granted.",
            )
        fns[CONSENT_CHANGED.name].allow(
            *access.stream_read_statements(consent.stream_arn), access.send_statement(work.queue.queue_arn)
        )
        nag.acknowledge_wildcards(
            fns[CONSENT_CHANGED.name].role,
            ["*"],
            "dynamodb:ListStreams has no resource type (AWS's service authorization reference): it takes '*' or "
            "nothing. The stream event source mapping needs it; it lists stream ARNs, never data.",
        )
        fns[RETENTION_SWEEP.name].allow(
            access.due_index_statement(due_index), access.send_statement(work.queue.queue_arn)
        )
        for fn in fns.values():
            fn.allow(access.hash_key_statement(hash_key.secret_arn))

        # -- triggers ------------------------------------------------------------------------
        fns[TAG_ON_WRITE.name].function.add_event_source(sqs_source(write))
        fns[WORKER.name].function.add_event_source(sqs_source(work))
        fns[CONSENT_CHANGED.name].function.add_event_source_mapping(
            "ConsentStream",
            event_source_arn=consent.stream_arn,
            starting_position=lambda_.StartingPosition[CONSENT_STREAM.starting_position],
            batch_size=CONSENT_STREAM.batch_size,
            bisect_batch_on_error=CONSENT_STREAM.bisect_on_error,
            retry_attempts=CONSENT_STREAM.retry_attempts,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(consent_dlq),
        )
        chat_events = ChatEvents(
            self,
            "ChatEvents",
            handler=fns[CHAT_EVENTS.name].function,
            dlq=events_dlq,
            sender_arn=settings.chat_app_principal_arn,
        )
        if settings.chat_app_principal_arn is None:
            Annotations.of(chat_events).add_warning_v2(
                NO_CHAT_APP,
                "THE CHAT EVENT BUS REFUSES EVERY chat.app EVENT: deploy with -c chatAppPrincipalArn=<the chat app's "
                "role ARN>. Only that principal may send them (a forged Chat Deleted would delete chats).",
            )
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
        reader = TrainingReader(
            self, "TrainingReader", bucket_arn=bucket_arn, policy=policy, training_bucket=self.training.bucket
        )
        principals = Principals(
            enforcers=[fns[spec.name].role.role_arn for spec in ENFORCERS],
            deleters=[fns[spec.name].role.role_arn for spec in DELETERS],
            holders=[fns[spec.name].role.role_arn for spec in HOLDERS],
            readers=[reader.role.role_arn, reader.copy_role.role_arn, *settings.reader_role_arns],
            legal_operators=settings.legal_operator_arns,
        )
        chats.policy.document.add_statements(*enforcement_statements(bucket_arn, policy, principals))

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
            stream_consumer=fns[CONSENT_CHANGED.name],
            alarm_email=settings.alarm_email,
            oldest_due_hours=settings.oldest_due_alarm_hours,
        )

        self.functions, self.chats, self.consent, self.ledger = fns, chats, consent, ledger
        self.write, self.work, self.consent_dlq, self.events_dlq = write, work, consent_dlq, events_dlq
        self.reader, self.batch, self.monitoring, self.layer = reader, batch, monitoring, layer
        self.hash_key, self.chat_events = hash_key, chat_events

        # What a deployment hands the functions (CONTRACT.md's variables), then the operator's extras.
        contract = {
            "CHAT_BUCKET": chats.bucket.bucket_name,
            "CONSENT_TABLE": consent.table.table_name,
            "LEDGER_TABLE": ledger.table.table_name,
            "WORK_QUEUE_URL": work.queue.queue_url,
            "WRITE_QUEUE_URL": write.queue.queue_url,
            "HASH_KEY_SECRET": hash_key.secret_arn,
        }
        assert contract.keys() == OUTPUTS.keys()
        for variable, value in contract.items():
            CfnOutput(self, OUTPUTS[variable], value=value, description=f"the functions' {variable}")
        for name, value in {
            "ChatEventBusName": chat_events.bus.event_bus_name,
            "BackfillFunctionArn": fns[BACKFILL.name].function.function_arn,
            "ChatEventsFunctionArn": fns[CHAT_EVENTS.name].function.function_arn,  # the CLI's chat events
            "ConsentStreamDlqUrl": consent_dlq.queue_url,  # `consentry dlq`
            "EventsDlqUrl": events_dlq.queue_url,
            "BatchOperationsRoleArn": batch.role.role_arn,
            "BatchOperationsBucketName": batch.bucket.bucket_name,
            "TrainingReaderRoleArn": reader.role.role_arn,
            "TrainingCopyRoleArn": reader.copy_role.role_arn,
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
