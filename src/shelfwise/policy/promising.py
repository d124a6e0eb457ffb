"""Promising tail items: long-tail items that convert well when seen, or that reviewers love.

A tail item has few interactions by definition, so raw rates are noise. Conversion per view is
shrunk towards the shop's overall rate with a Beta prior of ``prior_views`` pseudo-views (empirical
Bayes), and ratings towards the shop's mean with ``prior_reviews`` pseudo-reviews; an item is
promising when its shrunk conversion beats the median head item's, or its shrunk rating is in the top
``rating_quantile`` of the catalog with at least ``min_reviews`` reviews.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lists import ItemContext


def promising_tail(ctx: ItemContext, views: np.ndarray, purchases: np.ndarray, ratings: pd.DataFrame | None = None,
                   prior_views: float = 20.0, prior_reviews: float = 5.0, min_reviews: int = 2,
                   rating_quantile: float = 0.8) -> pd.DataFrame:
    """Rows ``item_id, views, purchases, conversion, rating, reviews, reason`` for promising tail items.

    ``views`` / ``purchases`` are per catalog row; ``ratings`` has ``item_id, rating`` (one row per review).
    """
    tail = ctx.tail()
    views = np.asarray(views, dtype=np.float64)
    purchases = np.asarray(purchases, dtype=np.float64)
    g = purchases.sum() / max(views.sum(), 1.0)
    conv = (purchases + prior_views * g) / (np.maximum(views, purchases) + prior_views)
    head_median = float(np.median(conv[~tail])) if (~tail).any() else g
    rating = np.full(ctx.n_items, np.nan)
    n_rev = np.zeros(ctx.n_items)
    if ratings is not None and len(ratings):
        r = ratings.assign(j=ctx.indices(ratings["item_id"].astype(str).to_numpy()))
        r = r[r["j"] >= 0]
        agg = r.groupby("j")["rating"].agg(["sum", "count"])
        mean = float(r["rating"].mean())
        j = agg.index.to_numpy()
        n_rev[j] = agg["count"].to_numpy()
        rating[j] = (agg["sum"].to_numpy() + prior_reviews * mean) / (agg["count"].to_numpy() + prior_reviews)
    rated = np.isfinite(rating) & (n_rev >= min_reviews)
    cut = float(np.quantile(rating[rated], rating_quantile)) if rated.any() else np.inf
    by_conv = tail & (views > 0) & (conv > head_median)
    by_rating = tail & rated & (rating >= cut)
    keep = np.flatnonzero(by_conv | by_rating)
    reason = np.where(by_conv[keep] & by_rating[keep], "conversion and reviews",
                      np.where(by_conv[keep], "conversion per view", "reviews"))
    out = pd.DataFrame({"item_id": ctx.item_ids[keep], "views": views[keep], "purchases": purchases[keep],
                        "conversion": conv[keep].round(4), "rating": np.round(rating[keep], 2),
                        "reviews": n_rev[keep], "reason": reason})
    return out.sort_values(["conversion", "rating"], ascending=False, na_position="last").reset_index(drop=True)
