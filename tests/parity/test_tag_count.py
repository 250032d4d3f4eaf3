"""GetObject's TagCount, which the write path trusts to skip a tag read: where moto differs from S3.

S3 puts `x-amz-tagging-count` in a GetObject answer only for a caller allowed s3:GetObjectTagging
(the object's tag set being what it counts); moto 5.2 puts it there for anyone allowed the GetObject
(`FakeKey.response_dict` in moto/s3/models.py, with no permission check). Without the grant, on AWS,
a tagged chat would read as untagged and its writer's tags would be overwritten; moto cannot show it,
so tests/parity/test_least_privilege.py holds the grant in every role that reads an object's facts.
Both agree on the rest: no TagCount for an untagged object, 416 InvalidRange for a range of an empty
object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from parity.iam import moto_iam_enforced

BUCKET = "chats"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="tagged", Body=b"{}", Tagging="team=support&project=x")
        client.put_object(Bucket=BUCKET, Key="plain", Body=b"{}")
        client.put_object(Bucket=BUCKET, Key="empty", Body=b"")
        yield client


def test_moto_counts_the_tags_of_a_ranged_get_and_omits_the_count_when_there_are_none(s3: Any) -> None:
    assert s3.get_object(Bucket=BUCKET, Key="tagged", Range="bytes=0-0")["TagCount"] == 2
    assert "TagCount" not in s3.get_object(Bucket=BUCKET, Key="plain", Range="bytes=0-0")


def test_moto_answers_a_range_of_an_empty_object_with_416_as_s3_does(s3: Any) -> None:
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=BUCKET, Key="empty", Range="bytes=0-0")
    assert refused.value.response["Error"]["Code"] == "InvalidRange"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_moto_counts_the_tags_for_a_caller_who_may_not_read_them(s3: Any) -> None:
    """S3 would leave TagCount out of this answer: the difference the grant below covers."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="reader")
    only_get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [only_get]})
    iam.put_user_policy(UserName="reader", PolicyName="get", PolicyDocument=document)
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    with moto_iam_enforced():
        with pytest.raises(ClientError):
            reader.get_object_tagging(Bucket=BUCKET, Key="tagged")
        assert reader.get_object(Bucket=BUCKET, Key="tagged", Range="bytes=0-0")["TagCount"] == 2
