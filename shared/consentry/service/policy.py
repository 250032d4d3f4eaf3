"""The policy of POLICY.md as values and one pure function.

No boto3 and no clock here: given the facts about a chat and its user's
consent record, `decide` returns the decision. A reader checks the policy by
reading this file and the policy TOML it loads.

Example:
    >>> policy = load_policy()
    >>> consent = parse_consent({"user_id": "u1", "tier": "pro",
    ...     "training_consent": "granted", "consent_changed_at": "2025-09-01T00:00:00Z",
    ...     "version": 3})
    >>> chat = Chat(key="chats/u1/c1.json", user_id="u1",
    ...     last_activity=parse_instant("2025-10-01T12:00:00Z"))
    >>> decision = decide(chat, consent, policy)
    >>> (decision.eligible, str(decision.reason))
    (True, 'consent-granted')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

DEFAULT_POLICY = "consumer-terms-2025.toml"


class Reason(StrEnum):
    """Reason codes of POLICY.md, in the order their rules are checked."""

    DELETED = "deleted"
    CONSENT_PENDING = "consent-pending"
    INVALID_CONSENT_RECORD = "invalid-consent-record"
    COMMERCIAL_TIER = "commercial-tier"
    CONSENT_DENIED = "consent-denied"
    BEFORE_CONSENT = "before-consent"
    BEFORE_POLICY = "before-policy"
    INCOGNITO = "incognito"
    CONSENT_GRANTED = "consent-granted"


CONSENT_VALUES = ("granted", "denied", "pending")


class PolicyError(ValueError):
    """A policy file that cannot be enforced; the message says where and why (`problems`: each one found)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class KeyPattern(NamedTuple):
    kind: str
    prefix: str
    suffix: str


class TagKeys(NamedTuple):
    eligible: str
    reason: str
    retention_days: str
    expires_on: str
    policy_version: str

    def all(self) -> tuple[str, ...]:
        return (self.eligible, self.reason, self.retention_days, self.expires_on, self.policy_version)


class Policy(NamedTuple):
    id: str
    version: int
    effective_at: datetime
    consumer_tiers: frozenset[str]
    commercial_tiers: frozenset[str]
    eligible_days: int
    default_days: int
    commercial_min_days: int
    commercial_max_days: int
    keys: tuple[KeyPattern, ...]
    tags: TagKeys
    incognito_metadata: str
    tombstone_days: int = 30  # how long the proof of a removal outlives it ([retention] tombstone_days)

    @property
    def label(self) -> str:
        """The `policy-version` tag value, e.g. `consumer-terms-2025@1`."""
        return f"{self.id}@{self.version}"


class ChatKey(NamedTuple):
    """An object key that is ours: `<prefix><user_id>/<chat_id><suffix>`."""

    key: str
    user_id: str
    chat_id: str
    kind: str


class ConsentRecord(NamedTuple):
    """A consent item as the policy sees it. `problem` is set when invalid."""

    user_id: str
    exists: bool = True
    tier: str | None = None
    training_consent: str = "pending"
    consent_changed_at: datetime | None = None
    tier_changed_at: datetime | None = None
    retention_days: int | None = None
    version: int = 0
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.exists and self.problem is None


@dataclass(frozen=True)
class Chat:
    """The facts about one chat object that the policy reads."""

    key: str
    user_id: str
    last_activity: datetime
    incognito: bool = False
    deleted_at: datetime | None = None  # Chat Deleted or Erasure Requested time


class Decision(NamedTuple):
    eligible: bool
    reason: Reason
    retention_days: int
    expires_at: datetime

    @property
    def expires_on(self) -> str:
        return self.expires_at.strftime("%Y-%m-%d")

    def is_due(self, now: datetime) -> bool:
        return self.expires_at <= now


# -- time -------------------------------------------------------------------


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant with a zone (`Z` or an offset), as a UTC datetime.

    A value without a zone is refused: it is not an instant.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """Fixed-width UTC form, so that instants sort as strings (ledger index)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the policy file --------------------------------------------------------


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and check a policy file; the bundled one when `path` is None."""
    import tomllib  # here, not at import: a function loads its policy once, on its first event
    from importlib import resources

    if path is None:
        text = resources.files("consentry.service.policies").joinpath(DEFAULT_POLICY).read_text()
        source = f"bundled {DEFAULT_POLICY}"
    else:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise PolicyError(f"{path}: cannot read: {err.strerror}") from err
        source = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"{source}: not valid TOML: {err}") from err
    return policy_from_mapping(raw, source)


# S3's rules for tag keys and values (any S3 API refuses others): letters, digits and spaces representable
# in UTF-8, and + - = . _ : / @; keys 1-128 characters, values up to 256; the prefix `aws:` is AWS's own.
TAG_CHARACTERS = re.compile(r"[\w +\-=.:/@]*")
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256


def tag_key_problem(key: str) -> str | None:
    """Why S3 would refuse `key` as a tag key, or None."""
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"must be 1 to {TAG_KEY_MAX} characters, got {len(key)}"
    if not TAG_CHARACTERS.fullmatch(key):
        bad = "".join(sorted({c for c in key if not TAG_CHARACTERS.fullmatch(c)}))
        return f"has characters S3 refuses in a tag key ({bad!r}; allowed: letters, digits, spaces and + - = . _ : / @)"
    if key.lower().startswith("aws:"):
        return "starts with 'aws:', which S3 reserves for AWS's own tags"
    return None


def policy_from_mapping(raw: Mapping[str, Any], source: str = "policy") -> Policy:
    """The policy a parsed policy file describes; a PolicyError listing every problem found (`.problems`)."""
    problems: list[str] = []

    def field(section: str, name: str, kind: type, default: Any) -> Any:
        table = raw.get(section)
        if not isinstance(table, Mapping):
            message = f"missing table [{section}]"
            if message not in problems:
                problems.append(message)
            return default
        value = table.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            problems.append(f"[{section}] {name} must be of type {kind.__name__}, got {value!r}")
            return default
        return value

    def tiers(name: str) -> frozenset[str]:
        values = field("tiers", name, list, None)
        if values is None:
            return frozenset()
        if not values or not all(isinstance(v, str) and v for v in values):
            problems.append(f"[tiers] {name} must be a non-empty list of names")
            return frozenset()
        return frozenset(values)

    def days(name: str) -> int:
        value: int = field("retention", name, int, 1)
        if not 0 < value <= 36500:
            problems.append(f"[retention] {name} must be from 1 to 36500 days, got {value}")
            return 1
        return value

    def optional_days(name: str, default: int) -> int:
        retention = raw.get("retention")
        return days(name) if isinstance(retention, Mapping) and name in retention else default

    effective_at = datetime(1970, 1, 1, tzinfo=UTC)
    effective_text = field("policy", "effective_at", str, None)
    if effective_text is not None:
        try:
            effective_at = parse_instant(effective_text)
        except ValueError as err:
            problems.append(f"[policy] effective_at: {err}")
    policy_id: str = field("policy", "id", str, "")
    if isinstance(raw.get("policy"), Mapping) and isinstance(raw["policy"].get("id"), str):
        if not policy_id.strip():
            problems.append("[policy] id must not be empty: it names the policy in every object's policy-version tag")
        elif not TAG_CHARACTERS.fullmatch(policy_id) or len(policy_id) > TAG_VALUE_MAX - 12:
            problems.append(
                f"[policy] id {policy_id!r} cannot be part of a tag value: letters, digits, spaces and "
                f"+ - = . _ : / @ only, at most {TAG_VALUE_MAX - 12} characters"
            )
    version: int = field("policy", "version", int, 1)
    if version < 1:
        problems.append("[policy] version must be 1 or more")
        version = 1
    consumer, commercial = tiers("consumer"), tiers("commercial")
    if consumer & commercial:
        problems.append(f"tiers both consumer and commercial: {sorted(consumer & commercial)}")
    keys_raw = raw.get("keys")
    keys = []
    if not isinstance(keys_raw, list) or not keys_raw:
        problems.append("at least one [[keys]] table is needed")
        keys_raw = []
    for i, entry in enumerate(keys_raw):
        if not isinstance(entry, Mapping) or not all(
            isinstance(entry.get(f), str) and entry.get(f) for f in ("kind", "prefix", "suffix")
        ):
            problems.append(f"[[keys]] #{i + 1} needs kind, prefix and suffix strings")
            continue
        if not entry["prefix"].endswith("/") or "/" in entry["suffix"]:
            problems.append(f"[[keys]] #{i + 1}: prefix must end with '/', suffix hold no '/'")
            continue
        keys.append(KeyPattern(entry["kind"], entry["prefix"], entry["suffix"]))
    tag_names = {name: field("tags", name, str, f"unset-{name}") for name in TagKeys._fields}
    tags = TagKeys(**tag_names)
    for name, key in tag_names.items():
        problem = None if key == f"unset-{name}" else tag_key_problem(key)
        if problem:
            problems.append(f"[tags] {name} = {key!r} {problem}")
    if len(set(tags.all())) != len(tags.all()):
        problems.append("[tags] keys must be distinct")
    eligible_days, default_days = days("eligible_days"), days("default_days")
    commercial_min, commercial_max = days("commercial_min_days"), days("commercial_max_days")
    if commercial_min > commercial_max:
        problems.append("[retention] commercial_min_days exceeds commercial_max_days")
    tombstone_days = optional_days("tombstone_days", default_days)
    incognito = field("metadata", "incognito", str, "")
    if problems:
        raise PolicyError(f"{source}: " + "; ".join(problems), problems)
    return Policy(
        id=policy_id,
        version=version,
        effective_at=effective_at,
        consumer_tiers=consumer,
        commercial_tiers=commercial,
        eligible_days=eligible_days,
        default_days=default_days,
        commercial_min_days=commercial_min,
        commercial_max_days=commercial_max,
        keys=tuple(keys),
        tags=tags,
        incognito_metadata=incognito,
        tombstone_days=tombstone_days,
    )


# -- keys -------------------------------------------------------------------


def chat_key(key: str, policy: Policy) -> ChatKey | None:
    """The chat a key names, or None when the key is not ours (never touched)."""
    for pattern in policy.keys:
        if not key.startswith(pattern.prefix):
            continue
        user_id, sep, name = key[len(pattern.prefix) :].partition("/")
        if not sep or not user_id or "/" in name or not name.endswith(pattern.suffix):
            continue
        chat_id = name[: -len(pattern.suffix)]
        if chat_id:
            return ChatKey(key=key, user_id=user_id, chat_id=chat_id, kind=pattern.kind)
    return None


def user_prefixes(user_id: str, policy: Policy) -> list[str]:
    """The listing prefixes under which a user's chats live."""
    return [f"{pattern.prefix}{user_id}/" for pattern in policy.keys]


# -- the consent record -----------------------------------------------------


def parse_consent(item: Mapping[str, Any] | None, policy: Policy | None = None, user_id: str = "") -> ConsentRecord:
    """A consent item (DynamoDB attribute values already deserialized) as a record.

    None means no record: the user is pending. Anything malformed yields a
    record with `problem` set, which the policy treats as invalid (fail closed).
    """
    if item is None:
        return ConsentRecord(user_id=user_id, exists=False)
    policy = policy or load_policy()
    uid = item.get("user_id")
    user_id = uid if isinstance(uid, str) else user_id
    problems: list[str] = []

    # Without a version no stale record can be told from a newer one: missing or malformed fails closed.
    version = item.get("version")
    if version is None:
        problems.append("version missing")
        version = 0
    elif isinstance(version, bool) or not isinstance(version, int | Decimal) or version != int(version) or version < 0:
        problems.append(f"version is not a non-negative integer: {version!r}")
        version = 0

    tier = item.get("tier")
    if not isinstance(tier, str) or tier not in policy.consumer_tiers | policy.commercial_tiers:
        problems.append(f"tier missing or unknown: {tier!r}")
        tier = tier if isinstance(tier, str) else None

    consent = item.get("training_consent", "pending")
    if consent not in CONSENT_VALUES:
        problems.append(f"training_consent is not one of {CONSENT_VALUES}: {consent!r}")
        consent = "pending"

    def instant(name: str) -> datetime | None:
        value = item.get(name)
        if value is None:
            return None
        try:
            return parse_instant(value)
        except (ValueError, TypeError):
            problems.append(f"{name} does not parse: {value!r}")
            return None

    consent_changed_at = instant("consent_changed_at")
    tier_changed_at = instant("tier_changed_at")
    if consent == "granted" and consent_changed_at is None:
        problems.append("granted without consent_changed_at")

    retention = item.get("retention_days")
    retention_days: int | None = None
    if retention is not None:
        if (
            isinstance(retention, bool)
            or not isinstance(retention, int | Decimal)
            or retention != int(retention)
            or not policy.commercial_min_days <= int(retention) <= policy.commercial_max_days
        ):
            problems.append(
                f"retention_days is not an integer from {policy.commercial_min_days} "
                f"to {policy.commercial_max_days}: {retention!r}"
            )
        else:
            retention_days = int(retention)

    return ConsentRecord(
        user_id=user_id,
        tier=tier,
        training_consent=consent,
        consent_changed_at=consent_changed_at,
        tier_changed_at=tier_changed_at,
        retention_days=retention_days,
        version=int(version),
        problem="; ".join(problems) or None,
    )


# -- the decision -----------------------------------------------------------


def eligibility(chat: Chat, consent: ConsentRecord, policy: Policy) -> Reason:
    """The first rule of POLICY.md's eligibility table that fails, or CONSENT_GRANTED."""
    if chat.deleted_at is not None:
        return Reason.DELETED
    if not consent.exists:
        return Reason.CONSENT_PENDING
    if not consent.valid:
        return Reason.INVALID_CONSENT_RECORD
    if consent.tier not in policy.consumer_tiers:
        return Reason.COMMERCIAL_TIER
    if consent.training_consent != "granted":
        return Reason.CONSENT_DENIED if consent.training_consent == "denied" else Reason.CONSENT_PENDING
    assert consent.consent_changed_at is not None  # a valid grant has one
    if chat.last_activity < consent.consent_changed_at or (
        consent.tier_changed_at is not None and chat.last_activity < consent.tier_changed_at
    ):
        return Reason.BEFORE_CONSENT
    if chat.last_activity < policy.effective_at:
        return Reason.BEFORE_POLICY
    if chat.incognito:
        return Reason.INCOGNITO
    return Reason.CONSENT_GRANTED


def retention_days(reason: Reason, consent: ConsentRecord, policy: Policy) -> int:
    """POLICY.md's retention table: the first row that matches."""
    if reason is Reason.DELETED:
        return 0
    if consent.valid and consent.tier in policy.commercial_tiers and consent.retention_days is not None:
        return consent.retention_days
    if reason is Reason.CONSENT_GRANTED:
        return policy.eligible_days
    return policy.default_days


def decide(chat: Chat, consent: ConsentRecord, policy: Policy) -> Decision:
    """Eligibility, reason, retention and expiry of one chat."""
    reason = eligibility(chat, consent, policy)
    days = retention_days(reason, consent, policy)
    if reason is Reason.DELETED:
        assert chat.deleted_at is not None
        expires_at = chat.deleted_at
    else:
        expires_at = chat.last_activity + timedelta(days=days)
    return Decision(
        eligible=reason is Reason.CONSENT_GRANTED,
        reason=reason,
        retention_days=days,
        expires_at=expires_at,
    )


def decision_tags(decision: Decision, policy: Policy) -> dict[str, str]:
    """Our five tags for a decision."""
    keys = policy.tags
    return {
        keys.eligible: "true" if decision.eligible else "false",
        keys.reason: decision.reason.value,
        keys.retention_days: str(decision.retention_days),
        keys.expires_on: decision.expires_on,
        keys.policy_version: policy.label,
    }


def is_incognito(metadata: Mapping[str, str], policy: Policy) -> bool:
    """Object user metadata `incognito: true` (any case) means never train."""
    for name, value in metadata.items():
        if name.lower() == policy.incognito_metadata.lower():
            return value.strip().lower() == "true"
    return False
