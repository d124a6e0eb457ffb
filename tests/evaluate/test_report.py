"""HTML reports and their inline SVG charts: well formed, self-contained, escaped, with tooltips."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from shelfwise.evaluate.charts import bar_chart, fmt_number, line_chart, nice_ticks, stacked_area_chart
from shelfwise.evaluate.report import Report

SVG = "{http://www.w3.org/2000/svg}"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "embed", "source", "track", "wbr"}


class StrictChecker(HTMLParser):
    """Fails on any unclosed or mismatched tag; counts elements and external references."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(html: str) -> StrictChecker:
    p = StrictChecker()
    p.feed(html)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"unclosed: {p.stack}"
    return p


def parse_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(SVG + "title")]


def test_line_chart_is_valid_svg_with_a_tooltip_per_point_and_gaps_for_missing_values():
    days = [date(2025, 1, 1) + timedelta(days=k) for k in range(10)]
    root = parse_svg(line_chart(days, {"clicks <all>": list(range(10)), "buys & more": [1, 2, None, 4, 5, 6, 7, 8, 9, 10]},
                                title="Daily <traffic>", y_label="per day"))
    tips = titles(root)
    assert tips[0] == "Daily <traffic>"   # escaped in the markup, restored by the parser
    assert len(root.findall(f"{SVG}circle")) == 19  # one marker per finite value
    assert any(t.startswith("clicks <all>: 01 Jan = 0") for t in tips)
    assert len(root.findall(f"{SVG}polyline")) == 3  # the missing value splits the second line
    labels = [t.text for t in root.iter(SVG + "text")]
    assert "clicks <all>" in labels and "buys & more" in labels  # legend


def test_bar_charts_vertical_and_horizontal_have_one_bar_per_label():
    labels = [f"Category {k} > Sub" for k in range(7)]
    for horizontal in (False, True):
        root = parse_svg(bar_chart(labels, [5, 0, 3.5, 100, 2, 1e6, 7], horizontal=horizontal, title="Revenue"))
        bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
        assert len(bars) == 7
        assert bars[5].find(SVG + "title").text == "Category 5 > Sub: 1M"
        heights = [float(r.get("width" if horizontal else "height")) for r in bars]
        assert heights[5] == max(heights)


def test_stacked_area_stacks_series_and_explains_each_column():
    x = ["w1", "w2", "w3"]
    root = parse_svg(stacked_area_chart(x, {"a": [1, 2, 3], "b": [3, 2, 1]}, title="Stack"))
    polys = root.findall(f"{SVG}polygon")
    assert [p.find(SVG + "title").text for p in polys] == ["a: 6 in all", "b: 6 in all"]
    cols = [t for t in titles(root) if t.startswith("w")]
    assert cols == ["w1: a 1; b 3", "w2: a 2; b 2", "w3: a 3; b 1"]
    # the top of the stack is flat at 4: the upper edge of 'b' has one y for all three points
    upper_b = polys[1].get("points").split()[:3]
    assert len({pt.split(",")[1] for pt in upper_b}) == 1


@pytest.mark.parametrize("svg", [
    line_chart([], {}, title="empty"), line_chart([1, 2], {"s": [math.nan, None]}, title="nan"),
    bar_chart([], [], title="empty"), stacked_area_chart([1, 2], {"z": [0, 0]}, title="zero"),
    line_chart([5], {"one": [3]}, title="single"), bar_chart(["neg"], [-4], title="negative"),
])
def test_degenerate_data_still_gives_valid_svg(svg):
    parse_svg(svg)


def test_nice_ticks_cover_the_range_with_round_steps():
    for lo, hi in [(0, 7.3), (0, 0.042), (-3, 1234), (5, 5), (0, 1e9)]:
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5, 10))
    assert fmt_number(1234567) == "1.23M" and fmt_number(0.0512) == "0.051" and fmt_number(12) == "12"


def test_report_html_is_well_formed_self_contained_and_escaped(tmp_path):
    report = Report("Shop <report>", "subtitle & more")
    s = report.section("Overview")
    s.figures({"items": 2000, "share": "25%"})
    s.text("First paragraph with <script>alert(1)</script>.\n\nSecond paragraph.")
    s.table(["name", "rows", "rate"], [["events <x>", 428651, 0.0512], ["users", 5000, None]], caption="Counts")
    s.chart(line_chart([1, 2, 3], {"a": [1, 2, 3]}, title="Line"))
    t = report.section("Overview")  # same title: the anchor stays unique
    t.chart(bar_chart(["x", "y"], [1, 2], title="Bars"))
    t.chart(stacked_area_chart([1, 2], {"p": [1, 2], "q": [2, 1]}, title="Area"))
    path = report.write(tmp_path / "out" / "report.html")
    html = path.read_text(encoding="utf-8")
    parsed = check_html(html)
    assert parsed.counts["svg"] == 3 and parsed.counts["section"] == 2
    assert parsed.counts.get("script", 0) == 0 and not parsed.external
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "428,651" in html and "events &lt;x&gt;" in html
    assert 'id="overview"' in html and 'id="overview-2"' in html
    text = " ".join(parsed.text)
    assert "Shop <report>" in text and "Second paragraph." in text
    # every chart inside the page is itself well-formed XML
    start = 0
    for _ in range(3):
        a = html.index("<svg", start)
        b = html.index("</svg>", a) + len("</svg>")
        parse_svg(html[a:b])
        start = b


def test_sections_refuse_bad_blocks():
    s = Report("r").section("s")
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        s.table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="SVG"):
        s.chart("<div>not a chart</div>")
