"""Two policies on the same simulated traffic, and their differences with confidence intervals.

Both runs use one seed, so they see the same visitors on the same days (common random numbers). Rate
metrics (CTR, conversion, shares) are ratios of daily sums; their difference B - A and relative change
B / A - 1 get a paired bootstrap interval that resamples *days* (the same days for both arms), which
keeps the day-to-day correlation of traffic. New-item sales are compared per new item (the same items
launch in both runs), resampling items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..policy import PolicyParams
from .engine import SimResult, Simulator, definitions

RATIOS: dict[str, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "conversion": ("purchases", "impressions"),
    "revenue_per_session": ("revenue", "sessions"),
    "new_item_exposure_share": ("new_impressions", "impressions"),
    "tail_share": ("tail_impressions", "impressions"),
}


@dataclass
class Comparison:
    a: SimResult
    b: SimResult
    differences: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return {"a": {"policy": self.a.policy, "params": self.a.params, "metrics": self.a.metrics},
                "b": {"policy": self.b.policy, "params": self.b.params, "metrics": self.b.metrics},
                "differences": self.differences, "definitions": definitions(self.a.new_days)}


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    lo, hi = np.percentile(values[np.isfinite(values)], [2.5, 97.5])
    return float(lo), float(hi)


def paired_day_bootstrap(a: dict[str, np.ndarray], b: dict[str, np.ndarray], num: str, den: str,
                         resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """B - A and B / A - 1 of sum(num) / sum(den), with 95% intervals resampling days in pairs."""
    n = len(a[num])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n, (resamples, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        ra = a[num][pick].sum(axis=1) / a[den][pick].sum(axis=1)
        rb = b[num][pick].sum(axis=1) / b[den][pick].sum(axis=1)
        va, vb = a[num].sum() / a[den].sum(), b[num].sum() / b[den].sum()
        diff_lo, diff_hi = _interval(rb - ra)
        rel_lo, rel_hi = _interval(rb / ra - 1.0)
        rel = vb / va - 1.0
    return {"a": float(va), "b": float(vb), "diff": float(vb - va), "diff_low": diff_lo, "diff_high": diff_hi,
            "relative": float(rel), "relative_low": rel_lo, "relative_high": rel_hi}


def paired_item_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Total of per-item values: B - A and B / A, 95% intervals resampling items in pairs."""
    n = len(a)
    if n == 0:
        return {"a": 0.0, "b": 0.0, "diff": 0.0, "ratio": float("nan")}
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n, (resamples, n))
    sa, sb = a[pick].sum(axis=1), b[pick].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = sb / sa
        lo, hi = _interval(sb - sa)
        rlo, rhi = _interval(np.where(np.isfinite(ratio), ratio, np.nan))
        # no sale in either run: no ratio (0 / 0), not an infinite one
        r = b.sum() / a.sum() if a.sum() > 0 else (float("inf") if b.sum() > 0 else float("nan"))
    return {"a": float(a.sum()), "b": float(b.sum()), "diff": float(b.sum() - a.sum()), "diff_low": lo,
            "diff_high": hi, "ratio": float(r), "ratio_low": rlo, "ratio_high": rhi}


def compare_results(a: SimResult, b: SimResult, resamples: int = 2000, seed: int = 0) -> Comparison:
    da, db = a.days.arrays(), b.days.arrays()
    diffs = {m: paired_day_bootstrap(da, db, num, den, resamples, seed) for m, (num, den) in RATIOS.items()}
    merged = a.new_items.merge(b.new_items, on="item_id", suffixes=("_a", "_b"))
    diffs["new_item_sales_first_window"] = paired_item_bootstrap(
        merged["sales_first_window_a"].to_numpy(float), merged["sales_first_window_b"].to_numpy(float), resamples, seed)
    diffs["days_to_first_sale"] = {"a": a.metrics["days_to_first_sale"], "b": b.metrics["days_to_first_sale"],
                                   "diff": b.metrics["days_to_first_sale"] - a.metrics["days_to_first_sale"]}
    diffs["revenue"] = {"a": a.metrics["revenue"], "b": b.metrics["revenue"],
                        "diff": b.metrics["revenue"] - a.metrics["revenue"]}
    return Comparison(a, b, diffs)


def compare_policies(sim: Simulator, a: PolicyParams, b: PolicyParams, name_a: str = "A", name_b: str = "B",
                     keep_log: bool = False) -> Comparison:
    """Run ``a`` and ``b`` on the same traffic and compare them."""
    ra = sim.run(a, name_a, keep_log=keep_log)
    rb = sim.run(b, name_b, keep_log=keep_log)
    return compare_results(ra, rb, seed=sim.config.seed)
