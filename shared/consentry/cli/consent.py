"""`consentry consent show|simulate USER`: a user's consent record, and what a change of it would do.

`simulate` writes nothing: it takes the user's consent record as stored,
applies the change (`--denied`, `--granted`, `--pending`: the answer and its
time; `--tier T`: the tier and its time; the version one higher), and decides
every stored chat of the user again with the pure `consentry.service.policy.decide`,
on the facts the ledger holds. The chats whose eligibility, reason or expiry
would change are listed, before and after.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from consentry.cli.explain import consent_json
from consentry.cli.options import UsageError
from consentry.cli.output import Style, instant, table
from consentry.cli.target import Target
from consentry.service.aws.dynamo import from_item, to_item
from consentry.service.policy import Policy, decide, format_instant, parse_consent
from consentry.service.records import chat_of


def show(target: Target, user_id: str, now: datetime) -> dict[str, Any]:
    enforcer = target.enforcer()
    consent = enforcer.consents.get(user_id)
    live = [r for r in enforcer.ledger.all_user_chats(user_id) if not r.removed]
    return {
        "user_id": user_id,
        "now": now,
        "consent": consent_json(consent),
        "chats": len(live),
        "eligible": sum(r.eligible for r in live),
        "not_eligible": sum(not r.eligible for r in live),
        "by_reason": _by_reason(r.reason.value for r in live),
        "decided_on_older_versions": sum(
            r.consent_version is not None and consent.exists and r.consent_version < consent.version for r in live
        ),
    }


def _by_reason(reasons: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))


def unknown_tier(policy: Policy, tier: str | None) -> str | None:
    """Why `tier` cannot be set under `policy` (not one of its tiers); None when it can, or none is given."""
    tiers = policy.consumer_tiers | policy.commercial_tiers
    if tier is None or tier in tiers:
        return None
    return f"--tier {tier!r} is not a tier of {policy.label} ({', '.join(sorted(tiers))})"


def simulate(
    target: Target, user_id: str, answer: str | None, tier: str | None, at: datetime, now: datetime
) -> dict[str, Any]:
    """What `answer` (granted, denied, pending) and/or a move to `tier` at `at` would change; nothing written."""
    if answer is None and tier is None:
        raise UsageError("say what to simulate: --granted, --denied, --pending and/or --tier T")
    policy = target.policy
    problem = unknown_tier(policy, tier)
    if problem is not None:
        raise UsageError(problem)
    enforcer = target.enforcer()
    response = target.clients.dynamodb.get_item(
        TableName=target.settings.consent_table, Key=to_item({"user_id": user_id}), ConsistentRead=True
    )
    stored = from_item(response["Item"]) if "Item" in response else None
    item: dict[str, Any] = dict(stored) if stored else {"user_id": user_id, "version": 0}
    if answer is not None:
        item["training_consent"] = answer
        item["consent_changed_at"] = format_instant(at)
    if tier is not None and item.get("tier") != tier:
        item["tier"] = tier
        item["tier_changed_at"] = format_instant(at)
    version: Any = item.get("version")
    item["version"] = int(version) + 1 if isinstance(version, int | Decimal) else 1
    before = parse_consent(stored, policy, user_id)
    after = parse_consent(item, policy, user_id)
    changes = []
    live = [r for r in enforcer.ledger.all_user_chats(user_id) if not r.removed]
    for record in sorted(live, key=lambda r: r.key):
        fresh = decide(chat_of(record), after, policy)
        if fresh == record.decision:
            continue
        changes.append(
            {
                "key": record.key,
                "eligible_before": record.eligible,
                "eligible_after": fresh.eligible,
                "reason_before": record.reason.value,
                "reason_after": fresh.reason.value,
                "expires_at_before": record.expires_at,
                "expires_at_after": fresh.expires_at,
                "due_after": fresh.is_due(now),
                "held": record.held,
            }
        )
    return {
        "user_id": user_id,
        "at": at,
        "now": now,
        "written": False,
        "consent_before": consent_json(before),
        "consent_after": consent_json(after),
        "chats": len(live),
        "changed": len(changes),
        "stop_being_eligible": sum(c["eligible_before"] and not c["eligible_after"] for c in changes),
        "become_eligible": sum(c["eligible_after"] and not c["eligible_before"] for c in changes),
        "due_at_once": sum(c["due_after"] and not c["held"] for c in changes),
        "changes": changes,
    }


def render_show(data: dict[str, Any], style: Style) -> str:
    lines = [
        style.bold(f"user {data['user_id']}"),
        f"  consent record  {data['consent']['summary']}",
        f"  chats           {data['chats']} stored: {data['eligible']} eligible, {data['not_eligible']} not eligible",
    ]
    if data["by_reason"]:
        lines.append("  by reason       " + ", ".join(f"{r} {n}" for r, n in data["by_reason"].items()))
    if data["decided_on_older_versions"]:
        lines.append(
            style.warn(
                f"  {data['decided_on_older_versions']} chat(s) decided on an older consent version: a retag is "
                "pending (or failed: `consentry dlq list`)"
            )
        )
    return "\n".join(lines)


def render_simulation(data: dict[str, Any], style: Style) -> str:
    lines = [
        style.bold(f"user {data['user_id']}: simulation at {instant(data['at'])} (nothing written)"),
        f"  consent now     {data['consent_before']['summary']}",
        f"  would become    {data['consent_after']['summary']}",
        f"  {data['changed']} of {data['chats']} stored chat(s) would change: {data['stop_being_eligible']} "
        f"would stop being eligible, {data['become_eligible']} would become eligible, {data['due_at_once']} "
        f"would be due at once (the next sweep deletes them)",
    ]
    if data["changes"]:
        rows = [
            [
                c["key"],
                f"{style.yes_no(c['eligible_before'])} -> {style.yes_no(c['eligible_after'])}",
                f"{c['reason_before']} -> {c['reason_after']}",
                f"{instant(c['expires_at_before'])[:10]} -> {instant(c['expires_at_after'])[:10]}"
                + (" (due)" if c["due_after"] else "")
                + (" (held)" if c["held"] else ""),
            ]
            for c in data["changes"]
        ]
        lines += ["", table(["key", "eligible", "reason", "expires"], rows)]
    return "\n".join(lines)
