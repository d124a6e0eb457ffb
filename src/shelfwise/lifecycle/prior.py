"""The launch-plan prior: forecast an item with little history from the early curves of similar items.

A new item has too few weeks for any time-series model, but the shop has launched similar items before.
Their sales, aligned at their own launch (week 0, 1, 2, ...), say what the new item's next weeks may
look like: the median across neighbours is the point forecast, their spread the interval. Once the new
item has sold for a few weeks, the neighbours lend their shape (how sales grew after the same start)
and the item its own level, since similar items differ far more in size than in shape.

Neighbours come from the caller (a launch plan names them) or, by default, from the same category with
the closest price; only items whose launch is in the data (their early curve was observed) qualify.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..logs import get_logger
from .series import SalesPanel

log = get_logger(__name__)


@dataclass
class PriorForecast:
    """Per-period point (median), mean, low and high forecasts of one item from its neighbours.

    ``scale`` is the level the neighbours' shape was applied to (1 for an item with no sales yet)."""

    point: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    neighbours: list[str]
    scale: float


def launch_curves(panel: SalesPanel) -> dict[str, np.ndarray]:
    """Each item's net units by period since its observed launch (open periods only, clipped at 0)."""
    return {it: np.clip(panel.history(i), 0, None) for i, it in enumerate(panel.item_ids)
            if not panel.left_censored[i]}


def default_neighbours(targets: Sequence[str], candidates: Sequence[str], category: Mapping[str, str | None],
                       price: Mapping[str, float | None], k: int = 30) -> dict[str, list[str]]:
    """For each target, up to ``k`` candidates in its category with the closest price (log scale).

    Items without a category are compared with the other items without one; a target or candidate
    without a price ranks after those with one (closest by category alone).
    """
    by_cat: dict[str | None, list[str]] = {}
    for c in candidates:
        by_cat.setdefault(category.get(c), []).append(c)
    out: dict[str, list[str]] = {}
    for t in targets:
        pool = [c for c in by_cat.get(category.get(t), []) if c != t]
        if not pool:
            out[t] = []
            continue
        pt = price.get(t)
        lp = np.log(pt) if pt and pt > 0 else None

        def dist(c: str) -> float:
            pc = price.get(c)
            if lp is None or not pc or pc <= 0:
                return float("inf")
            return abs(float(np.log(pc)) - lp)

        out[t] = sorted(pool, key=lambda c: (dist(c), c))[:k]
    return out


def prior_forecast(own: np.ndarray, neighbour_curves: Sequence[np.ndarray], horizon: int, level: float = 80.0,
                   neighbour_ids: Sequence[str] = ()) -> PriorForecast | None:
    """Forecast ``horizon`` periods after the item's ``len(own)`` observed periods since launch.

    With no own sales yet, the neighbours' sales at ages 0 .. horizon - 1 are the forecast (median as
    the point, their spread as the interval). With ``a`` own periods, each neighbour's curve is turned
    into growth multiples ``c[a + h] / mean(c[:a])`` (its shape after the same start) and the item's own
    average week is carried along their median; neighbours that sold nothing early give no shape.
    Needs 3 neighbours whose curves cover the ages asked for, else None.
    """
    age = len(own)
    usable = [(nid, c) for nid, c in zip(list(neighbour_ids) or [""] * len(neighbour_curves), neighbour_curves)
              if len(c) >= age + horizon and (age == 0 or c[:age].sum() > 0)]
    if len(usable) < 3:
        return None
    a = (100.0 - level) / 200.0
    if age == 0:
        mat = np.stack([c[:horizon] for _, c in usable])
        base = 1.0
    else:
        mat = np.stack([c[age:age + horizon] / c[:age].mean() for _, c in usable])
        base = float(np.mean(own))
    shape = np.median(mat, axis=0)
    return PriorForecast(point=base * shape, mean=base * shape,
                         lo=base * np.quantile(mat, a, axis=0, method="lower"),
                         hi=base * np.quantile(mat, 1 - a, axis=0, method="higher"),
                         neighbours=[nid for nid, _ in usable], scale=base)


def prior_for_items(panel: SalesPanel, targets: Sequence[str], horizon: int, neighbours: Mapping[str, Sequence[str]],
                    level: float = 80.0) -> dict[str, PriorForecast]:
    """Prior forecasts for ``targets`` (items of ``panel``) from the given neighbour mapping."""
    curves = launch_curves(panel)
    idx = panel.index()
    out: dict[str, PriorForecast] = {}
    for t in targets:
        ids = [n for n in neighbours.get(t, []) if n in curves and n != t]
        own = np.clip(panel.history(idx[t]), 0, None) if t in idx else np.zeros(0)
        pf = prior_forecast(own, [curves[n] for n in ids], horizon, level, neighbour_ids=ids)
        if pf is not None:
            out[t] = pf
    log.info("launch prior: %d of %d young items had 3 or more neighbours with long enough curves",
             len(out), len(targets))
    return out
