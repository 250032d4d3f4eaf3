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

from consentry.service.policy import Reason
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


BAR_W = 360  # viewBox width of the bar charts: drawn at most BAR_MAX px wide, narrower on a phone
BAR_MAX = 440


def _bar_svg(chart_id: str, title: str, height: int, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart bars" id="{chart_id}" role="img" aria-label="{_e(title)}" viewBox="0 0 {BAR_W} {height}" '
        f'preserveAspectRatio="xMinYMin meet" style="max-width:{BAR_MAX}px"><title>{_e(title)}</title>'
        f"{''.join(parts)}</svg>"
    )


def hbars(chart_id: str, title: str, bars: Sequence[tuple[str, int, str]]) -> str:
    """Horizontal bars, one per (label, value, colour); each label on its own line above its bar.

    A label above its bar never collides with the bar or its neighbour, and leaves the bar the chart's width.
    """
    row, value_w = 38, 48
    top = max((v for _, v, _ in bars), default=0) or 1
    parts = []
    for i, (label, value, color) in enumerate(bars):
        y = 4 + i * row
        length = (BAR_W - value_w) * value / top
        parts.append(
            f'<g class="bar" data-label="{_e(label)}" data-value="{value}">'
            f'<text x="0" y="{y + 12}">{_e(label)}</text>'
            f'<rect x="0" y="{y + 17}" width="{length:.1f}" height="14" rx="3" fill="{color}">'
            f"<title>{_e(label)}: {value}</title></rect>"
            f'<text x="{length + 6:.1f}" y="{y + 29}">{value}</text></g>'
        )
    return _bar_svg(chart_id, title, row * len(bars) + 8, parts)


def stacked_hbars(chart_id: str, title: str, bars: Sequence[Bar]) -> str:
    row, value_w = 38, 48
    top = max((b.total for b in bars), default=0) or 1
    parts = []
    for i, bar in enumerate(bars):
        y = 4 + i * row
        scale = (BAR_W - value_w) / top
        a, b = bar.eligible * scale, bar.not_eligible * scale
        parts.append(
            f'<g class="bar" data-label="{_e(bar.label)}" data-eligible="{bar.eligible}" '
            f'data-not-eligible="{bar.not_eligible}">'
            f'<text x="0" y="{y + 12}">{_e(bar.label)}</text>'
            f'<rect x="0" y="{y + 17}" width="{a:.1f}" height="14" fill="{ELIGIBLE}">'
            f"<title>{_e(bar.label)}: {bar.eligible} eligible</title></rect>"
            f'<rect x="{a:.1f}" y="{y + 17}" width="{b:.1f}" height="14" fill="{NOT_ELIGIBLE}">'
            f"<title>{_e(bar.label)}: {bar.not_eligible} not eligible</title></rect>"
            f'<text x="{a + b + 6:.1f}" y="{y + 29}">{bar.total}</text></g>'
        )
    return _bar_svg(chart_id, title, row * len(bars) + 8, parts)


def _anchor(i: int, count: int) -> str:
    return "start" if i == 0 else "end" if i == count - 1 else "middle"


def label_positions(labels: Sequence[str], plot_px: float, label_px: float = 56, gap: float = 10) -> list[int]:
    """Which months get a label on a plot `plot_px` wide: both ends, then Januaries, none overlapping another.

    A label is `label_px` wide and anchored as drawn: the first starts at its column, the last ends at its
    column's right edge, the others are centred on their column.
    """
    count = len(labels)
    step = plot_px / max(count, 1)

    def span(i: int) -> tuple[float, float]:
        anchor = _anchor(i, count)
        x = {"start": i * step, "end": (i + 1) * step, "middle": (i + 0.5) * step}[anchor]
        left = x - {"start": 0.0, "middle": label_px / 2, "end": label_px}[anchor]
        return left, left + label_px

    chosen: list[int] = []
    if not count:
        return chosen  # nothing stored: an empty chart, no month to name
    januaries = [i for i, label in enumerate(labels) if label.endswith("-01") and 0 < i < count - 1]
    for i in dict.fromkeys([0, count - 1, *januaries]):
        a, b = span(i)
        if all(b + gap <= c or d + gap <= a for c, d in (span(j) for j in chosen)):
            chosen.append(i)
    return sorted(chosen)


def ticks(top: int, most: int = 5) -> list[int]:
    """Round y-axis values from 0 to at least `top` (steps of 1, 2 or 5 times a power of ten), at most `most` + 1."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if math.ceil(max(top, 1) / (step * factor)) <= most:
                size = step * factor
                return list(range(0, size * math.ceil(max(top, 1) / size) + 1, size))
        step *= 10


# The plot is as wide as its panel: labels are HTML (their size never scales), placed in % of the plot's width,
# a set chosen for the narrowest plot (a 420 px phone: ~300 px) and more for wide screens only (>= 720 px plot).
NARROW_PLOT, WIDE_PLOT = 300, 720


def _month_fraction(now: datetime) -> float:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    following = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return (now - start) / (following - start)


def columns(chart_id: str, title: str, bars: Sequence[Bar], now: datetime | None = None, height: int = 220) -> str:
    """Stacked columns over consecutive months, as wide as the panel, with a y axis, a "now" line and the
    months before it shaded as overdue: what lies left of the line is past its expiry (the sweep's to delete)."""
    count = max(len(bars), 1)
    grid = ticks(max((b.total for b in bars), default=0))
    top = grid[-1] or 1
    now_x: float | None = None
    if now is not None and bars:
        month = now.astimezone(UTC).strftime("%Y-%m")
        labels = [b.label for b in bars]
        if month < labels[0]:
            now_x = 0.0
        elif month > labels[-1]:
            now_x = 100.0
        else:
            now_x = 100 * (labels.index(month) + _month_fraction(now.astimezone(UTC))) / count
    overdue = [now is not None and b.label < now.astimezone(UTC).strftime("%Y-%m") for b in bars]
    parts = [
        f'<line class="tick" x1="0" x2="{count}" y1="{100 - 100 * v / top:.2f}" y2="{100 - 100 * v / top:.2f}" '
        f'vector-effect="non-scaling-stroke" data-value="{v}"/>'
        for v in grid
    ]
    if now_x is not None and now_x > 0:
        parts.append(
            f'<rect class="overdue-zone" x="0" y="0" width="{now_x * count / 100:.3f}" height="100"><title>overdue: '
            f"past their expiry, the sweep deletes them</title></rect>"
        )
    for i, bar in enumerate(bars):
        h_a, h_b = 100 * bar.eligible / top, 100 * bar.not_eligible / top
        parts.append(
            f'<g class="column{" overdue" if overdue[i] else ""}" data-label="{bar.label}" '
            f'data-eligible="{bar.eligible}" data-not-eligible="{bar.not_eligible}"><title>{bar.label}: '
            f"{bar.eligible} eligible, {bar.not_eligible} not eligible{' (overdue)' if overdue[i] else ''}</title>"
            f'<rect x="{i + 0.1:.2f}" y="{100 - h_b:.3f}" width="0.8" height="{h_b:.3f}" fill="{NOT_ELIGIBLE}"/>'
            f'<rect x="{i + 0.1:.2f}" y="{100 - h_b - h_a:.3f}" width="0.8" height="{h_a:.3f}" fill="{ELIGIBLE}"/></g>'
        )
    if now_x is not None:
        x = now_x * count / 100
        parts.append(
            f'<line class="now" x1="{x:.3f}" x2="{x:.3f}" y1="0" y2="100" vector-effect="non-scaling-stroke"/>'
        )
    svg = (
        f'<svg class="chart columns" id="{chart_id}" role="img" aria-label="{_e(title)}" viewBox="0 0 {count} 100" '
        f'preserveAspectRatio="none" width="100%" height="{height}"><title>{_e(title)}</title>{"".join(parts)}</svg>'
    )
    y_labels = "".join(f'<span class="y-label" style="bottom:{100 * v / top:.2f}%">{v}</span>' for v in grid)
    narrow = set(label_positions([b.label for b in bars], NARROW_PLOT))
    wide = set(label_positions([b.label for b in bars], WIDE_PLOT)) - narrow
    x_labels = []
    for i in sorted(narrow | wide):
        anchor = _anchor(i, len(bars))
        at = {"start": 100 * i / count, "end": 100 * (i + 1) / count, "middle": 100 * (i + 0.5) / count}[anchor]
        kind = "x-label" + (" wide-only" if i in wide else "")
        x_labels.append(f'<span class="{kind} {anchor}" style="left:{at:.2f}%">{_e(bars[i].label)}</span>')
    marker = ""
    if now_x is not None and now is not None:
        anchor = "start" if now_x < 20 else "end" if now_x > 80 else "middle"
        marker = (
            f'<div class="markers"><span class="now-label {anchor}" style="left:{now_x:.2f}%">now '
            f"{now.astimezone(UTC):%Y-%m-%d}</span></div>"
        )
    return (
        f'<div class="timeline" style="--plot-height:{height}px">{marker}<div class="plot-row">'
        f'<div class="y-axis">{y_labels}</div><div class="plot">{svg}</div></div>'
        f'<div class="x-axis">{"".join(x_labels)}</div></div>'
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
svg.bars { width: 100%; height: auto; flex: 1 1 300px; }
.timeline { width: 100%; margin-top: 8px; }
.markers { position: relative; height: 18px; margin-left: 44px; }
.plot-row { display: flex; }
.y-axis { position: relative; width: 44px; height: var(--plot-height); flex: none; }
.y-label { position: absolute; right: 8px; transform: translateY(50%); font-size: 12px; color: var(--muted);
           font-variant-numeric: tabular-nums; }
.plot { flex: 1; min-width: 0; border-left: 1px solid var(--line); }
.plot svg { display: block; width: 100%; height: var(--plot-height); }
svg .tick { stroke: var(--line); stroke-width: 1; }
svg .overdue-zone { fill: #cf222e; fill-opacity: 0.07; }
svg .column.overdue rect { fill: #cf222e; fill-opacity: 0.85; }
svg .now { stroke: #cf222e; stroke-width: 2; stroke-dasharray: 5 3; }
.now-label { position: absolute; bottom: 1px; font-size: 12px; font-weight: 650; color: #cf222e; white-space: nowrap; }
.x-axis { position: relative; height: 22px; margin-left: 44px; }
.x-label { position: absolute; top: 4px; font-size: 12px; color: var(--muted); white-space: nowrap; }
.start { transform: none; } .middle { transform: translateX(-50%); } .end { transform: translateX(-100%); }
.wide-only { display: none; }
@media (min-width: 900px) { .wide-only { display: inline; } }
@media (max-width: 600px) {
  body { padding: 12px; } section { padding: 12px 12px; } .row { gap: 12px; }
  .cards { grid-template-columns: repeat(2, 1fr); } .card .n { font-size: 22px; }
}
.scroll { max-width: 100%; overflow-x: auto; }
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
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def render_html(data: ReportData) -> str:
    """The report page: cards, four charts, their tables, the numbers as JSON."""
    total = data.objects
    generated = datetime.fromisoformat(data.generated_at.replace("Z", "+00:00"))
    legend = (
        f'<p class="legend"><span style="background:{ELIGIBLE}"></span>eligible'
        f'<span style="background:{NOT_ELIGIBLE}"></span>not eligible</p>'
    )
    legend_overdue = legend.replace(
        "not eligible</p>", 'not eligible<span style="background:#cf222e"></span>overdue (due, not yet swept)</p>'
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
(<code>expires-on</code>); the nightly sweep deletes them then, unless under legal hold. Left of the
<span class="now-text">now</span> line (shaded): overdue, past their expiry.</p>{legend_overdue}
{columns("chart-expiry", "stored chat objects by expiry month", data.by_month, now=generated)}
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
