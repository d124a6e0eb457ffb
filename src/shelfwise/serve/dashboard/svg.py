"""The one chart the dashboard needs that :mod:`shelfwise.evaluate.charts` lacks: estimates with intervals.

Experiments are read by their intervals, not their point estimates, so each row is drawn as a
whisker from the low to the high end with a dot at the estimate, against a zero line. Plain inline
SVG like the other charts: no script, every text escaped, a ``<title>`` tooltip per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from ...evaluate.charts import PALETTE, nice_ticks

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'


def _pct(v: float) -> str:
    return f"{v * 100:+.1f}%"


def interval_chart(rows: Sequence[tuple[Any, ...]], *, title: str = "", width: int = 680,
                   percent: bool = True) -> str:
    """One row per ``(label, estimate, low, high[, decided])``; a non-finite estimate is listed as n/a.

    Decided rows are drawn in the first palette colour, the others in grey, so the rows that the data
    already decides stand out. ``decided`` defaults to "the interval excludes zero"; a caller whose
    test disagrees with the drawn interval (a p-value corrected for many comparisons) passes its own.
    """
    fmt = _pct if percent else (lambda v: f"{v:.3g}")
    row_h, top, bottom_pad = 24, 34, 30
    height = top + row_h * max(len(rows), 1) + bottom_pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sw-chart sw-interval" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'{_FONT} font-size="11">', f"<title>{escape(title)}</title>",
             f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="600">'
             f"{escape(title)}</text>"]
    finite = [v for r in rows for v in r[1:4] if v is not None and math.isfinite(v)]
    if not finite:
        parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="#888">no data</text>')
        parts.append("</svg>")
        return "\n".join(parts)
    ticks = nice_ticks(min(0.0, *finite), max(0.0, *finite))
    label_w = min(240, 14 + 6.5 * max(len(r[0]) for r in rows))
    x0, x1 = label_w, width - 70
    bottom = top + row_h * len(rows)

    def x_of(v: float) -> float:
        return x0 + (v - ticks[0]) / (ticks[-1] - ticks[0]) * (x1 - x0)

    for t in ticks:
        parts.append(f'<line x1="{x_of(t):.1f}" y1="{top}" x2="{x_of(t):.1f}" y2="{bottom}" stroke="#e3e6ea"/>')
        parts.append(f'<text x="{x_of(t):.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">'
                     f"{escape(fmt(t))}</text>")
    parts.append(f'<line x1="{x_of(0.0):.1f}" y1="{top}" x2="{x_of(0.0):.1f}" y2="{bottom}" stroke="#555"/>')
    for i, row in enumerate(rows):
        label, est, lo, hi = row[:4]
        y = top + row_h * i + row_h / 2
        parts.append(f'<text x="{x0 - 8:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{escape(label)}</text>')
        if est is None or not math.isfinite(est):
            parts.append(f'<text x="{x0 + 4:.1f}" y="{y + 4:.1f}" fill="#888">n/a</text>')
            continue
        ok = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        decided = bool(row[4]) if len(row) > 4 and row[4] is not None else ok and (lo > 0 or hi < 0)
        colour = PALETTE[0] if decided else "#8a939c"
        tip = f"{label}: {fmt(est)}" + (f" ({fmt(lo)} to {fmt(hi)})" if ok else "")
        parts.append(f'<g class="sw-row"><title>{escape(tip)}</title>')
        if ok:
            parts.append(f'<line x1="{x_of(lo):.1f}" y1="{y:.1f}" x2="{x_of(hi):.1f}" y2="{y:.1f}" '
                         f'stroke="{colour}" stroke-width="2"/>')
            for v in (lo, hi):
                parts.append(f'<line x1="{x_of(v):.1f}" y1="{y - 5:.1f}" x2="{x_of(v):.1f}" y2="{y + 5:.1f}" '
                             f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<circle cx="{x_of(est):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        parts.append(f'<text x="{x1 + 8:.1f}" y="{y + 4:.1f}" fill="#333">{escape(fmt(est))}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)
