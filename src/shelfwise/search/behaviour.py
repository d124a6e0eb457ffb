"""What the shop's shoppers did with each item, as a prior for search: popularity and conversion.

Why a prior at all: two items that match a query equally well are not equally likely to be the one
the shopper wants; the one that sells is. Popularity is the log of weighted positive events (purchase
1, cart 0.5, favourite 0.3, click 0.1, view 0.05), scaled to [0, 1] by the catalog's maximum;
conversion is purchases over views and clicks with a Beta prior at the shop's overall rate, so an
item seen twice and bought once is not ranked as a certain seller. Only events strictly before
``before`` count, so a backtest never sees the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from ..data.store import Store

EVENT_WEIGHTS = {"purchase": 1.0, "cart": 0.5, "favorite": 0.3, "click": 0.1, "view": 0.05}
PRIOR_STRENGTH = 20.0  # pseudo-views of the Beta prior on conversion


@dataclass
class Behaviour:
    """Per-item popularity and conversion in [0, 1], aligned to ``item_ids``."""

    item_ids: list[str]
    popularity: np.ndarray
    conversion: np.ndarray
    has_views: bool

    @classmethod
    def empty(cls, item_ids: list[str]) -> "Behaviour":
        z = np.zeros(len(item_ids), dtype=np.float32)
        return cls(item_ids, z, z.copy(), False)


def item_behaviour(store: Store, item_ids: list[str], before: datetime | None = None) -> Behaviour:
    """Aggregate the events table into per-item popularity and smoothed conversion.

    The sums are cast to DOUBLE in SQL: a DECIMAL sum arrives as Python ``Decimal`` objects, and filling
    the catalog items without events then raised pandas' object-downcast FutureWarning on every search."""
    if not store.has_table("events"):
        return Behaviour.empty(item_ids)
    where = "WHERE timestamp < ?" if before is not None else ""
    params = [before] if before is not None else None
    weights = " ".join(f"WHEN '{e}' THEN {w}" for e, w in EVENT_WEIGHTS.items())
    df = store.query(f"""
        SELECT item_id,
               CAST(sum(CASE event {weights} ELSE 0 END) AS DOUBLE) AS weight,
               CAST(count(*) FILTER (WHERE event = 'purchase') AS DOUBLE) AS purchases,
               CAST(count(*) FILTER (WHERE event IN ('view', 'click')) AS DOUBLE) AS looks
        FROM events {where} GROUP BY item_id""", params).to_pandas()
    df = pd.DataFrame({"item_id": item_ids}).merge(df, on="item_id", how="left").fillna(0.0)
    weight = np.log1p(df["weight"].to_numpy(dtype=np.float64))
    pop = weight / weight.max() if weight.max() > 0 else weight
    looks = df["looks"].to_numpy(dtype=np.float64)
    buys = df["purchases"].to_numpy(dtype=np.float64)
    has_views = bool(looks.sum() > 0)
    if has_views:
        base = min(max(buys.sum() / max(looks.sum(), 1.0), 1e-4), 1.0)
        conv = (np.minimum(buys, looks) + PRIOR_STRENGTH * base) / (looks + PRIOR_STRENGTH)
        conv = conv / conv.max() if conv.max() > 0 else conv
    else:
        conv = np.zeros(len(item_ids))
    return Behaviour(item_ids, pop.astype(np.float32), conv.astype(np.float32), has_views)
