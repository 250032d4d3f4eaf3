"""The report's expiry chart: a "now" line with the overdue months shaded, a y axis with round ticks, month labels
that never overlap at the narrowest width, a plot as wide as its panel (checked on the SVG's structure; see
README for the 420 px screenshot check)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from clirun import Result, Served

from consentry.cli.report import NARROW_PLOT, WIDE_PLOT, columns, label_positions, ticks

AT = "2025-11-23"


class Expiry(HTMLParser):
    """The expiry chart's elements: SVG shapes by class, and the HTML labels around it."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.svg: dict[str, str | None] = {}
        self.shapes: list[tuple[str, dict[str, str | None]]] = []
        self.labels: list[tuple[str, str, str]] = []  # (class, style, text)
        self._label: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("id") == "chart-expiry":
            self.inside, self.svg = True, a
        elif self.inside and tag in ("line", "g", "rect"):
            self.shapes.append((tag, a))
        elif tag == "span" and re.search(r"\b(x-label|y-label|now-label)\b", a.get("class") or ""):
            self._label = (a.get("class") or "", a.get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.labels.append((*self._label, data))
            self._label = None


@pytest.fixture(scope="module")
def chart(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Expiry:
    from consentry.cli import main

    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["--endpoint-url", served.url, "report", "--out", str(out), "--now", AT]) == 0
    parsed = Expiry()
    parsed.feed(out.read_text())
    return parsed


def test_the_plot_takes_the_panels_width_and_keeps_its_height(chart: Expiry) -> None:
    assert chart.svg["width"] == "100%" and chart.svg["preserveaspectratio"] == "none"
    columns = [a for tag, a in chart.shapes if tag == "g"]
    assert chart.svg["viewbox"] == f"0 0 {len(columns)} 100"  # one unit per month, stretched to the panel


def test_a_now_line_and_overdue_months(chart: Expiry) -> None:
    [now] = [a for tag, a in chart.shapes if tag == "line" and a.get("class") == "now"]
    columns = [a for tag, a in chart.shapes if tag == "g"]
    months = [str(c["data-label"]) for c in columns]
    index = months.index("2025-11")
    assert index < float(str(now["x1"])) < index + 1  # inside November, 22 of its 30 days gone
    overdue = [str(c["data-label"]) for c in columns if "overdue" in str(c["class"]).split()]
    assert overdue == [m for m in months if m < "2025-11"] and overdue  # every earlier month, and only those
    [zone] = [a for tag, a in chart.shapes if tag == "rect" and a.get("class") == "overdue-zone"]
    assert float(str(zone["width"])) == pytest.approx(float(str(now["x1"])), abs=0.01)
    [label] = [text for cls, _, text in chart.labels if "now-label" in cls]
    assert label == "now 2025-11-23"


def test_a_y_axis_with_round_ticks(chart: Expiry) -> None:
    values = [int(str(a["data-value"])) for tag, a in chart.shapes if tag == "line" and a.get("class") == "tick"]
    tallest = max(int(str(a["data-eligible"])) + int(str(a["data-not-eligible"])) for t, a in chart.shapes if t == "g")
    assert values[0] == 0 and values[-1] >= tallest and len(values) <= 6
    assert [int(text) for cls, _, text in chart.labels if "y-label" in cls] == values


def test_month_labels_are_both_ends_and_januaries(chart: Expiry) -> None:
    texts = [text for cls, _, text in chart.labels if "x-label" in cls]
    assert texts[0] == "2025-03" and texts[-1] == "2032-10"
    assert all(t.endswith("-01") for t in texts[1:-1])


@pytest.mark.parametrize("months", [1, 2, 5, 12, 13, 40, 92, 400])
@pytest.mark.parametrize("width", [NARROW_PLOT, WIDE_PLOT])
def test_labels_never_overlap(months: int, width: int) -> None:
    labels = [f"{2025 + (m + 2) // 12:04d}-{(m + 2) % 12 + 1:02d}" for m in range(months)]
    chosen = label_positions(labels, width)
    step, size = width / months, 56

    def span(i: int) -> tuple[float, float]:
        x = {0: i * step, months - 1: (i + 1) * step - size}.get(i, (i + 0.5) * step - size / 2)
        return x, x + size

    spans = sorted(span(i) for i in chosen)
    assert chosen[0] == 0
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert all(a >= 0 and b <= width for a, b in spans)


def test_an_empty_store_has_an_empty_expiry_chart() -> None:
    """Everything swept: no month to draw or to name (the report once failed here)."""
    assert label_positions([], NARROW_PLOT) == []
    html = columns("chart-expiry", "by expiry month", [], now=datetime(2025, 11, 21, tzinfo=UTC))
    assert "x-label" not in html and "<svg" in html


@pytest.mark.parametrize(
    ("top", "expected"), [(0, [0, 1]), (1, [0, 1]), (8, [0, 2, 4, 6, 8]), (34, [0, 10, 20, 30, 40])]
)
def test_ticks_are_round_and_cover_the_tallest_column(top: int, expected: list[int]) -> None:
    assert ticks(top) == expected


def test_report_at_phone_width_needs_no_horizontal_scroll_for_its_charts(
    served: Served, cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Bar charts scale to their panel (viewBox, width 100%), labels sit above the bars (they never collide)."""
    out = tmp_path / "r.html"
    cli("--endpoint-url", served.url, "report", "--out", str(out), "--now", AT)
    page = out.read_text()

    for chart in ("chart-reasons", "chart-tiers"):
        svg = re.search(rf'<svg class="chart bars" id="{chart}"[^>]*>', page)
        assert svg is not None and "viewBox" in svg.group(0) and 'width="' not in svg.group(0)
    assert "@media (max-width: 600px)" in page and "svg.bars { width: 100%" in page
