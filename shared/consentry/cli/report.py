"""`consentry report`: one self-contained HTML file about the chat objects the ledger holds.

Counts by eligibility, reason, tier and expiry month, each with an inline SVG
chart and a table of the same numbers. No script, font, stylesheet or image
is fetched: the file opens offline. The numbers are also embedded as JSON
(`<script type="application/json" id="report-data">`) for tools.

The numbers come from `sql/report.sql` over a ledger export (`from_counts`).

Example:
    >>> data = from_counts([], now=datetime(2026, 1, 1, tzinfo=UTC), policy="p@1", where="here", bucket="b")
    >>> "<svg" in render_html(data)
    True
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from consentry.policy import Reason
from consentry.training.counts import Count

ELIGIBLE = "#1a7f37"
NOT_ELIGIBLE = "#8c959f"
REASON_COLORS = {
    Reason.CONSENT_GRANTED.value: ELIGIBLE,
    Reason.DELETED.value: "#cf222e",
    Reason.CONSENT_DENIED.value: "#bc4c00",
    Reason.CONSENT_PENDING.value: "#9a6700",
    Reason.INVALID_CONSENT_RECORD.value: "#a40e26",
    Reason.COMMERCIAL_TIER.value: "#0969da",
    Reason.BEFORE_CONSENT.value: "#8250df",
    Reason.BEFORE_POLICY.value: "#6e7781",
    Reason.INCOGNITO.value: "#424a53",
}
NO_RECORD = "(no consent record)"


@dataclass
class Bar:
    label: str
    eligible: int
    not_eligible: int

    @property
    def total(self) -> int:
        return self.eligible + self.not_eligible


@dataclass
class ReportData:
    """The numbers of a report. `objects` counts chat objects still stored (not removed)."""

    generated_at: str
    where: str
    bucket: str
    policy: str
    objects: int = 0
    eligible: int = 0
    not_eligible: int = 0
    removed: int = 0
    held: int = 0
    due: int = 0
    tag_errors: int = 0
    users: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_tier: list[Bar] = field(default_factory=list)
    by_month: list[Bar] = field(default_factory=list)
    by_state: dict[str, int] = field(default_factory=dict)


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def from_counts(
    counts: Iterable[Count],
    now: datetime,
    policy: str,
    where: str,
    bucket: str,
    tiers: Sequence[str] = (),
) -> ReportData:
    """The report's numbers from the rows of `sql/report.sql` (`consentry.training.counts`)."""
    data = ReportData(
        generated_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), where=where, bucket=bucket, policy=policy
    )
    reasons: Counter[str] = Counter()
    tier_counts: dict[str, list[int]] = {}
    month_counts: dict[str, list[int]] = {}
    states: Counter[str] = Counter()
    for row in counts:
        pair = [row.eligible, row.not_eligible]
        if row.dimension == "objects":
            data.eligible, data.not_eligible, data.objects = row.eligible, row.not_eligible, row.stored
            data.held, data.due, data.tag_errors, data.users = row.held, row.due, row.tag_errors, row.users
        elif row.dimension == "state" and row.label:
            states[row.label] += row.records
        elif not row.stored:  # a group of removed chats only
            continue
        elif row.dimension == "reason" and row.label:
            reasons[row.label] += row.stored
        elif row.dimension == "tier":
            tier = row.label or NO_RECORD
            if tiers and row.label and row.label not in tiers:
                tier = f"{row.label} (unknown tier)"
            tier_counts[tier] = [a + b for a, b in zip(tier_counts.get(tier, [0, 0]), pair, strict=True)]
        elif row.dimension == "month" and row.label:
            month_counts[row.label] = pair
    data.removed = states["removed"]
    known = [reason.value for reason in Reason]
    data.by_reason = {r: reasons[r] for r in [*known, *sorted(set(reasons) - set(known))] if reasons[r]}
    order = {tier: i for i, tier in enumerate(tiers)}
    data.by_tier = [
        Bar(tier, *counts)
        for tier, counts in sorted(tier_counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    ]
    if month_counts:
        data.by_month = [Bar(m, *month_counts.get(m, [0, 0])) for m in _months(min(month_counts), max(month_counts))]
    data.by_state = dict(sorted(states.items()))
    return data


# -- SVG charts ------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def donut(eligible: int, not_eligible: int, size: int = 180) -> str:
    total = eligible + not_eligible
    radius, stroke = 70, 26
    circumference = 2 * math.pi * radius
    share = eligible / total if total else 0.0
    label = f"{eligible} of {total} stored chat objects eligible for training ({share:.0%})"
    arcs = [f'<circle cx="90" cy="90" r="{radius}" fill="none" stroke="{NOT_ELIGIBLE}" stroke-width="{stroke}"/>']
    if total and eligible:
        arcs.append(
            f'<circle class="arc-eligible" cx="90" cy="90" r="{radius}" fill="none" stroke="{ELIGIBLE}" '
            f'stroke-width="{stroke}" stroke-dasharray="{share * circumference:.2f} {circumference:.2f}" '
            f'transform="rotate(-90 90 90)"><title>eligible: {eligible}</title></circle>'
        )
    return (
        f'<svg class="chart" id="chart-eligibility" role="img" aria-label="{_e(label)}" width="{size}" '
        f'height="{size}" viewBox="0 0 180 180"><title>{_e(label)}</title>{"".join(arcs)}'
        f'<text x="90" y="88" text-anchor="middle" class="big">{share:.0%}</text>'
        f'<text x="90" y="110" text-anchor="middle" class="small">eligible</text></svg>'
    )


def hbars(chart_id: str, title: str, bars: Sequence[tuple[str, int, str]], width: int = 560) -> str:
    """Horizontal bars, one per (label, value, colour)."""
    row, label_w, value_w = 26, 190, 50
    top = max((v for _, v, _ in bars), default=0) or 1
    height = row * len(bars) + 8
    parts = []
    for i, (label, value, color) in enumerate(bars):
        y = 4 + i * row
        length = (width - label_w - value_w) * value / top
        parts.append(
            f'<g class="bar" data-label="{_e(label)}" data-value="{value}">'
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{_e(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" rx="3" fill="{color}">'
            f"<title>{_e(label)}: {value}</title></rect>"
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}">{value}</text></g>'
        )
    return (
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>{"".join(parts)}</svg>'
    )


def stacked_hbars(chart_id: str, title: str, bars: Sequence[Bar], width: int = 560) -> str:
    row, label_w, value_w = 26, 190, 70
    top = max((b.total for b in bars), default=0) or 1
    height = row * len(bars) + 8
    parts = []
    for i, bar in enumerate(bars):
        y = 4 + i * row
        scale = (width - label_w - value_w) / top
        a, b = bar.eligible * scale, bar.not_eligible * scale
        parts.append(
            f'<g class="bar" data-label="{_e(bar.label)}" data-eligible="{bar.eligible}" '
            f'data-not-eligible="{bar.not_eligible}">'
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{_e(bar.label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{a:.1f}" height="{row - 8}" fill="{ELIGIBLE}">'
            f"<title>{_e(bar.label)}: {bar.eligible} eligible</title></rect>"
            f'<rect x="{label_w + a:.1f}" y="{y + 3}" width="{b:.1f}" height="{row - 8}" fill="{NOT_ELIGIBLE}">'
            f"<title>{_e(bar.label)}: {bar.not_eligible} not eligible</title></rect>"
            f'<text x="{label_w + a + b + 6:.1f}" y="{y + 17}">{bar.total}</text></g>'
        )
    return (
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>{"".join(parts)}</svg>'
    )


def _label_positions(labels: Sequence[str], step: float, spacing: float = 64) -> list[int]:
    """Which columns get a label: the first, each January and the last, none closer than `spacing` px."""
    last = len(labels) - 1
    chosen: list[int] = []
    for i, label in enumerate(labels):
        if i not in (0, last) and not label.endswith("-01"):
            continue
        if i == last and i != 0:
            while len(chosen) > 1 and (i - chosen[-1]) * step < spacing:
                chosen.pop()  # the last month wins over a January too close to it
        if not chosen or (i - chosen[-1]) * step >= spacing:
            chosen.append(i)
    return chosen


def columns(chart_id: str, title: str, bars: Sequence[Bar], width: int = 760, height: int = 220) -> str:
    """Stacked columns over consecutive months; a label at each January and at both ends."""
    left, bottom, top_pad = 36, 36, 12
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = max((b.total for b in bars), default=0) or 1
    step = plot_w / max(len(bars), 1)
    gap = min(2.0, step * 0.2)
    parts = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" class="small">{top}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" class="small">0</text>',
    ]
    for i, bar in enumerate(bars):
        x = left + i * step + gap / 2
        h_a, h_b = plot_h * bar.eligible / top, plot_h * bar.not_eligible / top
        base = top_pad + plot_h
        parts.append(
            f'<g class="column" data-label="{bar.label}" data-eligible="{bar.eligible}" '
            f'data-not-eligible="{bar.not_eligible}"><title>{bar.label}: {bar.eligible} eligible, '
            f"{bar.not_eligible} not eligible</title>"
            f'<rect x="{x:.1f}" y="{base - h_b:.1f}" width="{step - gap:.1f}" height="{h_b:.1f}" '
            f'fill="{NOT_ELIGIBLE}"/>'
            f'<rect x="{x:.1f}" y="{base - h_b - h_a:.1f}" width="{step - gap:.1f}" height="{h_a:.1f}" '
            f'fill="{ELIGIBLE}"/></g>'
        )
    for i in _label_positions([b.label for b in bars], step):
        x = left + i * step + gap / 2
        anchor = "start" if i == 0 else "end" if i == len(bars) - 1 else "middle"
        at = {"start": x, "end": x + step - gap, "middle": x + (step - gap) / 2}[anchor]
        y = top_pad + plot_h + 16
        parts.append(f'<text x="{at:.1f}" y="{y}" text-anchor="{anchor}" class="small">{bars[i].label}</text>')
    return (
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>{"".join(parts)}</svg>'
    )


# -- the page --------------------------------------------------------------------------------------

STYLE = """
:root { --fg:#1f2328; --muted:#59636e; --bg:#ffffff; --card:#f6f8fa; --line:#d1d9e0; }
@media (prefers-color-scheme: dark) {
  :root { --fg:#e6edf3; --muted:#9198a1; --bg:#0d1117; --card:#151b23; --line:#3d444d; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 32px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
main { max-width: 1080px; margin: 0 auto; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0 0 12px; }
.sub { color: var(--muted); margin: 0 0 24px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 24px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.card .n { font-size: 28px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: 13px; }
.card.good .n { color: #1a7f37; } .card.warn .n { color: #bc4c00; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
          margin-bottom: 20px; }
.row { display: flex; gap: 28px; flex-wrap: wrap; align-items: flex-start; }
svg text { fill: var(--fg); font-size: 13px; } svg .small { font-size: 11px; fill: var(--muted); }
svg .big { font-size: 30px; font-weight: 650; } svg .axis { stroke: var(--line); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 14px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line); }
td.n, th.n { text-align: right; }
.legend span { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin: 0 5px 0 12px;
               vertical-align: -1px; }
details { margin-top: 10px; } summary { cursor: pointer; color: var(--muted); }
footer { color: var(--muted); font-size: 13px; margin-top: 24px; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], table_id: str) -> str:
    head = "".join(f'<th class="{"n" if i else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if i else ""}">{_e(c)}</td>' for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def render_html(data: ReportData) -> str:
    """The report page: cards, four charts, their tables, the numbers as JSON."""
    total = data.objects
    legend = (
        f'<p class="legend"><span style="background:{ELIGIBLE}"></span>eligible'
        f'<span style="background:{NOT_ELIGIBLE}"></span>not eligible</p>'
    )
    cards = [
        ("objects", total, "chat objects stored", ""),
        ("eligible", data.eligible, f"eligible for training ({_pct(data.eligible, total)})", "good"),
        ("not-eligible", data.not_eligible, "not eligible", ""),
        ("due", data.due, f"due for deletion at {data.generated_at[:10]}", "warn" if data.due else ""),
        ("held", data.held, "under legal hold", ""),
        ("removed", data.removed, "removed (deleted, erased, swept)", ""),
        ("tag-errors", data.tag_errors, "tag-limit failures", "warn" if data.tag_errors else ""),
        ("users", data.users, "users with stored chats", ""),
    ]
    card_html = "".join(
        f'<div class="card {cls}" id="card-{cid}"><div class="n">{n}</div><div class="l">{_e(label)}</div></div>'
        for cid, n, label, cls in cards
    )
    reasons = [(r, n, REASON_COLORS.get(r, NOT_ELIGIBLE)) for r, n in data.by_reason.items()]
    eligibility_table = _table(
        ["", "objects", "share"],
        [
            ["eligible", data.eligible, _pct(data.eligible, total)],
            ["not eligible", data.not_eligible, _pct(data.not_eligible, total)],
            ["total", total, ""],
        ],
        "table-eligibility",
    )
    reason_table = _table(
        ["reason", "objects", "share"], [[r, n, _pct(n, total)] for r, n, _ in reasons], "table-reasons"
    )
    tier_table = _table(
        ["tier", "eligible", "not eligible", "total"],
        [[b.label, b.eligible, b.not_eligible, b.total] for b in data.by_tier],
        "table-tiers",
    )
    month_table = _table(
        ["month", "eligible", "not eligible", "total"],
        [[b.label, b.eligible, b.not_eligible, b.total] for b in data.by_month if b.total],
        "table-expiry",
    )
    state_table = _table(["state", "records"], list(data.by_state.items()), "table-states")
    sections = [
        f"""<section id="eligibility"><h2>Eligibility</h2><div class="row">
{donut(data.eligible, data.not_eligible)}{eligibility_table}</div></section>""",
        f"""<section id="reasons"><h2>Reasons</h2><p class="sub">The first rule of the policy each object fails
(<code>consent-granted</code> when none does).</p><div class="row">
{hbars("chart-reasons", "stored chat objects by training-reason", reasons)}{reason_table}</div></section>""",
        f"""<section id="tiers"><h2>Tiers</h2>{legend}<div class="row">
{stacked_hbars("chart-tiers", "stored chat objects by tier of the consent record", data.by_tier)}{tier_table}
</div></section>""",
        f"""<section id="expiry"><h2>Expiry by month</h2><p class="sub">When stored objects fall due
(<code>expires-on</code>); the nightly sweep deletes them then, unless under legal hold.</p>{legend}
{columns("chart-expiry", "stored chat objects by expiry month", data.by_month)}
<details><summary>the numbers, month by month</summary>{month_table}</details></section>""",
        f"""<section id="states"><h2>Ledger states</h2>{state_table}</section>""",
    ]
    payload = json.dumps(asdict(data), sort_keys=True).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>consentry report - {_e(data.bucket)} - {_e(data.generated_at)}</title>
<style>{STYLE}</style></head>
<body><main>
<h1>Chat-log training consent</h1>
<p class="sub">bucket <code>{_e(data.bucket)}</code> {_e(data.where)} · policy <code>{_e(data.policy)}</code>
· as of {_e(data.generated_at)}</p>
<div class="cards">{card_html}</div>
{"".join(sections)}
<footer>Generated by <code>consentry report</code> from a point-in-time export of the ledger.
Self-contained: no network needed to view it.
</footer>
<script type="application/json" id="report-data">{payload}</script>
</main></body></html>
"""


def to_json(data: ReportData) -> dict[str, object]:
    return asdict(data)
