"""IAM's decision for one request, from the function's identity policy and the bucket policy.

What moto's own IAM check leaves out, done here with AWS's rules: resources on every service,
the exact S3 action names (versions, legal holds, retention), and conditions. It covers the
condition operators and keys our policies use; a condition it cannot decide raises
(`Undecidable`) rather than guess. Same-account only: an Allow in either policy grants, an
explicit Deny in either refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from .calls import Request

Statement = Mapping[str, Any]
# Keys that are simply absent from a request they do not apply to (AWS: "not present in the context").
REQUEST_KEYS = ("s3:prefix", "s3:RequestObjectTagKeys", "s3:x-amz-copy-source")


class Undecidable(ValueError):
    """A condition on a key this evaluator cannot know for the request (say, an object's existing tags)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def glob_matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).match(value) is not None


def _action_matches(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(glob_matches(a, action, True) for a in as_list(statement["NotAction"]))
    return any(glob_matches(a, action, True) for a in as_list(statement.get("Action", [])))


def _resource_matches(statement: Statement, resource: str) -> bool:
    return any(glob_matches(r, resource) for r in as_list(statement.get("Resource", "*")))


def _principal_matches(statement: Statement, principal: str) -> bool:
    named = statement.get("Principal")
    if named in (None, "*"):
        return named == "*"
    aws = as_list(named.get("AWS", [])) if isinstance(named, dict) else []
    return "*" in aws or principal in aws


def _values(context: Mapping[str, Any], key: str) -> list[str] | None:
    """The request's values of `key`: None when unknown, [] when absent (given as None, or a request key)."""
    if key in context:
        value = context[key]
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, tuple | list) else [str(value)]
    if key in REQUEST_KEYS:
        return []
    return None


def _one(operator: str, expected: list[str], actual: list[str]) -> bool:
    negated = "Not" in operator
    base = operator.replace("ForAnyValue:", "").replace("ForAllValues:", "").replace("Not", "")
    if operator.startswith("ForAnyValue:"):
        return any(_compare(base, e, a) for a in actual for e in expected)
    if base == "Null":  # "true": the key is absent from the request; "false": it is present
        return any((e.lower() == "true") == (not actual) for e in expected)
    if not actual:  # AWS: a key absent from the request matches no value; a negated operator then holds
        return negated
    if base == "Bool":
        return any(a.lower() == e.lower() for a in actual for e in expected)
    hit = any(_compare(base, e, a) for a in actual for e in expected)
    return not hit if negated else hit


def _compare(base: str, expected: str, actual: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return expected == actual
    if base in ("StringLike", "ArnLike"):
        return glob_matches(expected, actual)
    raise Undecidable(f"condition operator {base} is not evaluated here")


def conditions_hold(statement: Statement, context: Mapping[str, Any]) -> bool | None:
    """True when every condition holds, False when one fails, None when none fails but one is unknown."""
    unknown = False
    for operator, block in statement.get("Condition", {}).items():
        for key, expected in block.items():
            actual = _values(context, key)
            if actual is None:
                unknown = True
                continue
            if not _one(operator, [str(e) for e in as_list(expected)], actual):
                return False
    return None if unknown else True


def decide(
    request: Request,
    principal: str,
    identity: Sequence[Statement],
    bucket_policy: Sequence[Statement] = (),
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Whether `principal` may make `request` under its identity statements and the bucket's policy."""
    facts: dict[str, Any] = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true", **dict(request.context)}
    facts.update(context or {})
    allowed_by = None
    for statement in identity:
        if statement.get("Effect") != "Allow" or not _action_matches(statement, request.action):
            continue
        if not _resource_matches(statement, request.resource):
            continue
        held = conditions_hold(statement, facts)
        if held is None:
            raise Undecidable(f"{request.action} on {request.resource}: cannot decide {statement.get('Condition')}")
        if held:
            allowed_by = statement
            break
    for statement in bucket_policy:
        if not _principal_matches(statement, principal) or not _action_matches(statement, request.action):
            continue
        if not _resource_matches(statement, request.resource):
            continue
        held = conditions_hold(statement, facts)
        if held is None:
            raise Undecidable(f"{request.action} on {request.resource}: cannot decide {statement.get('Sid')}")
        if held and statement.get("Effect") == "Deny":
            return Decision(False, f"denied by the bucket policy's {statement.get('Sid', 'statement')}")
        if held and allowed_by is None:
            allowed_by = statement
    if allowed_by is None:
        return Decision(False, "no statement allows it")
    return Decision(True, "allowed")
