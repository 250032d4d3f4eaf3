"""Create mode makes the bucket and consent table; attach mode uses existing ones; the settings a deployment takes."""

from __future__ import annotations

import pytest

from consentry.service import deployment
from consentry.service.deployment import DLQ_RETENTION_SECONDS
from infra.settings import Settings, SettingsError

from .synthesis import STREAM_ARN, Synth


def test_create_mode_makes_the_chat_bucket_and_the_consent_table(created: Synth) -> None:
    # chat bucket, access logs, batch operations manifests/reports
    # chats, access logs, batch operations, training, Athena results
    assert len(created.of_type("AWS::S3::Bucket")) == 5
    tables = created.of_type("AWS::DynamoDB::Table").values()
    keys = sorted(tuple(k["AttributeName"] for k in t["Properties"]["KeySchema"]) for t in tables)
    assert keys == [("pk", "sk"), ("user_id",)]


def test_created_consent_table_streams_new_and_old_images(created: Synth) -> None:
    created.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )


def test_ledger_is_on_demand_with_pitr_and_the_due_index(each_mode: Synth) -> None:
    each_mode.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            # A removed record stays restorable a week, not AWS's default 35 days (docs/privacy.md).
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "due_shard", "KeyType": "HASH"},
                        {"AttributeName": "expires_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},  # the sweep claims by keys alone
                }
            ],
        },
    )


def test_attach_mode_creates_neither_bucket_nor_consent_table(attached: Synth) -> None:
    assert len(attached.of_type("AWS::S3::Bucket")) == 4  # access logs, batch operations, training, Athena results
    (ledger,) = attached.of_type("AWS::DynamoDB::Table").values()
    assert ledger["Properties"]["KeySchema"][0]["AttributeName"] == "pk"


def test_attach_mode_puts_the_enforcement_policy_on_the_existing_bucket(attached: Synth) -> None:
    sids = {s.get("Sid") for s in attached.chat_bucket_policy()}
    assert {
        "OnlyEnforcerTagsChats",
        "NoWriterSetsPolicyTags",
        "OnlyEnforcerDeletesChats",
        "OnlyHoldersLockChats",
    } <= sids
    tls = [s for s in attached.chat_bucket_policy() if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(tls) == 1


def test_attach_mode_adds_notifications_without_replacing_existing_ones(attached: Synth) -> None:
    (notifications,) = attached.of_type("Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["BucketName"] == "existing-chats"
    assert notifications["Properties"]["Managed"] is False


def test_attach_mode_reads_the_given_consent_stream(attached: Synth) -> None:
    assert attached.stack.consent.stream_arn == STREAM_ARN
    arns = [m["Properties"]["EventSourceArn"] for m in attached.of_type("AWS::Lambda::EventSourceMapping").values()]
    assert STREAM_ARN in arns


def context(**values: object) -> Settings:
    return Settings.from_context(values.get)


def test_a_consent_table_needs_its_stream_arn() -> None:
    with pytest.raises(SettingsError, match="consentTableStreamArn"):
        context(consentTableName="accounts-consent")


def test_log_retention_must_be_one_cloudwatch_accepts() -> None:
    with pytest.raises(SettingsError, match="logRetentionDays"):
        context(logRetentionDays="42")


def test_logs_keep_no_longer_than_the_policys_shortest_retention() -> None:
    """Log lines (keyed hashes) and S3 access logs (keys) expire with the ineligible data they speak of."""
    settings = context()
    shortest = settings.policy.default_days
    assert settings.log_retention_days <= shortest and settings.access_log_days <= shortest
    for key in ("logRetentionDays", "accessLogDays"):
        with pytest.raises(SettingsError, match=f"{key} must not exceed"):
            context(**{key: str(shortest * 3)})


def test_the_ledgers_recovery_period_is_a_setting_dynamodb_accepts() -> None:
    assert context().ledger_recovery_days == deployment.LEDGER_RECOVERY_DAYS == 7
    assert context(ledgerRecoveryDays="35").ledger_recovery_days == 35
    for outside in ("0", "36"):
        with pytest.raises(SettingsError, match="ledgerRecoveryDays"):
            context(ledgerRecoveryDays=outside)


def test_settings_take_strings_from_the_command_line() -> None:
    settings = context(
        sweepHourUtc="23",
        trainingReaderRoleArns="arn:a, arn:b",
        noncurrentVersionDays="21",
        legalOperatorRoleArns="arn:l",
        reserveConcurrency="false",
    )
    assert (settings.sweep_hour_utc, settings.reader_role_arns, settings.noncurrent_version_days) == (
        23,
        ("arn:a", "arn:b"),
        21,
    )
    assert (settings.legal_operator_arns, settings.reserve_concurrency) == (("arn:l",), False)
    with pytest.raises(SettingsError, match="sweepHourUtc"):
        context(sweepHourUtc="24")
    with pytest.raises(SettingsError, match="reserveConcurrency"):
        context(reserveConcurrency="maybe")


def test_noncurrent_versions_outlive_a_hold_waiting_in_a_dead_letter_queue() -> None:
    """A version written during a hold whose hold failed must still exist when the DLQ is redriven."""
    with pytest.raises(SettingsError, match="noncurrentVersionDays"):
        context(noncurrentVersionDays="7")
    assert context(noncurrentVersionDays=str(DLQ_RETENTION_SECONDS // 86_400 + 1)).noncurrent_version_days == 15


def test_retention_defaults_come_from_the_policy_file() -> None:
    settings = context()
    assert settings.noncurrent_version_days == settings.policy.default_days
    assert not settings.attach_bucket and not settings.attach_consent_table


def test_due_shards_come_from_the_context_within_three_digits() -> None:
    assert context().due_shards == 16
    assert context(dueShards="64").due_shards == 64
    for wrong in ("0", "1001", "many"):
        with pytest.raises(SettingsError, match="dueShards"):
            context(dueShards=wrong)
