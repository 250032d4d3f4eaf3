"""The baseline: how a generic policy engine would enforce the policy, run against the same moto.

Every night it lists the whole bucket, and for every chat object reads its
metadata (HeadObject: `incognito`) and tags, decides with the same policy core
(last activity = LastModified: it sees no events), and writes the tags back
(PutObjectTagging for every object: it keeps no record of what it wrote). Due
objects are deleted in batches of 1000. To be fair to it, consent records are
read in batches (one BatchGetItem per 100 users of a listing page), with
consentry's own consent adapter.

Its cost is linear in the bucket: the calls per object measured here on a
small bucket, times the bucket size, are the calls of a night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from benchmarks import seed
from benchmarks.calls import CallCounter, Tally
from benchmarks.deploy import Deployment
from consentry.service.aws.chat_store import S3_TAG_LIMIT, plan_tags
from consentry.service.aws.consent_store import ConsentStore
from consentry.service.policy import Chat, Policy, chat_key, decide, decision_tags, is_incognito, load_policy

DELETE_BATCH = 1000


class NaiveNightly:
    """One nightly pass over the whole bucket."""

    def __init__(self, s3: Any, dynamodb: Any, bucket: str, consent_table: str, policy: Policy, names: Any) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.policy = policy
        self.consents = ConsentStore(dynamodb, consent_table, policy, names)

    def run(self, now: datetime) -> dict[str, int]:
        summary = {"objects": 0, "tagged": 0, "deleted": 0}
        for pattern in self.policy.keys:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=pattern.prefix):
                chats = [
                    (obj["Key"], obj["LastModified"], found)
                    for obj in page.get("Contents", [])
                    if (found := chat_key(obj["Key"], self.policy)) is not None
                ]
                consents = self.consents.get_many(found.user_id for _, _, found in chats)
                due: list[str] = []
                for key, last_modified, found in chats:
                    summary["objects"] += 1
                    head = self.s3.head_object(Bucket=self.bucket, Key=key)
                    incognito = is_incognito(head.get("Metadata", {}), self.policy)
                    current = self.s3.get_object_tagging(Bucket=self.bucket, Key=key)
                    decision = decide(
                        Chat(key, found.user_id, last_modified, incognito), consents[found.user_id], self.policy
                    )
                    if decision.is_due(now):
                        due.append(key)
                        continue
                    tags = {t["Key"]: t["Value"] for t in current.get("TagSet", [])}
                    plan = plan_tags(tags, decision_tags(decision, self.policy), self.policy.tags.eligible)
                    assert len(plan.tags) <= S3_TAG_LIMIT
                    self.s3.put_object_tagging(
                        Bucket=self.bucket,
                        Key=key,
                        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in plan.tags.items()]},
                    )
                    summary["tagged"] += 1
                for start in range(0, len(due), DELETE_BATCH):
                    chunk = due[start : start + DELETE_BATCH]
                    self.s3.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                    )
                    summary["deleted"] += len(chunk)
        return summary


@dataclass
class Naive:
    objects: int
    users: int
    calls: Tally

    def per_object(self, value: float) -> float:
        return value / self.objects


def naive_night(dep: Deployment, objects: int = 1000, users: int = 100) -> Naive:
    """Seed a bucket of `objects` tagged chats of `users` users and run one naive night over it."""
    import boto3

    from benchmarks.scenarios import GRANT, record_template

    _, tags = record_template("granted")
    consents = []
    for u in range(users):
        state = "granted" if u % 10 < 7 else ("denied" if u % 10 < 9 else "pending")
        consents.append(dep.consent_item(f"n{u:04d}", state, GRANT if state != "pending" else None))
    dep.seed_consents(consents)
    per_user = objects // users
    groups = [
        seed.group(f"n{u:04d}", 0, per_user, s3=[[0, per_user]], metadata={"incognito": "true"} if u % 20 == 0 else {})
        for u in range(users)
    ]
    dep.seed({"op": "chats", "bucket": dep.bucket, "tags": tags, "groups": groups})
    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    counter = CallCounter().attach(s3, dynamodb)
    engine = NaiveNightly(s3, dynamodb, dep.bucket, dep.consent_table, load_policy(), dep.ledger.names)
    with counter.measure() as calls:
        summary = engine.run(datetime.fromisoformat("2026-06-01T00:00:00+00:00"))
    assert summary["objects"] == per_user * users, summary
    return Naive(summary["objects"], users, calls)
