"""HTML reports built from sections, so each capability adds its own part to one page.

A :class:`Report` is a title and a list of :class:`Section` s; a section holds blocks in order: key
figures, text, tables and charts (inline SVG from :mod:`shelfwise.evaluate.charts`). Rendering goes
through one Jinja2 template with autoescaping on: every text and table cell is escaped, only charts are
inserted as markup. The page is a single file with inline CSS and no scripts, so it opens offline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from .. import __version__
from .charts import fmt_number

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{ report.title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d2329; background: #f6f7f9; }
header { background: #1d3557; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 24px; }
header p { margin: 0; opacity: 0.85; }
nav { padding: 10px 32px; background: #fff; border-bottom: 1px solid #dde1e6; font-size: 14px; }
nav a { margin-right: 14px; color: #1d3557; text-decoration: none; }
main { padding: 8px 32px 32px 32px; max-width: 1100px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 20px; margin: 16px 0; }
section h2 { font-size: 18px; margin: 6px 0 10px 0; }
p { line-height: 1.45; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 10px; }
th { text-align: left; background: #f0f2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.figure { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.figure .value { font-size: 20px; font-weight: 600; }
.figure .label { font-size: 12px; color: #5b6670; }
.chart { margin: 8px 0; overflow-x: auto; }
footer { color: #6b7580; font-size: 12px; padding: 0 32px 24px 32px; }
</style>
</head>
<body>
<header>
<h1>{{ report.title }}</h1>
{% if report.subtitle %}<p>{{ report.subtitle }}</p>{% endif %}
</header>
{% if report.sections|length > 1 %}<nav>{% for s in report.sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>{% endif %}
<main>
{% for s in report.sections %}
<section id="{{ s.anchor }}">
<h2>{{ s.title }}</h2>
{% for b in s.blocks %}
{% if b.kind == "text" %}{% for para in b.paragraphs %}<p>{{ para }}</p>
{% endfor %}
{% elif b.kind == "figures" %}<div class="figures">{% for label, value in b.items %}<div class="figure"><div class="value">{{ value }}</div><div class="label">{{ label }}</div></div>{% endfor %}</div>
{% elif b.kind == "table" %}<table>{% if b.caption %}<caption>{{ b.caption }}</caption>{% endif %}
<thead><tr>{% for c in b.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in b.rows %}<tr>{% for cell in row %}<td{% if cell.numeric %} class="num"{% endif %}>{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% elif b.kind == "chart" %}<div class="chart">{{ b.svg }}</div>
{% endif %}
{% endfor %}
</section>
{% endfor %}
</main>
<footer>Written by shelfwise {{ version }} on {{ written }}.</footer>
</body>
</html>
"""

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_template = _env.from_string(_TEMPLATE)


@dataclass
class _Cell:
    text: str
    numeric: bool


def _cell(value: Any) -> _Cell:
    if value is None:
        return _Cell("", False)
    if isinstance(value, bool):
        return _Cell(str(value).lower(), False)
    if isinstance(value, int):
        return _Cell(f"{value:,}", True)
    if isinstance(value, float):
        if not math.isfinite(value):
            return _Cell("n/a", True)
        return _Cell(f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}", True)
    return _Cell(str(value), False)


@dataclass
class Block:
    """One piece of a section; ``kind`` is text, figures, table or chart."""

    kind: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[_Cell]] = field(default_factory=list)
    caption: str = ""
    svg: Markup = Markup("")


@dataclass
class Section:
    """A titled part of a report; add blocks with :meth:`text`, :meth:`figures`, :meth:`table`, :meth:`chart`."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)

    def text(self, text: str) -> "Section":
        """Plain text (escaped); blank lines separate paragraphs."""
        paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        self.blocks.append(Block("text", paragraphs=paras))
        return self

    def figures(self, figures: Mapping[str, Any]) -> "Section":
        """Key figures shown as cards: label -> value (numbers are formatted with separators)."""
        items = [(str(k), _cell(v).text) for k, v in figures.items()]
        self.blocks.append(Block("figures", items=items))
        return self

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> "Section":
        """A table; numbers are right-aligned and formatted, everything is escaped."""
        cols = [str(c) for c in columns]
        body = []
        for r in rows:
            if len(r) != len(cols):
                raise ValueError(f"table '{caption or self.title}': a row has {len(r)} cells for {len(cols)} columns")
            body.append([_cell(v) for v in r])
        self.blocks.append(Block("table", columns=cols, rows=body, caption=caption))
        return self

    def chart(self, svg: str) -> "Section":
        """An inline SVG chart from :mod:`shelfwise.evaluate.charts` (inserted as markup, not escaped)."""
        if not svg.lstrip().startswith("<svg"):
            raise ValueError("chart() takes an SVG document from shelfwise.evaluate.charts")
        self.blocks.append(Block("chart", svg=Markup(svg)))
        return self


@dataclass
class Report:
    """A titled list of sections rendered to one self-contained HTML page."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        """Append a new section and return it (titles need not be unique; anchors are)."""
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        taken = {s.anchor for s in self.sections}
        anchor, n = base, 2
        while anchor in taken:
            anchor, n = f"{base}-{n}", n + 1
        s = Section(title, anchor)
        self.sections.append(s)
        return s

    def render(self) -> str:
        written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return _template.render(report=self, version=__version__, written=written)

    def write(self, path: str | Path) -> Path:
        """Render and write the page (creating its folder); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.render(), encoding="utf-8")
        return p


__all__ = ["Block", "Report", "Section", "fmt_number"]
