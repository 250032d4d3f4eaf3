"""CloudFormation's shape of a resource property -> the S3/SQS/DynamoDB API's shape, and canonical forms.

The drift test reads one side from the template and the other from moto (describe/get calls):
both land in one comparable form here. Conversions only: no expected value lives in this file.
"""

from __future__ import annotations

import json
from typing import Any

Json = dict[str, Any]


def lifecycle_rule_from_cfn(rule: Json) -> Json:
    """A rule of `AWS::S3::Bucket.LifecycleConfiguration` as `PutBucketLifecycleConfiguration` takes it."""
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    api: Json = {
        **({"ID": rule["Id"]} if "Id" in rule else {}),
        "Status": rule["Status"],
        "Filter": {"And": {"Prefix": rule["Prefix"], "Tags": tags}} if tags else {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    elif rule.get("ExpiredObjectDeleteMarker"):
        api["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = dict(rule["AbortIncompleteMultipartUpload"])
    return api


def canonical_lifecycle_rule(rule: Json) -> tuple[Any, ...]:
    """An API-shaped rule (as put, or as S3 answers it) as a comparable tuple."""
    found = rule.get("Filter", {})
    both = found.get("And", {})
    prefix = found.get("Prefix", both.get("Prefix", rule.get("Prefix", "")))
    tags = both.get("Tags", [found["Tag"]] if "Tag" in found else [])
    expiration = rule.get("Expiration", {})
    return (
        rule.get("ID"),
        rule["Status"],
        prefix,
        tuple(sorted((t["Key"], t["Value"]) for t in tags)),
        expiration.get("Days"),
        bool(expiration.get("ExpiredObjectDeleteMarker", False)),
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
    )


def canonical_statement(statement: Json) -> str:
    """An IAM statement with every list sorted and single values as lists: equal statements compare equal."""

    def norm(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: norm(v) for k, v in sorted(node.items())}
        if isinstance(node, list):
            return sorted((norm(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
        return node

    listed: dict[str, Any] = {
        k: v if isinstance(v, list) or k in ("Condition", "Principal", "Effect", "Sid") else [v]
        for k, v in statement.items()
    }
    if isinstance(listed.get("Principal"), dict):
        listed["Principal"] = {k: v if isinstance(v, list) else [v] for k, v in listed["Principal"].items()}
    if "Condition" in listed:
        listed["Condition"] = {
            op: {key: value if isinstance(value, list) else [value] for key, value in block.items()}
            for op, block in listed["Condition"].items()
        }
    return json.dumps(norm(listed), sort_keys=True)


def notification(queue_configuration: Json) -> tuple[Any, ...]:
    """A queue notification (API or template shape) as (events, filter rules, queue ARN)."""
    rules = queue_configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return (
        tuple(sorted(queue_configuration["Events"])),
        tuple(sorted((r["Name"].lower(), r["Value"]) for r in rules)),
        queue_configuration["QueueArn"],
    )
