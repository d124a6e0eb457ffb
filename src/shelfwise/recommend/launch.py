"""The launch check: are the new-item model's probabilities right for items that are really new?

The new-item model (:mod:`.cold`) learns from simulated new items: items that sold before the cut and lost
their history. Items that are really new sell less (on the demo shop 2.5 times less per user and item;
never-sold Amazon Gift Cards without a launch date, not at all). So at the cut the items that were new then
are scored as serving would score them, the purchases this predicts are set against those made in the
label window, and the ratio, shrunk towards 1, becomes a factor per group (with a launch date / without).
The hybrid applies it where new items compete with established ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..config import get_settings
from ..logs import get_logger
from .data import Interactions
from .history import History

if TYPE_CHECKING:
    from .cold import ColdItems

log = get_logger(__name__)

#: the launch check's prior: a Gamma(a, a) on the factor, i.e. ``a`` pseudo-purchases that agree with the
#: model. Without evidence (no new items at the cut, or a few expected purchases) the factor stays near 1
LAUNCH_PRIOR = 1.0
#: users with a history at the cut whose scores of the then-new items the launch check computes, and the
#: most (user, item) pairs it scores (fewer users on a catalog with many new items; at least 100 users)
LAUNCH_CHECK_USERS = 2000
LAUNCH_CHECK_PAIRS = 2_000_000
#: the two groups of new items the launch check measures apart: a recent launch date, or none at all
LAUNCH_GROUPS = ("dated", "undated")


def item_has_text(items: pd.DataFrame) -> np.ndarray:
    """Items with a title or a description (a category or brand alone says too little)."""
    has_text = np.zeros(len(items), dtype=bool)
    for col in ("title", "description"):
        if col in items:
            v = items[col].astype("string").str.strip()
            has_text |= (v.notna() & (v != "")).to_numpy(dtype=bool)
    return has_text


def launch_dates(items: pd.DataFrame) -> np.ndarray:
    """Each item's ``launched_at`` as datetime64[s] (NaT where unknown)."""
    if "launched_at" not in items:
        return np.full(len(items), np.datetime64("NaT"), dtype="datetime64[s]")
    return pd.to_datetime(items["launched_at"], errors="coerce").to_numpy("datetime64[s]")


def new_item_mask(items: pd.DataFrame, now: Any, limit_days: float) -> np.ndarray:
    """Items that may take the new-item path of a whole-catalog list at ``now`` (a datetime or
    datetime64; whether or not they have events, the caller removes those that have): they have text,
    and their launch date is unknown or at most ``limit_days`` before ``now`` (not after it)."""
    launched = launch_dates(items)
    at = np.datetime64(pd.Timestamp(now).to_datetime64(), "s")
    age_days = (at - launched).astype("timedelta64[s]").astype(np.float64) / 86400.0
    known = ~np.isnat(launched)
    return item_has_text(items) & (~known | ((age_days >= 0) & (age_days <= limit_days)))


def launch_factor(observed: float, expected: float, prior: float = LAUNCH_PRIOR) -> float:
    """Posterior mean of ``observed / expected`` under a Gamma(``prior``, ``prior``) prior (mean 1):
    purchases are Poisson with mean factor x expected."""
    return float((observed + prior) / (expected + prior))


def launch_check(model: "ColdItems", data: Interactions) -> dict[str, dict[str, float]]:
    """How the trained model's probabilities for really new items compare with what those items sold.

    At the cut (the start of the label window) the items that were new then (:func:`new_item_mask`
    with the ``item_age_cutoff_days`` setting, no events before the cut) are scored for a uniform
    sample of up to ``LAUNCH_CHECK_USERS`` users with a history (fewer when that would be more than
    ``LAUNCH_CHECK_PAIRS`` pairs), exactly as serving would score them.
    Per group (with a launch date / without one) the expected purchases, scaled to every user with a
    history, are set against the purchases of those items by those users in the label window. The
    factor is :func:`launch_factor` of the two: 1 when the shop had no new items at the cut.
    """
    from .ranker import _label_matrix

    out = {g: {"items": 0, "users": 0, "expected": 0.0, "observed": 0.0, "factor": 1.0} for g in LAUNCH_GROUPS}
    cut = data.now - timedelta(days=model.label_days)
    past = data.restrict(cut)
    warm_before = np.zeros(data.n_items, dtype=bool)
    warm_before[past.events["item_idx"].to_numpy()] = True
    new = new_item_mask(data.items, cut, get_settings().item_age_cutoff_days) & ~warm_before
    items = np.flatnonzero(new)
    if len(items) == 0 or model.booster_ is None:
        return out
    dated = ~np.isnat(launch_dates(data.items))[items]
    history = History.from_interactions(past)
    has_history = np.diff(history.indptr[: history.n_known + 1]) > 0
    users = np.flatnonzero(has_history)
    if len(users) == 0:
        return out
    model._prepare(past, history)
    labels = _label_matrix(data, cut)[users][:, items]
    labels.data[:] = 1.0
    observed = np.asarray(labels.sum(axis=0)).ravel()
    rng = np.random.default_rng(model.seed + 7)
    n_sample = min(len(users), max(100, min(LAUNCH_CHECK_USERS, LAUNCH_CHECK_PAIRS // len(items))))
    sample = np.sort(rng.choice(users, n_sample, replace=False))
    expected = np.zeros(len(items))
    for lo in range(0, len(sample), 128):
        u = sample[lo:lo + 128]
        expected += model._predict(model._pair_features(history, u, data.user_ids[u], items)).sum(axis=0)
    expected *= len(users) / len(sample)
    for g, mask in zip(LAUNCH_GROUPS, (dated, ~dated)):
        if mask.any():
            e, o = float(expected[mask].sum()), float(observed[mask].sum())
            out[g] = {"items": int(mask.sum()), "users": int(len(users)), "scored_users": int(n_sample),
                      "expected": e, "observed": o, "factor": launch_factor(o, e)}
    log.info("new-item model, launch check at %s: %s", cut, out)
    return out
