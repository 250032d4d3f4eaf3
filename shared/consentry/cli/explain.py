"""`consentry explain`: why one chat is or is not eligible, and what the ledger knows of a user."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from consentry.cli.options import CommandError
from consentry.cli.output import Style, instant, short, table
from consentry.cli.target import Target
from consentry.service.policy import ConsentRecord, Reason, chat_key, decide, decision_tags, parse_instant
from consentry.service.records import ChatRecord, State, chat_of

# One sentence per reason code, in the words of POLICY.md.
REASON_TEXT = {
    Reason.DELETED: "Deleted by the user or covered by an erasure request: removed at once "
    "(or when its legal hold is released).",
    Reason.CONSENT_PENDING: "The user has not answered the consent pop-up (or has no consent record): "
    "pending means never trained on.",
    Reason.INVALID_CONSENT_RECORD: "The user's consent record is malformed, so the policy fails closed.",
    Reason.COMMERCIAL_TIER: "Commercial accounts (team, enterprise, education, government, API) are never "
    "used for training.",
    Reason.CONSENT_DENIED: 'The user switched off "Help improve the assistant": every stored chat is excluded.',
    Reason.BEFORE_CONSENT: "Its last activity precedes the user's grant (or move to a consumer tier): only "
    "chats new or resumed after the grant are eligible.",
    Reason.BEFORE_POLICY: "Its last activity precedes the policy's effective date.",
    Reason.INCOGNITO: "Written in incognito mode (object metadata incognito=true): never trained on.",
    Reason.CONSENT_GRANTED: "The user allows training and the chat is new or resumed since the grant.",
}


def consent_summary(consent: ConsentRecord) -> str:
    if not consent.exists:
        return "no consent record (pending)"
    parts = [f"version {consent.version}", f"tier {consent.tier or '?'}"]
    parts.append(f"training_consent {consent.training_consent}")
    if consent.consent_changed_at:
        parts.append(f"changed {instant(consent.consent_changed_at)}")
    if consent.tier_changed_at:
        parts.append(f"tier changed {instant(consent.tier_changed_at)}")
    if consent.retention_days is not None:
        parts.append(f"retention_days {consent.retention_days}")
    text = ", ".join(parts)
    if consent.problem:
        text += f" - INVALID: {consent.problem}"
    return text


def explain_key(target: Target, key: str, now: datetime) -> dict[str, Any]:
    """Everything `explain KEY` shows, as data (the `--json` output)."""
    enforcer = target.enforcer()
    found = chat_key(key, target.policy)
    if found is None:
        patterns = ", ".join(f"{p.prefix}<user_id>/<id>{p.suffix}" for p in target.policy.keys)
        raise CommandError(f"{key!r} is not a chat key of ours (never read, tagged or deleted); ours are {patterns}")
    record = enforcer.ledger.get(found.user_id, key)
    consent = enforcer.consents.get(found.user_id)
    s3_tags = enforcer.chats.tags(key)
    data: dict[str, Any] = {
        "key": key,
        "user_id": found.user_id,
        "kind": found.kind,
        "now": now,
        "in_ledger": record is not None,
        "object_exists": s3_tags is not None,
        "s3_tags": s3_tags,
        "consent_now": consent_json(consent),
    }
    if record is None:
        if s3_tags is None:
            raise CommandError(f"no chat {key!r} in the ledger or in bucket {target.settings.bucket!r} {target.where}")
        data["eligible"] = s3_tags.get(target.policy.tags.eligible) == "true"
        data["explanation"] = (
            "The ledger has no record of this object: no event announced it (written before deployment, or a "
            "lost event). `consentry backfill` tags it. Without our tags the training pipeline cannot read it."
        )
        return data
    # The tags the record was written with: its decision, under the policy version it names.
    ours = {**decision_tags(record.decision, target.policy), target.policy.tags.policy_version: record.policy_version}
    tags_agree = None if s3_tags is None else all(s3_tags.get(k) == v for k, v in ours.items())
    today = None
    if record.state != State.REMOVED:
        fresh = decide(chat_of(record), consent, target.policy)
        today = {
            "eligible": fresh.eligible,
            "reason": fresh.reason.value,
            "expires_on": fresh.expires_on,
            "same": fresh == record.decision,
            "consent_moved": consent.exists != (record.consent_version is not None)
            or (consent.exists and consent.version != record.consent_version),
        }
    data.update(
        eligible=record.eligible,
        reason=record.reason.value,
        explanation=REASON_TEXT[record.reason],
        consent_version=record.consent_version,
        consent_version_now=consent.version if consent.exists else None,
        tier=record.tier,
        policy_version=record.policy_version,
        policy_now=target.policy.label,
        last_activity=record.last_activity,
        retention_days=record.retention_days,
        expires_at=record.expires_at,
        expires_on=record.expires_on,
        due=record.in_due_index and record.decision.is_due(now),
        state=record.state,
        held=record.held,
        deleted_at=record.deleted_at,
        incognito=record.incognito,
        tag_error=record.tag_error,
        tags_agree=tags_agree,
        older_policy=record.policy_version != target.policy.label,
        today=today,
        history=[history_json(entry) for entry in record.history],
        removed_at=record.removed_at if record.state == State.REMOVED else None,
    )
    if record.state == State.REMOVED:  # a tombstone keeps no activity, tier, consent or retention: none is shown
        data.update(last_activity=None, retention_days=None, expires_at=None, expires_on=None)
        data.update(consent_version=None, tier=None, due=False)
    return data


def history_json(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A history entry as output shows it: the time as an instant (`...Z`), counts as integers."""
    at = entry.get("at")
    return {**dict(entry), "at": parse_instant(at) if isinstance(at, str) else None}


def consent_json(consent: ConsentRecord) -> dict[str, Any]:
    return {
        "exists": consent.exists,
        "version": consent.version if consent.exists else None,
        "tier": consent.tier,
        "training_consent": consent.training_consent,
        "consent_changed_at": consent.consent_changed_at,
        "tier_changed_at": consent.tier_changed_at,
        "retention_days": consent.retention_days,
        "problem": consent.problem,
        "summary": consent_summary(consent),
    }


def render_key(data: dict[str, Any], style: Style) -> str:
    lines = [f"{style.bold(data['key'])}  ({data['kind']} of user {data['user_id']})", ""]
    verdict = style.good("ELIGIBLE") if data.get("eligible") else style.bad("NOT ELIGIBLE")
    if not data["in_ledger"]:
        lines += [f"  {verdict}  (no record in the ledger)", f"  {data['explanation']}", ""]
        lines.append(f"  S3 tags         {_tags_text(data['s3_tags'])}")
        lines.append(f"  consent now     {data['consent_now']['summary']}")
        return "\n".join(lines)
    lines += [f"  {verdict}  {style.bold(data['reason'])}", f"  {data['explanation']}", ""]
    if data["reason"] == Reason.INVALID_CONSENT_RECORD.value and data["consent_now"]["problem"]:
        lines.insert(-1, f"  problem: {data['consent_now']['problem']}")
    if data["state"] == State.REMOVED:
        lines.append(
            f"  removed         {instant(data['removed_at'])}, policy {data['policy_version']}: the ledger keeps "
            "only a tombstone (keyed hash, time, reason), which expires"
        )
        lines.append("  S3              every version and delete marker removed")
        return "\n".join(lines)
    version = data["consent_version"]
    decided = "no consent record" if version is None else f"consent version {version}"
    if data["tier"]:
        decided += f" (tier {data['tier']})"
    lines.append(f"  decided on      {decided}; policy {data['policy_version']}")
    if data["older_policy"]:
        lines.append(
            style.warn(
                f"                  the policy in force is now {data['policy_now']}: `consentry retag --all` "
                "decides every chat again under it"
            )
        )
    lines.append(f"  consent now     {data['consent_now']['summary']}")
    lines.append(f"  last activity   {instant(data['last_activity'])}  (latest write or reopen)")
    expiry = f"{data['retention_days']} days -> expires {data['expires_on']} ({instant(data['expires_at'])})"
    if data["state"] != State.REMOVED:
        expiry += f"; due at {instant(data['now'])}: {'yes' if data['due'] else 'no'}"
    lines.append(f"  retention       {expiry}")
    state = data["state"]
    if data["deleted_at"]:
        state += f" (deleted {instant(data['deleted_at'])})"
    state += ", under legal hold: kept until released" if data["held"] else ", no legal hold"
    lines.append(f"  state           {state}")
    if data["incognito"]:
        lines.append("  metadata        incognito=true")
    if data["state"] == State.REMOVED:
        lines.append("  S3              every version and delete marker removed")
    elif data["s3_tags"] is None:
        lines.append(style.warn("  S3              object not found (removed outside consentry?)"))
    elif data["tags_agree"] and data["older_policy"]:
        lines.append(
            style.warn(
                f"  S3 tags         agree with the ledger, tags written under an older policy version "
                f"({data['policy_version']}): {_tags_text(data['s3_tags'])}"
            )
        )
    elif data["tags_agree"]:
        lines.append(f"  S3 tags         agree with the ledger: {_tags_text(data['s3_tags'])}")
    else:
        lines.append(style.bad(f"  S3 tags         DIFFER from the ledger: {_tags_text(data['s3_tags'])}"))
    if data["tag_error"]:
        lines.append(style.bad(f"  tag error       {data['tag_error']}: our tags do not fit beside the object's own"))
    today = data["today"]
    if today is not None:
        if today["same"]:
            lines.append("  re-decided now  same decision under the current consent record")
        elif not today["consent_moved"] and data["older_policy"]:
            lines.append(
                style.warn(
                    f"  re-decided now  {'eligible' if today['eligible'] else 'not eligible'}, {today['reason']}, "
                    f"expires {today['expires_on']} under {data['policy_now']}: decided under an older policy "
                    "version; `consentry retag --all` applies the one in force"
                )
            )
        else:
            lines.append(
                style.warn(
                    f"  re-decided now  {'eligible' if today['eligible'] else 'not eligible'}, {today['reason']}, "
                    f"expires {today['expires_on']}: the ledger is behind the consent record (a retag is pending, "
                    "or failed: check the work queue's dead-letter queue)"
                )
            )
    lines += ["", "  history (ledger, oldest first)"]
    rows = [
        [
            short(h["at"]),
            h.get("event", "?"),
            style.yes_no(h.get("eligible")),
            h.get("reason", "-"),
            f"v{h['consent_version']}" if h.get("consent_version") is not None else "-",
            h.get("expires_on", "-"),
            h.get("state", "-"),
        ]
        for h in data["history"]
    ]
    lines.append(table(["at (event time)", "event", "eligible", "reason", "consent", "expires", "state"], rows, "    "))
    return "\n".join(lines)


def _tags_text(tags: dict[str, str] | None) -> str:
    if tags is None:
        return "(object not found)"
    if not tags:
        return "(none: not eligible)"
    return " ".join(f"{k}={v}" for k, v in tags.items())


def explain_user(target: Target, user_id: str, now: datetime) -> dict[str, Any]:
    """A user's consent record, chats and erasure requests, as data."""
    enforcer = target.enforcer()
    consent = enforcer.consents.get(user_id)
    records: list[ChatRecord] = sorted(enforcer.ledger.all_user_chats(user_id), key=lambda r: r.key)
    erasures = sorted(enforcer.ledger.erasures(user_id), key=lambda e: e.requested_at)
    live = [r for r in records if r.state != State.REMOVED]
    removed = enforcer.ledger.tombstones(user_id)  # removed chats keep no key: only their count is shown
    return {
        "user_id": user_id,
        "now": now,
        "consent": consent_json(consent),
        "counts": {
            "chats": len(records) + removed,
            "eligible": sum(r.eligible for r in live),
            "not_eligible": sum(not r.eligible for r in live),
            "removed": removed,
            "held": sum(r.held for r in records),
            "due": sum(r.in_due_index and r.decision.is_due(now) for r in records),
        },
        "chats": [
            {
                "key": r.key,
                "eligible": r.eligible and r.state != State.REMOVED,
                "reason": r.reason.value,
                "last_activity": r.last_activity,
                "expires_on": r.expires_on,
                "state": r.state,
                "held": r.held,
                "consent_version": r.consent_version,
            }
            for r in records
        ],
        "erasures": [
            {
                "request_id": e.request_id,
                "requested_at": e.requested_at,
                "completed_at": e.completed_at,
                "removed": e.removed,
                "held": e.held,
                "held_key_hashes": sorted(e.held_keys),
            }
            for e in erasures
        ],
    }


def render_user(data: dict[str, Any], style: Style) -> str:
    counts = data["counts"]
    lines = [
        f"{style.bold('user ' + data['user_id'])}",
        f"  consent record  {data['consent']['summary']}",
        f"  chats           {counts['chats']} in the ledger: {counts['eligible']} eligible, "
        f"{counts['not_eligible']} not eligible, {counts['removed']} removed, {counts['held']} under legal hold, "
        f"{counts['due']} due at {instant(data['now'])}",
    ]
    if data["chats"]:
        rows = [
            [
                c["key"],
                style.yes_no(c["eligible"]),
                c["reason"],
                short(c["last_activity"]),
                c["expires_on"],
                c["state"],
                "held" if c["held"] else "",
            ]
            for c in data["chats"]
        ]
        lines += ["", table(["key", "eligible", "reason", "last activity", "expires", "state", "hold"], rows)]
    elif counts["removed"]:
        lines.append("  (every chat of this user is removed: the ledger keeps only tombstones, without keys)")
    elif not data["erasures"]:
        lines.append("  (the ledger knows no chat of this user: check the user id, or run `consentry backfill`)")
    lines.append("")
    if data["erasures"]:
        lines.append(f"  erasure requests ({len(data['erasures'])})")
        rows = [
            [
                instant(e["requested_at"]),
                instant(_as_time(e["completed_at"])) if e["completed_at"] else style.warn("in progress"),
                e["removed"],
                e["held"],
            ]
            for e in data["erasures"]
        ]
        lines.append(table(["requested (event time)", "completed (wall clock)", "removed", "held"], rows, "    "))
    else:
        lines.append("  erasure requests: none")
    return "\n".join(lines)


def _as_time(value: datetime | str) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
