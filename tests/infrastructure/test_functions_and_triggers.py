"""The six functions of CONTRACT.md and what triggers each."""

from __future__ import annotations

from typing import Any

import pytest

from consentry.service.aws.ledger_schema import DUE_SHARDS
from infra.functions import SPECS
from infra.stack import NO_CHAT_APP, WRITE_BATCH_SIZE

from .synthesis import CHAT_APP, Synth, flat

NAMES = ("tag_on_write", "consent_changed", "chat_events", "retention_sweep", "worker", "backfill")
DETAIL_TYPES = {
    "Chat Reopened",
    "Chat Archived",
    "Chat Deleted",
    "Erasure Requested",
    "Legal Hold Placed",
    "Legal Hold Released",
}


def function(synth: Synth, name: str) -> dict[str, Any]:
    props: dict[str, Any] = synth.resources[synth.logical_id(synth.stack.functions[name].function.function_arn)][
        "Properties"
    ]
    return props


def mapping(synth: Synth, name: str) -> dict[str, Any]:
    target = synth.logical_id(synth.stack.functions[name].function.function_arn)
    found: dict[str, Any]
    (found,) = [
        m["Properties"]
        for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": target}
    ]
    return found


def test_the_six_functions_of_the_contract(created: Synth) -> None:
    assert tuple(spec.name for spec in SPECS) == NAMES
    assert set(created.stack.functions) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_function_runs_its_handler_on_python_arm64_with_the_layer(each_mode: Synth, name: str) -> None:
    props = function(each_mode, name)
    assert props["Handler"] == "app.handler"
    assert props["Runtime"] in {"python3.12", "python3.13"}
    assert props["Architectures"] == ["arm64"]
    assert [flat(layer) for layer in props["Layers"]] == [each_mode.ref(each_mode.stack.layer.layer.layer_version_arn)]


@pytest.mark.parametrize("name", NAMES)
def test_function_environment_names_the_contract_variables(each_mode: Synth, name: str) -> None:
    env = function(each_mode, name)["Environment"]["Variables"]
    stack = each_mode.stack
    assert flat(env["CHAT_BUCKET"]) == each_mode.ref(stack.chats.bucket.bucket_name)
    assert flat(env["CONSENT_TABLE"]) == each_mode.ref(stack.consent.table.table_name)
    assert flat(env["LEDGER_TABLE"]) == each_mode.ref(stack.ledger.table.table_name)
    assert flat(env["WORK_QUEUE_URL"]) == each_mode.ref(stack.work.queue.queue_url)
    assert env["POWERTOOLS_SERVICE_NAME"] == "consentry"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "consentry"
    assert env["DUE_SHARDS"] == str(DUE_SHARDS)  # `dueShards` in the context: tests/infrastructure/test_settings


def test_policy_file_defaults_to_the_bundled_one(created: Synth) -> None:
    assert all("POLICY_FILE" not in function(created, n)["Environment"]["Variables"] for n in NAMES)


def test_custom_policy_file_ships_in_the_layer(attached: Synth) -> None:
    for name in NAMES:
        env = function(attached, name)["Environment"]["Variables"]
        assert env["POLICY_FILE"] == "/opt/policy/consumer-terms-2025.toml"


def test_logs_are_kept_for_the_configured_days(created: Synth, attached: Synth) -> None:
    for synth, days in ((created, 30), (attached, 14)):  # default: the policy's shortest retention
        groups = synth.of_type("AWS::Logs::LogGroup").values()
        assert [g["Properties"]["RetentionInDays"] for g in groups] == [days] * len(NAMES)


def test_one_layer_for_python_on_arm64(created: Synth) -> None:
    (layer,) = created.of_type("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == [function(created, "worker")["Runtime"]]


def test_tag_on_write_takes_batches_of_100_from_the_write_queue(created: Synth) -> None:
    esm = mapping(created, "tag_on_write")
    assert flat(esm["EventSourceArn"]) == created.ref(created.stack.write.queue.queue_arn)
    assert esm["BatchSize"] == WRITE_BATCH_SIZE == 100
    assert esm["MaximumBatchingWindowInSeconds"] > 0
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_worker_consumes_the_work_queue_reporting_failures(created: Synth) -> None:
    esm = mapping(created, "worker")
    assert flat(esm["EventSourceArn"]) == created.ref(created.stack.work.queue.queue_arn)
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BatchSize"] == 1  # each page its own invocation: a user's 16 hash ranges run side by side


def test_consent_changed_reads_the_stream_with_bisect_bounded_retries_and_dlq(each_mode: Synth) -> None:
    esm = mapping(each_mode, "consent_changed")
    assert flat(esm["EventSourceArn"]) == each_mode.ref(each_mode.stack.consent.stream_arn)
    assert esm["StartingPosition"] == "TRIM_HORIZON"
    assert esm["BisectBatchOnFunctionError"] is True
    assert 0 < esm["MaximumRetryAttempts"] <= 10
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    destination = esm["DestinationConfig"]["OnFailure"]["Destination"]
    assert flat(destination) == each_mode.ref(each_mode.stack.consent_dlq.queue_arn)


@pytest.mark.parametrize(("queue", "consumer"), [("write", "tag_on_write"), ("work", "worker")])
def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout(
    created: Synth, queue: str, consumer: str
) -> None:
    pair = getattr(created.stack, queue)
    props = created.resources[created.logical_id(pair.queue.queue_arn)]["Properties"]
    assert props["VisibilityTimeout"] >= 6 * function(created, consumer)["Timeout"]


@pytest.mark.parametrize("queue", ["write", "work"])
def test_failed_messages_move_to_a_dlq_after_about_five_receives(created: Synth, queue: str) -> None:
    pair = getattr(created.stack, queue)
    redrive = created.resources[created.logical_id(pair.queue.queue_arn)]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert flat(redrive["deadLetterTargetArn"]) == created.ref(pair.dlq.queue_arn)


def rule_for(synth: Synth, name: str) -> dict[str, Any]:
    target = synth.ref(synth.stack.functions[name].function.function_arn)
    rule: dict[str, Any]
    (rule,) = [
        r["Properties"]
        for r in synth.of_type("AWS::Events::Rule").values()
        if any(flat(t["Arn"]) == target for t in r["Properties"]["Targets"])
    ]
    return rule


def test_chat_app_events_reach_chat_events_with_dlq_and_retries(each_mode: Synth) -> None:
    rule = rule_for(each_mode, "chat_events")
    assert rule["EventPattern"]["source"] == ["chat.app"]
    assert set(rule["EventPattern"]["detail-type"]) == DETAIL_TYPES
    (bus,) = each_mode.of_type("AWS::Events::EventBus")
    assert rule["EventBusName"] == {"Ref": bus}
    (target,) = rule["Targets"]
    assert flat(target["DeadLetterConfig"]["Arn"]) == each_mode.ref(each_mode.stack.events_dlq.queue_arn)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600


def test_sweep_runs_nightly(created: Synth, attached: Synth) -> None:
    assert rule_for(created, "retention_sweep")["ScheduleExpression"] == "cron(0 3 * * ? *)"
    rule = rule_for(attached, "retention_sweep")
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    (target,) = rule["Targets"]
    assert flat(target["DeadLetterConfig"]["Arn"]) == attached.ref(attached.stack.events_dlq.queue_arn)


@pytest.mark.parametrize("name", ["chat_events", "retention_sweep"])
def test_async_invocations_that_keep_failing_land_in_the_dlq(created: Synth, name: str) -> None:
    target = created.logical_id(created.stack.functions[name].function.function_arn)
    (config,) = [
        c["Properties"]
        for c in created.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": target}
    ]
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert flat(destination) == created.ref(created.stack.events_dlq.queue_arn)


def test_s3_batch_operations_may_invoke_backfill(created: Synth) -> None:
    role_arn = created.stack.batch.role.role_arn
    trust = created.resources[created.logical_id(role_arn)]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    backfill = created.ref(created.stack.functions["backfill"].function.function_arn)
    invokes = {r for a, r in created.grants(role_arn) if a == "lambda:InvokeFunction"}
    assert invokes == {backfill}


@pytest.mark.parametrize("name", NAMES)
def test_every_function_gets_the_hash_key_secret(each_mode: Synth, name: str) -> None:
    env = function(each_mode, name)["Environment"]["Variables"]
    assert flat(env["HASH_KEY_SECRET"]) == each_mode.ref(each_mode.stack.hash_key.secret_arn)


def test_the_hash_key_is_64_hex_characters_and_outlives_the_stack(created: Synth) -> None:
    logical = created.logical_id(created.stack.hash_key.secret_arn)
    secret = created.resources[logical]
    generator = secret["Properties"]["GenerateSecretString"]
    alphabet = {chr(c) for c in range(33, 127)} - set(generator["ExcludeCharacters"])
    assert alphabet == set("0123456789abcdef") and generator["PasswordLength"] == 64
    assert not generator["IncludeSpace"]
    assert secret["DeletionPolicy"] == "Retain"
    assert flat(secret["Properties"]["Name"]) == f"{created.ref(created.stack.ledger.table.table_name)}/hash-key"


@pytest.mark.parametrize(("queue", "consumer"), [("write", "tag_on_write"), ("work", "worker")])
def test_queue_consumers_are_capped_on_their_event_source_not_throttled(
    each_mode: Synth, queue: str, consumer: str
) -> None:
    """Lambda's poller never exceeds MaximumConcurrency, so nothing is returned to the queue for lack of a slot.
    Reserved concurrency below it would throttle, and throttled receives count towards the DLQ."""
    esm = mapping(each_mode, consumer)
    cap = esm["ScalingConfig"]["MaximumConcurrency"]
    assert 2 <= cap <= 1000  # SQS event sources accept 2 to 1000
    reserved = function(each_mode, consumer).get("ReservedConcurrentExecutions")
    assert reserved is None or reserved >= cap


def test_a_runaway_backfill_chat_app_or_sweep_cannot_take_the_accounts_concurrency(
    created: Synth, attached: Synth
) -> None:
    reserved = {n: function(created, n).get("ReservedConcurrentExecutions") for n in NAMES}
    assert reserved["retention_sweep"] == 1
    assert reserved["backfill"] is not None and reserved["chat_events"] is not None
    # reserveConcurrency=false (accounts below the default quota): no function reserves any.
    assert all("ReservedConcurrentExecutions" not in function(attached, n) for n in NAMES)


def test_work_queue_visibility_covers_six_consumer_timeouts_plus_its_window(created: Synth) -> None:
    for queue, consumer in (("write", "tag_on_write"), ("work", "worker")):
        props = created.resources[created.logical_id(getattr(created.stack, queue).queue.queue_arn)]["Properties"]
        window = mapping(created, consumer).get("MaximumBatchingWindowInSeconds", 0)
        assert props["VisibilityTimeout"] == 6 * function(created, consumer)["Timeout"] + window


def test_only_the_chat_app_may_send_chat_app_events(created: Synth, attached: Synth) -> None:
    for synth, sender in ((created, None), (attached, CHAT_APP)):
        statements = [p["Properties"]["Statement"] for p in synth.of_type("AWS::Events::EventBusPolicy").values()]
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Action"] == "events:PutEvents" and deny["Principal"] == {"AWS": "*"}
        assert deny["Condition"]["StringEquals"] == {"events:source": "chat.app"}
        allows = [s for s in statements if s["Effect"] == "Allow"]
        if sender is None:
            assert "ArnNotEquals" not in deny["Condition"]  # fail closed: nobody, until it is named
            assert allows == []
            assert NO_CHAT_APP in synth.warnings()
        else:
            assert deny["Condition"]["ArnNotEquals"] == {"aws:PrincipalArn": sender}
            (allow,) = allows
            assert allow["Principal"] == {"AWS": sender}
            assert NO_CHAT_APP not in synth.warnings()
