"""Small, self-contained SVG charts for HTML reports: line, bar and stacked area.

Reports are opened on machines without network access and mailed around as single files, so the
charts are plain inline SVG: no JavaScript, no fonts or stylesheets to fetch. Each point, bar and area
carries a ``<title>`` element, which browsers show as a tooltip on hover. Every text is XML-escaped, so
each chart is a well-formed XML fragment.

The x values of line and area charts may be numbers, dates / datetimes (ticks show dates) or strings
(evenly spaced categories).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

PALETTE: tuple[str, ...] = ("#2f6db5", "#e07b39", "#3a9d5d", "#c8433d", "#8a63b8", "#8c6d4f",
                            "#d46fb0", "#6f7a86", "#b5a234", "#2fa7b5")

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'
_MARGIN = {"left": 64, "right": 16, "top": 34, "bottom": 46}


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def fmt_number(v: float) -> str:
    """Compact tick and tooltip text: 1.2k, 3.4M, 0.05, 12."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.3g}"
    return f"{v:.2g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks, v = [], start
    while v < hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


class _XAxis:
    """Maps x values of one kind (number, date, category) to [0, 1] and labels them."""

    def __init__(self, xs: Sequence[Any]) -> None:
        self.kind = ("date" if xs and all(isinstance(x, (date, datetime)) for x in xs)
                     else "number" if xs and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
                     else "category")
        self.xs = list(xs)
        if self.kind == "date":
            self.values = [self._ordinal(x) for x in xs]
        elif self.kind == "number":
            self.values = [float(x) for x in xs]
        else:
            self.values = [float(i) for i in range(len(xs))]
        self.lo = min(self.values) if self.values else 0.0
        self.hi = max(self.values) if self.values else 1.0
        if self.hi == self.lo:
            self.lo, self.hi = self.lo - 0.5, self.hi + 0.5

    @staticmethod
    def _ordinal(x: date | datetime) -> float:
        if isinstance(x, datetime):
            return x.toordinal() + (x.hour * 3600 + x.minute * 60 + x.second) / 86400
        return float(x.toordinal())

    def frac(self, v: float) -> float:
        return (v - self.lo) / (self.hi - self.lo)

    def label(self, i: int) -> str:
        x = self.xs[i]
        if self.kind == "date":
            return x.strftime("%d %b") if isinstance(x, (date, datetime)) else str(x)
        return fmt_number(x) if self.kind == "number" else str(x)

    def ticks(self, width: float) -> list[tuple[float, str]]:
        """(fraction, label) pairs, as many as fit in ``width`` pixels."""
        if not self.xs:
            return []
        room = max(2, int(width // 70))
        if self.kind == "number":
            return [(self.frac(t), fmt_number(t)) for t in nice_ticks(self.lo, self.hi, room)
                    if self.lo - 1e-9 <= t <= self.hi + 1e-9]
        n = len(self.xs)
        step = max(1, math.ceil(n / room))
        return [(self.frac(self.values[i]), self.label(i)) for i in range(0, n, step)]


def _frame(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="sw-chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" {_FONT} font-size="11">',
            f"<title>{_e(title)}</title>",
            f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="600">{_e(title)}</text>']


def _y_axis(parts: list[str], ticks: list[float], y_of: Any, x0: float, x1: float, label: str, height: int) -> None:
    for t in ticks:
        y = y_of(t)
        parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        parts.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{_e(fmt_number(t))}</text>')
    parts.append(f'<line x1="{x0:.1f}" y1="{y_of(ticks[0]):.1f}" x2="{x0:.1f}" y2="{y_of(ticks[-1]):.1f}" stroke="#888"/>')
    if label:
        mid = (_MARGIN["top"] + height - _MARGIN["bottom"]) / 2
        parts.append(f'<text x="14" y="{mid:.1f}" text-anchor="middle" transform="rotate(-90 14 {mid:.1f})" '
                     f'fill="#333">{_e(label)}</text>')


def _legend_layout(names: Sequence[str], width: int) -> list[list[tuple[int, str, float]]]:
    """Legend entries (series index, name, x) wrapped into rows that fit the chart's width."""
    if len(names) < 2:
        return []
    rows: list[list[tuple[int, str, float]]] = [[]]
    x = float(_MARGIN["left"])
    for k, name in enumerate(names):
        w = 26 + 6.5 * len(str(name))
        if rows[-1] and x + w > width - _MARGIN["right"]:
            rows.append([])
            x = float(_MARGIN["left"])
        rows[-1].append((k, str(name), x))
        x += w
    return rows


def _legend(parts: list[str], layout: list[list[tuple[int, str, float]]]) -> None:
    for r, row in enumerate(layout):
        y = 34 + 15 * r
        for k, name, x in row:
            colour = PALETTE[k % len(PALETTE)]
            parts.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{x + 14:.1f}" y="{y}" fill="#333">{_e(name)}</text>')


def _top(layout: list[list[tuple[int, str, float]]]) -> float:
    """Where the plot area starts: below the title and the legend rows."""
    return _MARGIN["top"] + 15 * len(layout) + (6 if layout else 0)


def _empty(width: int, height: int, title: str) -> str:
    parts = _frame(width, height, title)
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="#888">no data</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _clean(values: Sequence[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f)
    return out


def line_chart(x: Sequence[Any], series: Mapping[str, Sequence[Any]], *, title: str = "", x_label: str = "",
               y_label: str = "", width: int = 680, height: int = 300, y_min: float | None = 0.0,
               markers: bool = True) -> str:
    """One line per series over shared x values; missing or non-finite values break the line."""
    names = list(series)
    data = {n: _clean(series[n]) for n in names}
    finite = [v for vals in data.values() for v in vals if math.isfinite(v)]
    if not x or not finite:
        return _empty(width, height, title)
    ax = _XAxis(x)
    lo = min(finite) if y_min is None else min(y_min, min(finite))
    ticks = nice_ticks(lo, max(finite))
    x0, x1 = _MARGIN["left"], width - _MARGIN["right"]
    layout = _legend_layout(names, width)
    top, bottom = _top(layout), height - _MARGIN["bottom"]

    def y_of(v: float) -> float:
        return bottom - (v - ticks[0]) / (ticks[-1] - ticks[0]) * (bottom - top)

    def x_of(v: float) -> float:
        return x0 + ax.frac(v) * (x1 - x0)

    parts = _frame(width, height, title)
    _y_axis(parts, ticks, y_of, x0, x1, y_label, height)
    _x_axis(parts, ax, x0, x1, bottom, x_label, height)
    for k, name in enumerate(names):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for xv, yv in zip(ax.values, data[name]):
            if math.isfinite(yv):
                runs[-1].append(f"{x_of(xv):.1f},{y_of(yv):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if run:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}">'
                             f"<title>{_e(name)}</title></polyline>")
        if markers:
            for i, (xv, yv) in enumerate(zip(ax.values, data[name])):
                if math.isfinite(yv):
                    parts.append(f'<circle cx="{x_of(xv):.1f}" cy="{y_of(yv):.1f}" r="2.5" fill="{colour}">'
                                 f"<title>{_e(name)}: {_e(ax.label(i))} = {_e(fmt_number(yv))}</title></circle>")
    _legend(parts, layout)
    parts.append("</svg>")
    return "\n".join(parts)


def _x_axis(parts: list[str], ax: _XAxis, x0: float, x1: float, bottom: float, label: str, height: int) -> None:
    parts.append(f'<line x1="{x0:.1f}" y1="{bottom:.1f}" x2="{x1:.1f}" y2="{bottom:.1f}" stroke="#888"/>')
    for frac, text in ax.ticks(x1 - x0):
        x = x0 + frac * (x1 - x0)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="#888"/>')
        anchor = "end" if x1 - x < 20 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="{anchor}" fill="#555">{_e(text)}</text>')
    if label:
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">{_e(label)}</text>')


def bar_chart(labels: Sequence[Any], values: Sequence[Any], *, title: str = "", x_label: str = "",
              y_label: str = "", width: int = 680, height: int | None = None, horizontal: bool = False,
              colour: str = PALETTE[0]) -> str:
    """One bar per label. ``horizontal`` suits long labels (categories): bars grow to the right."""
    vals = _clean(values)
    labels = [str(lab) for lab in labels]
    finite = [v for v in vals if math.isfinite(v)]
    if not labels or not finite:
        return _empty(width, height or 300, title)
    ticks = nice_ticks(min(0.0, min(finite)), max(0.0, max(finite)))
    parts: list[str]
    if horizontal:
        label_w = min(260, 12 + 6.5 * max(len(lab) for lab in labels))
        row = 20
        height = height or int(_MARGIN["top"] + _MARGIN["bottom"] + row * len(labels))
        parts = _frame(width, height, title)
        x0, x1 = _MARGIN["left"] + label_w - 50, width - _MARGIN["right"] - 40
        top = _MARGIN["top"]
        row = (height - top - _MARGIN["bottom"]) / len(labels)

        def x_of(v: float) -> float:
            return x0 + (v - ticks[0]) / (ticks[-1] - ticks[0]) * (x1 - x0)

        bottom = top + row * len(labels)
        for t in ticks:
            parts.append(f'<line x1="{x_of(t):.1f}" y1="{top:.1f}" x2="{x_of(t):.1f}" y2="{bottom:.1f}" stroke="#e3e6ea"/>')
            parts.append(f'<text x="{x_of(t):.1f}" y="{bottom + 14:.1f}" text-anchor="middle" fill="#555">'
                         f"{_e(fmt_number(t))}</text>")
        for i, (lab, v) in enumerate(zip(labels, vals)):
            y = top + i * row
            parts.append(f'<text x="{x0 - 6:.1f}" y="{y + row * 0.5 + 4:.1f}" text-anchor="end" fill="#333">{_e(lab)}</text>')
            if math.isfinite(v):
                a, b = sorted((x_of(0.0), x_of(v)))
                parts.append(f'<rect x="{a:.1f}" y="{y + row * 0.15:.1f}" width="{max(b - a, 0.5):.1f}" '
                             f'height="{row * 0.7:.1f}" fill="{colour}"><title>{_e(lab)}: {_e(fmt_number(v))}</title></rect>')
                parts.append(f'<text x="{b + 4:.1f}" y="{y + row * 0.5 + 4:.1f}" fill="#555">{_e(fmt_number(v))}</text>')
        parts.append(f'<line x1="{x_of(0.0):.1f}" y1="{top:.1f}" x2="{x_of(0.0):.1f}" y2="{bottom:.1f}" stroke="#888"/>')
        if x_label:
            parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">{_e(x_label)}</text>')
    else:
        height = height or 300
        parts = _frame(width, height, title)
        x0, x1 = _MARGIN["left"], width - _MARGIN["right"]
        top, bottom = _MARGIN["top"], height - _MARGIN["bottom"]

        def y_of(v: float) -> float:
            return bottom - (v - ticks[0]) / (ticks[-1] - ticks[0]) * (bottom - top)

        _y_axis(parts, ticks, y_of, x0, x1, y_label, height)
        slot = (x1 - x0) / len(labels)
        every = max(1, math.ceil(len(labels) * max(len(lab) for lab in labels) * 6.5 / (x1 - x0)))
        for i, (lab, v) in enumerate(zip(labels, vals)):
            x = x0 + i * slot
            if math.isfinite(v):
                a, b = sorted((y_of(0.0), y_of(v)))
                parts.append(f'<rect x="{x + slot * 0.1:.1f}" y="{a:.1f}" width="{slot * 0.8:.1f}" '
                             f'height="{max(b - a, 0.5):.1f}" fill="{colour}">'
                             f"<title>{_e(lab)}: {_e(fmt_number(v))}</title></rect>")
            if i % every == 0:
                parts.append(f'<text x="{x + slot / 2:.1f}" y="{bottom + 14:.1f}" text-anchor="middle" '
                             f'fill="#555">{_e(lab)}</text>')
        parts.append(f'<line x1="{x0:.1f}" y1="{y_of(0.0):.1f}" x2="{x1:.1f}" y2="{y_of(0.0):.1f}" stroke="#888"/>')
        if x_label:
            parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">{_e(x_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def stacked_area_chart(x: Sequence[Any], series: Mapping[str, Sequence[Any]], *, title: str = "",
                       x_label: str = "", y_label: str = "", width: int = 680, height: int = 300) -> str:
    """Series stacked on each other (non-negative values; missing counts as 0), bottom first."""
    names = list(series)
    data = [[v if math.isfinite(v) and v > 0 else 0.0 for v in _clean(series[n])] for n in names]
    if not x or not names:
        return _empty(width, height, title)
    n = len(x)
    cum = [[0.0] * n]
    for vals in data:
        cum.append([a + b for a, b in zip(cum[-1], vals + [0.0] * (n - len(vals)))])
    total = max(cum[-1]) if cum[-1] else 0.0
    if total <= 0:
        return _empty(width, height, title)
    ax = _XAxis(x)
    ticks = nice_ticks(0.0, total)
    x0, x1 = _MARGIN["left"], width - _MARGIN["right"]
    layout = _legend_layout(names, width)
    top, bottom = _top(layout), height - _MARGIN["bottom"]

    def y_of(v: float) -> float:
        return bottom - v / ticks[-1] * (bottom - top)

    def x_of(v: float) -> float:
        return x0 + ax.frac(v) * (x1 - x0)

    parts = _frame(width, height, title)
    _y_axis(parts, ticks, y_of, x0, x1, y_label, height)
    _x_axis(parts, ax, x0, x1, bottom, x_label, height)
    for k, name in enumerate(names):
        colour = PALETTE[k % len(PALETTE)]
        upper = [f"{x_of(xv):.1f},{y_of(v):.1f}" for xv, v in zip(ax.values, cum[k + 1])]
        lower = [f"{x_of(xv):.1f},{y_of(v):.1f}" for xv, v in zip(reversed(ax.values), reversed(cum[k]))]
        parts.append(f'<polygon fill="{colour}" fill-opacity="0.8" stroke="{colour}" points="{" ".join(upper + lower)}">'
                     f"<title>{_e(name)}: {_e(fmt_number(sum(data[k])))} in all</title></polygon>")
    # one invisible hover column per x value with the breakdown
    step = (x1 - x0) / max(n - 1, 1)
    for i, xv in enumerate(ax.values):
        detail = "; ".join(f"{nm} {fmt_number(data[k][i] if i < len(data[k]) else 0.0)}" for k, nm in enumerate(names))
        parts.append(f'<rect x="{x_of(xv) - step / 2:.1f}" y="{top:.1f}" width="{step:.1f}" height="{bottom - top:.1f}" '
                     f'fill="#000" fill-opacity="0"><title>{_e(ax.label(i))}: {_e(detail)}</title></rect>')
    _legend(parts, layout)
    parts.append("</svg>")
    return "\n".join(parts)
