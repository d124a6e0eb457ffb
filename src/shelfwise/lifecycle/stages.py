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
    selling_share, trend_pct_per_week, trend_z, share_of_peak, peak_week, units_last_8w,
    units_prev_8w, bass_p, bass_q, bass_m, bass_peak_week, bass_r2, bass_phase.
    """
    rules = rules or StageRules()
    if panel.freq != "W":
        raise ValueError("stages are defined on weekly series; build the panel with freq='W'")
    lines, valid = _tail_matrix(panel, "lines", rules.trend_window)
    slope, z = poisson_trend(lines, valid)
    typical = typical_selling_share(panel)
    rows = []
    for i, item in enumerate(panel.item_ids):
        rows.append(_one(panel, i, item, float(slope[i]), float(z[i]), rules, fit_curves, typical))
    df = pd.DataFrame(rows)
    if categories is not None:
        df.insert(1, "category", [categories.get(it) for it in df["item_id"]])
    log.info("stages as of %s: %s", panel.as_of,
             ", ".join(f"{s} {int((df['stage'] == s).sum())}" for s in STAGES))
    return df


def _selling_share(units: np.ndarray) -> tuple[int, float]:
    """Periods since the last sale (all of them if none) and the share of periods with a sale up to it."""
    sold = np.nonzero(units > 0)[0]
    since = len(units) - 1 - int(sold[-1]) if len(sold) else len(units)
    active = len(units) - since  # periods up to and including the last sale
    return since, (len(sold) / active if active > 0 else 0.0)


def typical_selling_share(panel: SalesPanel) -> float:
    """The median selling share of the items that sold (0.5 when none did): the weekly selling rate an
    item that never sold is judged by (how telling its silence is)."""
    shares = [s for s in (_selling_share(panel.history(i, what="units"))[1] for i in range(len(panel.item_ids)))
              if s > 0]
    return float(np.median(shares)) if shares else 0.5


def _one(panel: SalesPanel, i: int, item: str, slope: float, z: float, rules: StageRules,
         fit_curves: bool, typical_share: float = 0.5) -> dict[str, object]:
    units = panel.history(i, what="units")
    net = np.clip(panel.history(i, what="net"), 0, None)
    lines = panel.history(i, what="lines")
    n = len(units)
    sold = np.nonzero(units > 0)[0]
    since, sell_share = _selling_share(units)
    gap = 1.0 / sell_share if sell_share > 0 else float("inf")
    age = (panel.as_of - panel.launched[item]).days / 7.0
    observed = not bool(panel.left_censored[i])
    w = rules.peak_window
    roll = np.convolve(lines, np.ones(w) / w, mode="valid") if n >= w else np.array([lines.mean() if n else 0.0])
    peak_at = int(np.argmax(roll)) if len(roll) else 0
    share = float(roll[-1] / roll[peak_at]) if len(roll) and roll[peak_at] > 0 else 0.0
    # the peak window ends at history index peak_at + w - 1; map it back to a calendar week
    open_periods = [p for p, c in zip(panel.periods[panel.start[i]:], panel.closed[panel.start[i]:]) if not c]
    peak_week = open_periods[min(peak_at + w - 1, n - 1)] if n else None

    dormant_after = max(rules.dormant_periods, rules.dormant_gaps * gap)
    # chance that a quiet spell this long happens at the item's usual selling rate
    # (an item that never sold is judged by the shop's typical rate)
    quiet_chance = (1.0 - (sell_share if len(sold) else typical_share)) ** since
    fading = bool(len(sold)) and since >= rules.fading_periods and quiet_chance <= rules.fading_alpha
    # never sold (a catalog item past its introduction, or only returns) for 4 weeks or more: not selling
    never_sold = len(sold) == 0 and since >= rules.fading_periods and not (observed and age < rules.intro_periods)
    if never_sold or (len(sold) and since >= dormant_after):
        stage, conf = "dormant", 1.0 - quiet_chance
        reason = (f"no sale for {since} weeks (usually sells in {sell_share:.0%} of weeks)" if len(sold)
                  else f"no sale in its {since} weeks in the data")
    elif observed and age < rules.intro_periods:
        stage, conf = "introduction", 1.0 - 0.5 * age / rules.intro_periods
        reason = f"launched {age:.1f} weeks ago"
    elif z > rules.trend_z:
        stage, conf = "growth", float(norm.cdf(z - rules.trend_z))
        reason = f"orders rising {np.expm1(slope):+.0%} a week over the last {rules.trend_window} weeks (z = {z:.1f})"
    elif z < -rules.trend_z or fading:
        stage = "decline"
        conf_trend = float(norm.cdf(-z - rules.trend_z)) if z < -rules.trend_z else 0.0
        conf = max(conf_trend, 1.0 - quiet_chance if fading else 0.0)
        reason = (f"orders falling {np.expm1(slope):+.0%} a week (z = {z:.1f})" if z < -rules.trend_z
                  else f"no sale for {since} weeks after selling in {sell_share:.0%} of weeks")
    elif min(n, rules.trend_window) < MIN_PERIODS:  # no trend could be tested: a guess, not evidence
        stage, conf = "maturity", 0.5
        reason = f"too little history to see a trend ({n} weeks)"
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
        "weeks_since_sale": int(since), "selling_share": round(sell_share, 4),
        "trend_pct_per_week": round(float(np.expm1(slope)), 4), "trend_z": round(z, 3),
        "share_of_peak": round(share, 4), "peak_week": peak_week,
        "units_last_8w": float(net[-8:].sum()), "units_prev_8w": float(net[-16:-8].sum()),
        "bass_p": round(fit.p, 5) if fit else None, "bass_q": round(fit.q, 4) if fit else None,
        "bass_m": round(fit.m, 1) if fit else None,
        "bass_peak_week": (first_open + timedelta(weeks=fit.peak_period)) if fit else None,
        "bass_r2": round(fit.r2, 4) if fit else None, "bass_phase": phase,
    }
