"""The content prior of a new item's click rate: what the most similar established items did.

A new item has no feedback of its own, so Thompson sampling starts it from a Beta prior whose mean is
the similarity-weighted rate of its nearest established neighbours (by content vector; by category
when there are no vectors) and whose strength is ``strength`` pseudo-impressions: strong enough that a
launch that looks like past hits is shown early, weak enough that a few days of real feedback
overrule it.

The rate of an established item is its smoothed clicks (or purchases, where the shop logs no clicks)
per impression. Shops that log no impressions at all (Online Retail) have no rate; there the prior
mean is the neighbours' popularity percentile times ``fallback_rate``, so "similar items sold well"
still lifts a launch.
"""

from __future__ import annotations

import numpy as np

from .lists import ItemContext


def success_counts(ctx: ItemContext) -> np.ndarray:
    """Clicks when the shop logs clicks, else purchases: the reward Thompson sampling learns."""
    return ctx.clicks if float(np.sum(ctx.clicks)) > 0 else ctx.purchases


def item_rates(ctx: ItemContext, fallback_rate: float = 0.05, smoothing: float = 10.0) -> tuple[np.ndarray, float]:
    """Per-item smoothed success rate and the global rate (see the module docstring)."""
    succ = success_counts(ctx)
    imp = np.asarray(ctx.impressions, dtype=np.float64)
    if imp.sum() > 0:
        g = float(np.clip(succ.sum() / imp.sum(), 1e-4, 0.999))
        return (succ + smoothing * g) / (np.maximum(imp, succ) + smoothing), g
    inter = np.asarray(ctx.interactions, dtype=np.float64)
    pct = inter.argsort(kind="stable").argsort(kind="stable") / max(len(inter) - 1, 1)
    return 2.0 * fallback_rate * pct, fallback_rate


def content_prior(ctx: ItemContext, items: np.ndarray, established: np.ndarray, strength: float = 20.0,
                  neighbours: int = 10, fallback_rate: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Beta prior (alpha, beta) for each catalog index in ``items`` from ``established`` items' rates."""
    items = np.asarray(items, dtype=np.int64)
    rates, g = item_rates(ctx, fallback_rate)
    est = np.flatnonzero(established)
    mean = np.full(len(items), g)
    if len(items) and len(est):
        if ctx.vectors is not None:
            sim = ctx.vectors[items] @ ctx.vectors[est].T
        else:
            sim = (ctx.category[items][:, None] == ctx.category[est][None, :]) & (ctx.category[items][:, None] >= 0)
            sim = sim.astype(np.float64)
        m = min(neighbours, len(est))
        top = np.argpartition(-sim, m - 1, axis=1)[:, :m]
        w = np.maximum(np.take_along_axis(sim, top, axis=1), 0.0)
        r = rates[est][top]
        has = w.sum(axis=1) > 0
        mean[has] = (w[has] * r[has]).sum(axis=1) / w[has].sum(axis=1)
    mean = np.clip(mean, 1e-4, 0.999)
    return strength * mean, strength * (1.0 - mean)
