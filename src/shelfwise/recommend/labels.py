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


#: events that stand in for purchases as labels on a shop whose window logs no purchase at all
INTEREST_LABELS = ("cart", "favorite", "click", "view")


def label_events(events: pd.DataFrame, cut: datetime | pd.Timestamp) -> pd.DataFrame:
    """The label events: known users' purchases at or after ``cut``, or their interest events when the
    window holds no purchase (a log of views and carts only)."""
    later = events[(events["timestamp"] >= pd.Timestamp(cut)) & (events["user_idx"] >= 0)]
    bought = later["event"] == "purchase"
    return later[bought] if bought.any() else later[later["event"].isin(INTEREST_LABELS)]


def label_buyers(events: pd.DataFrame, cut: pd.Timestamp) -> int:
    """Users with a label event at or after ``cut`` and an event before it: the ranker's possible
    training queries."""
    earlier = events[(events["timestamp"] < cut) & (events["user_idx"] >= 0)]
    return int(np.isin(label_events(events, cut)["user_idx"].unique(), earlier["user_idx"].unique()).sum())


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
    start, buyers = cut, label_buyers(events, cut)
    while cut > floor and buyers < min_buyers:
        cut = max(cut - step, floor)
        buyers = label_buyers(events, cut)
    if cut != start:
        log.info("label window widened from %s to %.1f days to hold more buyers (%d)", label_days,
                 (now_ts - cut) / pd.Timedelta(days=1), buyers)
    return cut.to_pydatetime()
