"""Where the ranker's label window starts: the last ``label_days`` of the data, fitted to the shop.

The ranker learns from the purchases of the label window with features from before it. A fixed 28 days
breaks on shops that do not look like Online Retail: on a 9-day log (Taobao) nearly nothing lies before
the window, so no user has a history and training stopped with an error; on a small shop (Amazon Gift
Cards, a few thousand reviews over years) 28 days held under 20 buyers, again an error, or barely 20
queries to learn from. So the window never holds more than the last half of the events (the demo's own
rule for short shops), and on a shop with too few buyers to train on it is widened, a ``label_days`` step
at a time and never past that half, until it holds ``MIN_LABEL_BUYERS``. Shops with enough buyers in the
last ``label_days`` of at most half their events (Online Retail: 13 % of them) keep that window.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ..logs import get_logger

log = get_logger(__name__)

#: the label window never holds more than this share of the events (the features need a past)
MAX_LABEL_SHARE = 0.5
#: buyers with an earlier event the ranker needs (fewer stop training); the window is widened to hold them
MIN_LABEL_BUYERS = 20


def label_buyers(events: pd.DataFrame, cut: pd.Timestamp) -> int:
    """Known users who bought at or after ``cut`` (any interest event when the window has no purchase)
    and had an event before it: the ranker's possible training queries."""
    known = events[events["user_idx"].to_numpy() >= 0]
    ts = known["timestamp"]
    later = known[ts >= cut]
    bought = later[later["event"] == "purchase"]
    if bought.empty:
        bought = later[later["event"].isin(["cart", "favorite", "click", "view"])]
    before = known.loc[ts < cut, "user_idx"].unique()
    return int(np.isin(bought["user_idx"].unique(), before).sum())


def label_cut(events: pd.DataFrame, now: datetime, label_days: float,
              min_buyers: int = MIN_LABEL_BUYERS) -> datetime:
    """The start of the label window for ``events`` (columns ``timestamp``, ``user_idx``, ``event``)."""
    now_ts = pd.Timestamp(now)
    step = pd.Timedelta(days=label_days)
    cut = now_ts - step
    if events.empty:
        return cut.to_pydatetime()
    floor = pd.Timestamp(events["timestamp"].quantile(1.0 - MAX_LABEL_SHARE))
    if cut < floor:
        log.info("label window: the last %s days hold over %.0f%% of the events; using the window from %s",
                 label_days, 100 * MAX_LABEL_SHARE, floor)
        return floor.to_pydatetime()
    start = cut
    while cut > floor and label_buyers(events, cut) < min_buyers:
        cut = max(cut - step, floor)
    if cut != start:
        log.info("label window widened from %s to %.1f days to hold more buyers (%d)", label_days,
                 (now_ts - cut) / pd.Timedelta(days=1), label_buyers(events, cut))
    return cut.to_pydatetime()
