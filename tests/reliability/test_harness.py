"""The harness's in-place reset and restore: the API shows what it showed, and moto acts on it as on its own.

`Deployment.reset(to=...)` puts moto's records back without an API call
(`harness.MotoRecords`); the exploration and the side-by-side scheduler start
every history that way. These tests read the deployment only through the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .explore import GRANTED, K1, K2, WRITTEN
from .harness import Deployment
from .test_idempotency import state

LATER = WRITTEN + timedelta(days=3)


def everything(d: Deployment) -> dict[str, Any]:
    """`state` (holds, tags, delete markers, every item), with each version's body, metadata and LastModified."""
    seen = state(d)
    for page in d.s3.get_paginator("list_object_versions").paginate(Bucket=d.bucket):
        for v in page.get("Versions", []):
            got = d.s3.get_object(Bucket=d.bucket, Key=v["Key"], VersionId=v["VersionId"])
            seen["objects"][f"{v['Key']}@{v['VersionId']}"] += (
                got["Body"].read(),
                got["Metadata"],
                v["LastModified"],
                v["IsLatest"],
            )
    return seen


@pytest.fixture
def world(deployment: Deployment) -> Deployment:
    """Two versions of K1 (the first held from the console), K2 deleted (a marker), tags and ledger records."""
    d = deployment
    d.put_consent(GRANTED)
    d.put_chat(K1, WRITTEN)
    d.put_chat(K2, WRITTEN)
    d.settle()
    first = d.s3.list_object_versions(Bucket=d.bucket, Prefix=K1)["Versions"][0]["VersionId"]
    d.s3.put_object_legal_hold(Bucket=d.bucket, Key=K1, VersionId=first, LegalHold={"Status": "ON"})
    d.put_chat(K1, LATER, metadata={"incognito": "true"})
    d.settle()
    d.s3.delete_object(Bucket=d.bucket, Key=K2)
    return d


def test_a_restored_world_is_what_the_api_showed_when_it_was_taken(world: Deployment) -> None:
    d = world
    taken = everything(d)
    assert len(taken["objects"]) == 4 and all(taken["tables"].values()), "the world has versions, a marker, items"
    captured = d.capture()

    d.put_chat(K2, LATER)
    d.settle()
    assert everything(d) != taken
    d.reset()
    assert everything(d) == {"objects": {}, "tables": {name: [] for name in taken["tables"]}}

    d.reset(to=captured)
    assert everything(d) == taken
    d.reset(to=captured)  # and again: each restore is a copy, not the one the last history changed
    assert everything(d) == taken


def test_moto_acts_on_a_restored_world_as_on_its_own(world: Deployment) -> None:
    d = world
    captured = d.capture()
    d.reset(to=captured)
    held = d.s3.list_object_versions(Bucket=d.bucket, Prefix=K1)["Versions"][-1]["VersionId"]
    refused = d.s3.delete_objects(Bucket=d.bucket, Delete={"Objects": [{"Key": K1, "VersionId": held}]})
    assert [e["Key"] for e in refused.get("Errors", [])] == [K1], "the console's legal hold still holds"

    d.put_chat(K1, LATER + timedelta(days=1))  # a write after the restore: a new version, announced, tagged
    d.settle()
    versions = d.s3.list_object_versions(Bucket=d.bucket, Prefix=K1)["Versions"]
    current = next(v for v in versions if v["IsLatest"])
    assert len(versions) == 3 and current["LastModified"] == LATER + timedelta(days=1)
    tags = d.s3.get_object_tagging(Bucket=d.bucket, Key=K1)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags}["training-eligible"] == "true"
    assert d.ledger.get("u1", K1) is not None
