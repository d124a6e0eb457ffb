"""Lifecycle stages: introduction, growth, maturity, decline, dormant, with confidence and evidence.

The method (docs/LIFECYCLE.md has the long form and its validation):

1. dormant: no sale for ``dormant_periods`` weeks, or for ``dormant_gaps`` times the item's usual gap
   between selling weeks, whichever is longer (a slow mover that sells every five weeks is not dormant
   after eight quiet weeks); an item that never sold in the data is dormant once past its introduction
   and 4 quiet weeks.
2. introduction: launched (and the launch seen in the data) less than ``intro_periods`` weeks ago.
3. growth / decline: the weekly number of orders over the last ``trend_window`` weeks rises / falls
   with a quasi-Poisson z-score beyond ``trend_z`` (about a 5 % two-sided test: chance alone rarely
   does that). An item that has
   not sold for at least ``fading_periods`` weeks, a quiet spell its usual selling rate makes unlikely
   (chance below ``fading_alpha``), but is not yet dormant is in decline too: it is fading out.
4. maturity: everything else, selling without a trend chance cannot explain.

How often an item sells is counted once per item (:func:`selling_record`): the share of its weeks with a
sale, up to the as-of date, for the evidence, and the rate at which it sold again before its current
silence (the week of the sale that brought it into the data left out) for the quiet-spell tests, with
the shop's typical rate for an item that has none of its own (no sale, or a single one).

Orders (purchase lines) rather than units measure the trend, so one wholesaler's bulk order is not
growth. Share of peak, age and the fitted Bass diffusion curve are reported as evidence; the curve,
where it fits, raises or lowers the confidence when it agrees or disagrees with the stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..logs import get_logger
from .diffusion import fit_bass
from .series import SalesPanel
from .trend import MIN_PERIODS, poisson_trend

log = get_logger(__name__)

STAGES: tuple[str, ...] = ("introduction", "growth", "maturity", "decline", "dormant")
#: which Bass phase agrees with which stage
_AGREES = {"introduction": {"before_peak"}, "growth": {"before_peak"}, "maturity": {"around_peak", "after_peak"},
           "decline": {"after_peak"}, "dormant": {"after_peak"}}


@dataclass(frozen=True)
class StageRules:
    """The thresholds of the stage rules; the defaults are the documented, validated ones (in weeks)."""

    intro_periods: int = 4
    trend_window: int = 8
    trend_z: float = 2.0
    dormant_periods: int = 8
    dormant_gaps: float = 3.0
    fading_periods: int = 4
    fading_alpha: float = 0.05
    peak_window: int = 4

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _tail_matrix(panel: SalesPanel, what: str, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``width`` open periods of each item's history (right-aligned) and where they are valid."""
    n = len(panel.item_ids)
    out = np.zeros((n, width))
    valid = np.zeros((n, width), dtype=bool)
    for i in range(n):
        h = panel.history(i, what=what)[-width:]
        if len(h):
            out[i, width - len(h):] = h
            valid[i, width - len(h):] = True
    return out, valid


def classify(panel: SalesPanel, rules: StageRules | None = None, categories: dict[str, str] | None = None,
             fit_curves: bool = True) -> pd.DataFrame:
    """One row per item of ``panel``: its stage, a confidence in [0, 1] and the evidence behind it.

    ``panel`` must be weekly. ``categories`` (item -> category) only adds a column. Columns: item_id,
    category, stage, confidence, reason, age_weeks, launched, launch_observed, weeks_since_sale,
    history_weeks, selling_weeks, selling_share, trend_pct_per_week, trend_z, share_of_peak, peak_week,
    units_last_8w, units_prev_8w, bass_p, bass_q, bass_m, bass_peak_week, bass_r2, bass_phase.
    """
    rules = rules or StageRules()
    if panel.freq != "W":
        raise ValueError("stages are defined on weekly series; build the panel with freq='W'")
    lines, valid = _tail_matrix(panel, "lines", rules.trend_window)
    slope, z = poisson_trend(lines, valid)
    record = selling_record(panel)
    typical = record.typical_rate()
    rows = []
    for i, item in enumerate(panel.item_ids):
        rows.append(_one(panel, i, item, float(slope[i]), float(z[i]), rules, fit_curves, record, typical))
    df = pd.DataFrame(rows)
    if categories is not None:
        df.insert(1, "category", [categories.get(it) for it in df["item_id"]])
    log.info("stages as of %s: %s", panel.as_of,
             ", ".join(f"{s} {int((df['stage'] == s).sum())}" for s in STAGES))
    return df


@dataclass(frozen=True)
class SellingRecord:
    """How often each item of a weekly panel sold: computed once, for the evidence of every item and for
    the shop's typical rate (the one yardstick of items whose own rate is unknown).

    Two numbers, for two questions:

    * ``share`` (``selling_weeks / history_weeks``, the evidence column ``selling_share``): the weeks with
      a sale among all the item's weeks from its launch or first sale up to the as-of date, its current
      silence included. This is what the evidence reports ("sold in 1 of its 9 weeks").
    * ``rate``: the weekly selling rate *before* the current silence, which the quiet spell is tested
      against (is a silence this long luck?) and whose inverse is the usual gap between selling weeks.
      The week that opened the history with the item's first sale is left out (the item is in the data
      because it sold then: ``SalesPanel.opens_with_sale``), so it is the rate at which the item sold
      again. With no week or no sale left (a single sale opened the history) it is unknown (NaN) and the
      shop's typical rate stands in, as for an item that never sold.
    """

    history_weeks: np.ndarray  # (items,) weeks from launch or first sale up to as-of
    selling_weeks: np.ndarray  # (items,) weeks with a sale
    since: np.ndarray          # (items,) weeks since the last sale (all weeks when it never sold)
    rate: np.ndarray           # (items,) selling rate up to the last sale, NaN when unknown

    @property
    def share(self) -> np.ndarray:
        """Selling weeks over all weeks up to as-of (0 for an item with no week yet)."""
        return self.selling_weeks / np.maximum(self.history_weeks, 1)

    def typical_rate(self) -> float:
        """The median known rate (0.5 when none is known): the yardstick of items whose own rate is unknown."""
        known = self.rate[~np.isnan(self.rate)]
        return float(np.median(known)) if len(known) else 0.5


def selling_record(panel: SalesPanel) -> SellingRecord:
    """Each item's weeks, selling weeks, weeks since its last sale and selling rate (see SellingRecord)."""
    n_items = len(panel.item_ids)
    weeks, selling, since = (np.zeros(n_items, dtype=np.int64) for _ in range(3))
    rate = np.full(n_items, np.nan)
    for i in range(n_items):
        units = panel.history(i, what="units")
        sold = np.nonzero(units > 0)[0]
        weeks[i], selling[i] = len(units), len(sold)
        since[i] = len(units) - 1 - int(sold[-1]) if len(sold) else len(units)
        skip = int(bool(panel.opens_with_sale[i]) and len(sold) > 0 and sold[0] == 0)
        up_to_last = len(units) - since[i] - skip  # weeks up to and including the last sale
        if up_to_last > 0 and len(sold) - skip > 0:
            rate[i] = (len(sold) - skip) / up_to_last
    return SellingRecord(weeks, selling, since, rate)


def _sold_in(record: SellingRecord, i: int) -> str:
    """The honest count behind a rate, e.g. "sold in 1 of its 9 weeks"."""
    n = int(record.history_weeks[i])
    return f"sold in {int(record.selling_weeks[i])} of its {n} week{'s' if n != 1 else ''}"


def _one(panel: SalesPanel, i: int, item: str, slope: float, z: float, rules: StageRules,
         fit_curves: bool, record: SellingRecord, typical_rate: float = 0.5) -> dict[str, object]:
    net = np.clip(panel.history(i, what="net"), 0, None)
    lines = panel.history(i, what="lines")
    n = len(lines)
    since, selling = int(record.since[i]), int(record.selling_weeks[i])
    own_rate = float(record.rate[i])
    rate = typical_rate if np.isnan(own_rate) else own_rate
    age = (panel.as_of - panel.launched[item]).days / 7.0
    observed = not bool(panel.left_censored[i])
    w = rules.peak_window
    roll = np.convolve(lines, np.ones(w) / w, mode="valid") if n >= w else np.array([lines.mean() if n else 0.0])
    peak_at = int(np.argmax(roll)) if len(roll) else 0
    share = float(roll[-1] / roll[peak_at]) if len(roll) and roll[peak_at] > 0 else 0.0
    # the peak window ends at history index peak_at + w - 1; map it back to a calendar week
    open_periods = [p for p, c in zip(panel.periods[panel.start[i]:], panel.closed[panel.start[i]:]) if not c]
    # no order at all: there is no peak to date
    peak_week = open_periods[min(peak_at + w - 1, n - 1)] if n and len(roll) and roll[peak_at] > 0 else None

    # a slow mover is dormant only after several of its usual gaps between selling weeks (1 / rate)
    dormant_after = max(rules.dormant_periods, rules.dormant_gaps / rate if rate > 0 else float("inf"))
    # chance that a quiet spell this long happens at the item's selling rate (the shop's typical rate
    # when its own is unknown: it never sold, or only the sale that brought it into the data)
    quiet_chance = (1.0 - rate) ** since
    fading = selling > 0 and since >= rules.fading_periods and quiet_chance <= rules.fading_alpha
    # never sold (a catalog item past its introduction, or only returns) for 4 weeks or more: not selling
    never_sold = selling == 0 and since >= rules.fading_periods and not (observed and age < rules.intro_periods)
    if never_sold or (selling and since >= dormant_after):
        stage, conf = "dormant", 1.0 - quiet_chance
        reason = (f"no sale for {since} weeks ({_sold_in(record, i)})" if selling
                  else f"no sale in its {since} weeks in the data")
    elif observed and age < rules.intro_periods:
        stage, conf = "introduction", 1.0 - 0.5 * age / rules.intro_periods
        reason = f"launched {age:.1f} weeks ago, {_sold_in(record, i)}"
    elif z > rules.trend_z:
        stage, conf = "growth", float(norm.cdf(z - rules.trend_z))
        reason = f"orders rising {np.expm1(slope):+.0%} a week over the last {rules.trend_window} weeks (z = {z:.1f})"
    elif z < -rules.trend_z or fading:
        stage = "decline"
        conf_trend = float(norm.cdf(-z - rules.trend_z)) if z < -rules.trend_z else 0.0
        conf = max(conf_trend, 1.0 - quiet_chance if fading else 0.0)
        reason = (f"orders falling {np.expm1(slope):+.0%} a week (z = {z:.1f})" if z < -rules.trend_z
                  else f"no sale for {since} weeks ({_sold_in(record, i)})")
    elif min(n, rules.trend_window) < MIN_PERIODS:  # no trend could be tested: a guess, not evidence
        stage, conf = "maturity", 0.5
        reason = f"too little history to see a trend ({n} week{'s' if n != 1 else ''})"
    elif selling < 2:  # one selling week: no trend to test, and no rate of its own to call it fading by
        stage, conf = "maturity", 0.5
        reason = f"too few sales to see a trend ({_sold_in(record, i)})"
    elif not lines[-rules.trend_window:].any():  # a slow mover between sales: no order to test a trend on
        stage, conf = "maturity", 0.5
        reason = f"no sale for {since} weeks, not unusual yet: {_sold_in(record, i)}"
    else:
        stage, conf = "maturity", float(norm.cdf(rules.trend_z - abs(z)))
        reason = f"selling without a clear trend (z = {z:.1f}), at {share:.0%} of its peak"

    fit = fit_bass(lines) if (fit_curves and observed) else None
    phase = None
    if fit is not None:
        phase = fit.phase(float(n))
        if fit.fits:
            r2 = min(max(fit.r2, 0.0), 1.0)
            conf = conf + 0.5 * (1 - conf) * r2 if phase in _AGREES[stage] else conf * (1 - 0.5 * r2)
    first_open = open_periods[0] if open_periods else panel.next_period
    return {
        "item_id": item, "stage": stage, "confidence": round(float(min(max(conf, 0.0), 1.0)), 4), "reason": reason,
        "age_weeks": round(age, 2), "launched": panel.launched[item], "launch_observed": observed,
        "weeks_since_sale": since, "history_weeks": int(record.history_weeks[i]), "selling_weeks": selling,
        "selling_share": round(float(record.share[i]), 4),
        "trend_pct_per_week": round(float(np.expm1(slope)), 4), "trend_z": round(z, 3),
        "share_of_peak": round(share, 4), "peak_week": peak_week,
        "units_last_8w": float(net[-8:].sum()), "units_prev_8w": float(net[-16:-8].sum()),
        "bass_p": round(fit.p, 5) if fit else None, "bass_q": round(fit.q, 4) if fit else None,
        "bass_m": round(fit.m, 1) if fit else None,
        "bass_peak_week": (first_open + timedelta(weeks=fit.peak_period)) if fit else None,
        "bass_r2": round(fit.r2, 4) if fit else None, "bass_phase": phase,
    }
