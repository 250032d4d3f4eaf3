"""What the bucket policy enforces, in both modes. Tag keys come from the policy file."""

from __future__ import annotations

from consentry.service.deployment import BUCKET_LOCK_ACTIONS, COPY_SOURCE, LOCK_ACTIONS
from consentry.service.policy import load_policy
from infra.stack import DELETERS, ENFORCERS, HOLDERS

from .synthesis import EXTERNAL_READER, LEGAL_OPERATORS, Json, Synth, as_list, flat

POLICY = load_policy()
ELIGIBLE_TAG = f"s3:ExistingObjectTag/{POLICY.tags.eligible}"


def chat_prefix_arns(synth: Synth) -> set[str]:
    bucket = synth.ref(synth.stack.chats.bucket.bucket_arn)
    return {f"{bucket}/{pattern.prefix}*" for pattern in POLICY.keys}


def role_arns(synth: Synth, specs: tuple[object, ...]) -> set[str]:
    return {synth.ref(synth.stack.functions[spec.name].role.role_arn) for spec in specs}  # type: ignore[attr-defined]


def enforcer_arns(synth: Synth) -> set[str]:
    return role_arns(synth, ENFORCERS)


def principal_arns(statement: Json, operator: str) -> set[str]:
    return {flat(arn) for arn in as_list(statement["Condition"][operator]["aws:PrincipalArn"])}


def test_training_reader_may_get_only_objects_tagged_eligible(each_mode: Synth) -> None:
    deny = each_mode.statement("TrainingReaderDeniedIneligibleObjects")
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "s3:GetObject"
    # StringNotEquals also holds when the tag is missing: an untagged object is not readable.
    assert deny["Condition"]["StringNotEquals"] == {ELIGIBLE_TAG: "true"}
    assert each_mode.ref(each_mode.stack.reader.role.role_arn) in principal_arns(deny, "ArnLike")
    allow = each_mode.statement("TrainingReaderGetsEligibleChats")
    assert allow["Effect"] == "Allow"
    assert allow["Condition"] == {"StringEquals": {ELIGIBLE_TAG: "true"}}
    assert {flat(r) for r in as_list(allow["Resource"])} == chat_prefix_arns(each_mode)


def test_training_reader_may_not_read_noncurrent_versions(each_mode: Synth) -> None:
    deny = each_mode.statement("TrainingReaderDeniedVersions")
    assert (deny["Effect"], deny["Action"]) == ("Deny", "s3:GetObjectVersion")
    assert each_mode.ref(each_mode.stack.reader.role.role_arn) in principal_arns(deny, "ArnLike")


def test_only_enforcer_roles_put_or_delete_tags(each_mode: Synth) -> None:
    deny = each_mode.statement("OnlyEnforcerTagsChats")
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert set(deny["Action"]) == {
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
    }
    assert principal_arns(deny, "ArnNotLike") == enforcer_arns(each_mode)
    assert {flat(r) for r in as_list(deny["Resource"])} == chat_prefix_arns(each_mode)


def test_writers_may_not_put_objects_carrying_policy_tag_keys(each_mode: Synth) -> None:
    deny = each_mode.statement("NoWriterSetsPolicyTags")
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:PutObject", {"AWS": "*"})
    keys = deny["Condition"]["ForAnyValue:StringEquals"]["s3:RequestObjectTagKeys"]
    assert sorted(keys) == sorted(POLICY.tags.all())
    assert len(keys) == 5


def test_only_the_deleting_roles_delete_chat_objects(each_mode: Synth) -> None:
    deny = each_mode.statement("OnlyEnforcerDeletesChats")
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) == {"s3:DeleteObject", "s3:DeleteObjectVersion"}
    assert principal_arns(deny, "ArnNotLike") == role_arns(each_mode, DELETERS)
    assert {flat(r) for r in as_list(deny["Resource"])} == chat_prefix_arns(each_mode)


def test_only_holders_and_legal_operators_lock_chats_or_bypass_retention(created: Synth, attached: Synth) -> None:
    for synth, operators in ((created, set()), (attached, set(LEGAL_OPERATORS))):
        deny = synth.statement("OnlyHoldersLockChats")
        assert (deny["Effect"], deny["Principal"]) == ("Deny", {"AWS": "*"})
        assert set(as_list(deny["Action"])) == set(LOCK_ACTIONS)
        assert {"s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"} <= set(LOCK_ACTIONS)
        assert principal_arns(deny, "ArnNotLike") == role_arns(synth, HOLDERS) | operators
        assert {flat(r) for r in as_list(deny["Resource"])} == chat_prefix_arns(synth)


def test_nobody_but_the_stacks_roles_changes_the_buckets_object_lock_settings(each_mode: Synth) -> None:
    deny = each_mode.statement("NobodyChangesObjectLockSettings")
    assert (deny["Effect"], deny["Principal"]) == ("Deny", {"AWS": "*"})
    assert as_list(deny["Action"]) == list(BUCKET_LOCK_ACTIONS) == ["s3:PutBucketObjectLockConfiguration"]
    assert flat(deny["Resource"]) == each_mode.ref(each_mode.stack.chats.bucket.bucket_arn)
    assert principal_arns(deny, "ArnNotLike") == role_arns(each_mode, HOLDERS)  # legal operators hold, never configure


def test_no_copy_lands_on_a_chat_key_but_the_stacks(each_mode: Synth) -> None:
    deny = each_mode.statement("NoCopyOntoChats")
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:PutObject", {"AWS": "*"})
    assert deny["Condition"]["Null"] == {COPY_SOURCE: "false"}  # any copy: its directive is no condition key
    assert principal_arns(deny, "ArnNotLike") == enforcer_arns(each_mode)
    assert {flat(r) for r in as_list(deny["Resource"])} == chat_prefix_arns(each_mode)


def test_enforcers_are_the_functions_that_tag_and_deleters_and_holders_are_among_them(created: Synth) -> None:
    assert {spec.name for spec in ENFORCERS} == {"tag_on_write", "chat_events", "worker", "backfill"}
    assert set(DELETERS) <= set(ENFORCERS) and set(HOLDERS) <= set(ENFORCERS)


def test_bucket_refuses_plain_http(each_mode: Synth) -> None:
    tls = [
        s for s in each_mode.chat_bucket_policy() if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(tls) == 1
    assert (tls[0]["Effect"], tls[0]["Action"]) == ("Deny", "s3:*")


def test_external_reader_roles_are_held_to_the_same_rule(attached: Synth) -> None:
    for sid in ("TrainingReaderDeniedIneligibleObjects", "TrainingReaderDeniedVersions"):
        assert EXTERNAL_READER in principal_arns(attached.statement(sid), "ArnLike")


def test_created_bucket_is_versioned_locked_private_encrypted_and_logged(created: Synth) -> None:
    bucket = created.resources[created.logical_id(created.stack.chats.bucket.bucket_arn)]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["ObjectLockEnabled"] is True
    # Legal holds only: a default retention would make the sweep's deletions fail.
    assert "ObjectLockConfiguration" not in bucket
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "AES256"}
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]


def test_chat_writes_notify_the_write_queue_for_each_chat_prefix(each_mode: Synth) -> None:
    (notifications,) = each_mode.of_type("Custom::S3BucketNotifications").values()
    queue_configs = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    write_queue = each_mode.ref(each_mode.stack.write.queue.queue_arn)
    filters = set()
    for config in queue_configs:
        assert config["Events"] == ["s3:ObjectCreated:*"]
        assert flat(config["QueueArn"]) == write_queue
        rules = {r["Name"]: r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}
        filters.add((rules["prefix"], rules["suffix"]))
    assert filters == {(p.prefix, p.suffix) for p in POLICY.keys}
