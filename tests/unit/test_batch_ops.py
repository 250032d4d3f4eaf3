"""S3 Batch Operations: the CSV manifest and the CreateJob request (botocore Stubber: moto has no S3 Control jobs)."""

from __future__ import annotations

import csv
import io
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.stub import ANY, Stubber

from consentry.service.aws.batch_ops import create_job, decode_key, encode_key, manifest_csv

BUCKET = "chat-logs"


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_manifest_lists_bucket_and_url_encoded_key_of_each_chat_without_header() -> None:
    text = manifest_csv(
        [
            (BUCKET, "chats/u1/c1.json"),
            (BUCKET, "code-sessions/u1/s1.jsonl"),
            (BUCKET, "chats/ü ser+1/c,2.json"),
        ]
    )
    assert rows(text) == [
        [BUCKET, "chats/u1/c1.json"],
        [BUCKET, "code-sessions/u1/s1.jsonl"],
        [BUCKET, "chats/%C3%BC%20ser%2B1/c%2C2.json"],
    ]
    assert text.endswith("\r\n")


def test_manifest_keys_decode_back_with_either_url_decoder() -> None:
    key = "chats/a b+c%d/ë;&=?.json"
    encoded = encode_key(key)
    assert decode_key(encoded) == key
    assert unquote_plus(encoded) == key  # Powertools' S3BatchOperationTask.s3_key decodes this way


def test_manifest_leaves_out_keys_that_are_not_ours_and_duplicates() -> None:
    text = manifest_csv(
        [
            (BUCKET, "chats/u1/c1.json"),
            (BUCKET, "chats/u1/c1.json"),
            (BUCKET, "chats/u1/deeper/c2.json"),
            (BUCKET, "chats/u1/c3.txt"),
            (BUCKET, "exports/u1/c4.json"),
        ]
    )
    assert rows(text) == [[BUCKET, "chats/u1/c1.json"]]


def test_manifest_of_no_chats_is_empty() -> None:
    assert manifest_csv([]) == ""


def job_request(etag: str = "0123456789abcdef0123456789abcdef") -> dict[str, object]:
    request: dict[str, object] = {
        "AccountId": "123456789012",
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:consentry-backfill",
                "InvocationSchemaVersion": "2.0",
            }
        },
        "Report": {
            "Bucket": "arn:aws:s3:::consentry-reports",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": "backfill/2026-01-01",
            "ReportScope": "FailedTasksOnly",
        },
        "ClientRequestToken": ANY,
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {
                "ObjectArn": "arn:aws:s3:::consentry-manifests/backfill/manifest.csv",
                "ETag": etag,
            },
        },
        "Description": "consentry backfill: tag every chat object",
        "Priority": 10,
        "RoleArn": "arn:aws:iam::123456789012:role/consentry-batch",
    }
    return request


def call(s3control: object, etag: str = '"0123456789abcdef0123456789abcdef"') -> str:
    return create_job(
        s3control,  # type: ignore[arg-type]
        "123456789012",
        "consentry-manifests",
        "backfill/manifest.csv",
        etag,
        "arn:aws:lambda:us-east-1:123456789012:function:consentry-backfill",
        "arn:aws:iam::123456789012:role/consentry-batch",
        "consentry-reports",
        "backfill/2026-01-01",
    )


@pytest.fixture
def s3control() -> object:
    return boto3.client("s3control", region_name="us-east-1")


def test_create_job_invokes_the_backfill_function_with_schema_2_and_reports_failed_tasks(s3control: object) -> None:
    captured: list[dict[str, object]] = []
    with Stubber(s3control) as stub:  # type: ignore[arg-type]
        stub.add_response("create_job", {"JobId": "job-0001"}, job_request())
        s3control.meta.events.register(  # type: ignore[attr-defined]
            "provide-client-params.s3-control.CreateJob", lambda params, **_: captured.append(dict(params))
        )
        assert call(s3control) == "job-0001"
        stub.assert_no_pending_responses()
    token = captured[0]["ClientRequestToken"]
    assert isinstance(token, str) and 1 <= len(token) <= 64


def test_create_job_request_token_is_the_same_for_the_same_manifest(s3control: object) -> None:
    tokens: list[object] = []
    s3control.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.s3-control.CreateJob", lambda params, **_: tokens.append(params["ClientRequestToken"])
    )
    with Stubber(s3control) as stub:  # type: ignore[arg-type]
        stub.add_response("create_job", {"JobId": "job-1"}, job_request())
        stub.add_response("create_job", {"JobId": "job-1"}, job_request())
        stub.add_response("create_job", {"JobId": "job-2"}, job_request(etag="f" * 32))
        call(s3control)
        call(s3control, etag="0123456789abcdef0123456789abcdef")  # quoted or bare: the same manifest
        call(s3control, etag="f" * 32)
    assert tokens[0] == tokens[1] != tokens[2]
