"""POLICY.md, written again from the text, independently of `consentry.service.policy`.

Nothing here imports the package's policy core: the model-based tests compare
what S3 and the ledger hold with what this module says POLICY.md requires, so
a misreading of the policy in the core shows up as a difference, not as the
same answer twice. Kept deliberately naive (tables as if-chains, timestamps by
regular expression).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

# POLICY.md "Eligibility" #7 and the bundled policy file's figures.
POLICY_EFFECTIVE_AT = datetime(2025, 8, 28, tzinfo=UTC)
POLICY_LABEL = "consumer-terms-2025@1"
CONSUMER = ("free", "pro", "max")
COMMERCIAL = ("team", "enterprise", "education", "government", "api")
CONSENT_VALUES = ("granted", "denied", "pending")
ELIGIBLE_DAYS = 1825
DEFAULT_DAYS = 30
OUR_TAGS = ("training-eligible", "training-reason", "retention-days", "expires-on", "policy-version")
TAG_LIMIT = 10

_INSTANT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


def instant(value: Any) -> datetime | None:
    """An ISO-8601 UTC instant (with `Z` or an offset), or None when it does not parse."""
    if not isinstance(value, str):
        return None
    match = _INSTANT.match(value)
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        fraction = match.group(7)
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        zone = match.group(8)
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment


def whole_number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    if value != int(value):
        return None
    return int(value)


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reason: str
    retention_days: int
    expires_at: datetime

    @property
    def expires_on(self) -> str:
        return self.expires_at.strftime("%Y-%m-%d")

    def tags(self) -> dict[str, str]:
        return {
            "training-eligible": "true" if self.eligible else "false",
            "training-reason": self.reason,
            "retention-days": str(self.retention_days),
            "expires-on": self.expires_on,
            "policy-version": POLICY_LABEL,
        }


def record_is_valid(item: Mapping[str, Any]) -> bool:
    """POLICY.md "The consent record": when a record is invalid."""
    if item.get("tier") not in CONSUMER + COMMERCIAL:
        return False
    consent = item.get("training_consent", "pending")
    if consent not in CONSENT_VALUES:
        return False
    for name in ("consent_changed_at", "tier_changed_at"):
        if name in item and instant(item[name]) is None:
            return False
    if consent == "granted" and "consent_changed_at" not in item:
        return False
    if "retention_days" in item:
        days = whole_number(item["retention_days"])
        if days is None or not 1 <= days <= 3650:
            return False
    version = whole_number(item.get("version"))
    return version is not None and version >= 0


def verdict(
    consent: Mapping[str, Any] | None, activity: datetime, incognito: bool, deleted_at: datetime | None = None
) -> Verdict:
    """POLICY.md's eligibility table (first failing row), then its retention table (first matching row)."""
    if deleted_at is not None:
        return Verdict(False, "deleted", 0, deleted_at)
    valid = consent is not None and record_is_valid(consent)
    if consent is None:
        reason = "consent-pending"
    elif not valid:
        reason = "invalid-consent-record"
    elif consent["tier"] not in CONSUMER:
        reason = "commercial-tier"
    elif consent.get("training_consent", "pending") == "denied":
        reason = "consent-denied"
    elif consent.get("training_consent", "pending") == "pending":
        reason = "consent-pending"
    elif activity < instant(consent["consent_changed_at"]) or (  # type: ignore[operator]
        "tier_changed_at" in consent and activity < instant(consent["tier_changed_at"])  # type: ignore[operator]
    ):
        reason = "before-consent"
    elif activity < POLICY_EFFECTIVE_AT:
        reason = "before-policy"
    elif incognito:
        reason = "incognito"
    else:
        reason = "consent-granted"
    if valid and consent is not None and consent["tier"] in COMMERCIAL and "retention_days" in consent:
        days = int(consent["retention_days"])
    elif reason == "consent-granted":
        days = ELIGIBLE_DAYS
    else:
        days = DEFAULT_DAYS
    return Verdict(reason == "consent-granted", reason, days, activity + timedelta(days=days))


def tag_set(writer_tags: Mapping[str, str], ours: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """The object's tags after enforcement, and whether ours fitted (POLICY.md "Tags", the 10-tag limit)."""
    foreign = {k: v for k, v in writer_tags.items() if k not in OUR_TAGS}
    if len(foreign) + len(ours) <= TAG_LIMIT:
        return {**foreign, **ours}, True
    if len(foreign) < TAG_LIMIT:
        return {**foreign, "training-eligible": "false"}, False
    return foreign, False


def is_incognito(metadata: Mapping[str, str]) -> bool:
    return any(k.lower() == "incognito" and v.lower() == "true" for k, v in metadata.items())
