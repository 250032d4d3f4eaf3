"""Deployment settings, read once from CDK context (`cdk.json` or `cdk deploy -c key=value`).

Create mode (the default) makes the chat-log bucket and the consent table. Attach mode uses
existing ones: `chatBucketName`, and `consentTableName` with `consentTableStreamArn`.
Defaults that `consentry.provision` shares live in `consentry.service.deployment`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consentry.service import deployment
from consentry.service.aws import ledger_schema
from consentry.service.policy import Policy, load_policy
from infra import ROOT

# CloudWatch Logs accepts only these retention periods: days -> aws_logs.RetentionDays member.
LOG_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


class SettingsError(ValueError):
    """A context value that cannot be deployed; the message names the key."""


@dataclass(frozen=True)
class Settings:
    policy: Policy
    policy_file: Path | None = None
    chat_bucket_name: str | None = None
    consent_table_name: str | None = None
    consent_stream_arn: str | None = None
    alarm_email: str | None = None
    reader_role_arns: tuple[str, ...] = ()
    legal_operator_arns: tuple[str, ...] = ()
    chat_app_principal_arn: str | None = None
    reserve_concurrency: bool = True
    noncurrent_version_days: int = 30
    deleted_backstop_days: int = deployment.DELETED_BACKSTOP_DAYS
    abort_multipart_days: int = deployment.ABORT_MULTIPART_DAYS
    log_retention_days: int = deployment.LOG_RETENTION_DAYS
    access_log_days: int = deployment.LOG_RETENTION_DAYS
    oldest_due_alarm_hours: int = 36
    sweep_hour_utc: int = 3
    due_shards: int = ledger_schema.DUE_SHARDS
    ledger_recovery_days: int = deployment.LEDGER_RECOVERY_DAYS

    @property
    def attach_bucket(self) -> bool:
        return self.chat_bucket_name is not None

    @property
    def attach_consent_table(self) -> bool:
        return self.consent_table_name is not None

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Settings from a context lookup (`node.try_get_context`); values may be strings from `-c`."""
        policy_file = _text(get, "policyFile")
        path = Path(policy_file) if policy_file else None
        if path is not None and not path.is_absolute():
            path = ROOT / path
        policy = load_policy(path)
        table, stream = _text(get, "consentTableName"), _text(get, "consentTableStreamArn")
        if (table is None) != (stream is None):
            raise SettingsError("consentTableName and consentTableStreamArn go together (attach mode needs both)")
        settings = cls(
            policy=policy,
            policy_file=path,
            chat_bucket_name=_text(get, "chatBucketName"),
            consent_table_name=table,
            consent_stream_arn=stream,
            alarm_email=_text(get, "alarmEmail"),
            reader_role_arns=_list(get, "trainingReaderRoleArns"),
            legal_operator_arns=_list(get, "legalOperatorRoleArns"),
            chat_app_principal_arn=_text(get, "chatAppPrincipalArn"),
            reserve_concurrency=_flag(get, "reserveConcurrency", True),
            # Superseded versions outlive the current one by at most the shortest retention figure.
            noncurrent_version_days=_days(get, "noncurrentVersionDays", policy.default_days),
            deleted_backstop_days=_days(get, "deletedBackstopDays", deployment.DELETED_BACKSTOP_DAYS),
            abort_multipart_days=_days(get, "abortMultipartDays", deployment.ABORT_MULTIPART_DAYS),
            log_retention_days=_days(get, "logRetentionDays", _log_days(policy.default_days)),
            access_log_days=_days(get, "accessLogDays", policy.default_days),
            oldest_due_alarm_hours=_days(get, "oldestDueAlarmHours", 36),
            sweep_hour_utc=_number(get, "sweepHourUtc", 3, 0, 23),
            due_shards=_number(get, "dueShards", ledger_schema.DUE_SHARDS, 1, ledger_schema.DUE_SHARDS_MAX),
            ledger_recovery_days=_number(
                get,
                "ledgerRecoveryDays",
                deployment.LEDGER_RECOVERY_DAYS,
                deployment.RECOVERY_DAYS_MIN,
                deployment.RECOVERY_DAYS_MAX,
            ),
        )
        if settings.log_retention_days not in LOG_RETENTION:
            raise SettingsError(f"logRetentionDays must be one of {sorted(LOG_RETENTION)}")
        # Our own logs obey the retention we enforce: nothing personal outlives the shortest retention.
        for key, value in (
            ("logRetentionDays", settings.log_retention_days),
            ("accessLogDays", settings.access_log_days),
        ):
            if value > policy.default_days:
                raise SettingsError(
                    f"{key} must not exceed the policy's shortest retention ({policy.default_days} days): logs hold "
                    "keyed hashes and access logs the keys of requests"
                )
        if settings.noncurrent_version_days < deployment.NONCURRENT_VERSION_DAYS_MIN:
            raise SettingsError(
                f"noncurrentVersionDays must be at least {deployment.NONCURRENT_VERSION_DAYS_MIN}: a version written "
                "during a legal hold whose hold failed waits that long in a dead-letter queue"
            )
        return settings


def _log_days(limit: int) -> int:
    """The longest retention CloudWatch Logs accepts that does not exceed `limit` days."""
    return max(days for days in LOG_RETENTION if days <= limit)


def _text(get: Callable[[str], Any], key: str) -> str | None:
    value = get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SettingsError(f"context {key} must be a string, got {value!r}")
    return value.strip()


def _list(get: Callable[[str], Any], key: str) -> tuple[str, ...]:
    value = get(key)
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"context {key} must be a list of strings or a comma-separated string")
    return tuple(i.strip() for i in items if i.strip())


def _flag(get: Callable[[str], Any], key: str, default: bool) -> bool:
    value = get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise SettingsError(f"context {key} must be true or false, got {value!r}")


def _number(get: Callable[[str], Any], key: str, default: int, low: int, high: int) -> int:
    value = get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise SettingsError(f"context {key} must be an integer, got {value!r}") from err
    if isinstance(value, bool) or not low <= number <= high:
        raise SettingsError(f"context {key} must be from {low} to {high}, got {value!r}")
    return number


def _days(get: Callable[[str], Any], key: str, default: int) -> int:
    return _number(get, key, default, 1, 36500)
