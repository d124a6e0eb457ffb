"""The warm ranker's safety net: a plain score served instead when the ranker cannot be trusted.

On a small shop the ranker learns from a few dozen queries. On Amazon Gift Cards (20 training queries,
4 held out) early stopping kept one tree, the candidates got a few nearly equal probabilities, and the
lists came out in an arbitrary order: NDCG@10 0.066 against 0.139 for plain popularity. The new-item
model has the same kind of net (:mod:`.cold`). The plain scores are popularity and buy-again (the user's
purchases of the item, then popularity); a generator's rank is no candidate, because it is a rank among
the items allowed: with ``--items`` every listed item would come first for someone and look certain.
Neither is fitted to the labels, so their NDCG@10 over all training queries is a fair estimate, and
the best of them is the fallback. It is served only when it surely beats the ranker: the one-sided 95 %
bootstrap lower bound of its per-query NDCG@10 gain over the ranker is above zero. The check runs on the
held-out queries; early stopping picked the ranker's rounds on them, so it leans towards the ranker:
where the ranker learns anything (Online Retail: 600 held-out queries, NDCG@10 0.45 against 0.39 for
buy-again) it stays. With fewer than ``MIN_VALID_QUERIES`` held out (Gift Cards: 4, both 0) it runs on
every query instead, the ranker scored out of fold (five folds, its own number of rounds): on Gift Cards
one tree, 0.049 against 0.138 for popularity, which is served; on Taobao (74 queries) 78 trees, above
buy-again (0.149); on the tests' tiny shop 0.934 against 0.890 for buy-again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..logs import get_logger

log = get_logger(__name__)

#: the plain scores the ranker is checked against
FALLBACKS = ("popularity", "buy_again")
#: with fewer held-out queries than this the ranker is checked out of fold on all queries
MIN_VALID_QUERIES = 30
FOLDS = 5


def fallback_score(x: np.ndarray, names: list[str], which: str) -> np.ndarray:
    """``popularity``: the item's buyers; ``buy_again``: how often the user bought it, the item's buyers
    as a small tie-break.

    Every score is kept within [0, 2): Platt scaling of raw purchase counts saturated to equal
    probabilities of 1.0 for a shop's regular buyers, which lost their order.
    """
    buyers = np.nan_to_num(x[:, names.index("i_buyers")].astype(np.float64))
    pop = buyers / (1.0 + buyers)  # log1p(buyers) squeezed into [0, 1)
    if which == "popularity":
        return pop
    if which == "buy_again":
        bought = np.nan_to_num(x[:, names.index("ui_purchases")].astype(np.float64))
        return bought / (1.0 + bought) + 0.01 * pop
    raise ValueError(f"unknown fallback score {which!r}")


#: weight of the buy-again score added to the ranker's raw score: it only orders candidates the ranker ties
TIE_BREAK = 1e-6


def with_tie_break(raw: np.ndarray, x: np.ndarray, names: list[str]) -> np.ndarray:
    """The ranker's raw scores with its ties broken by buy-again, then popularity.

    A ranker of a few trees (a small shop) gives whole groups of candidates one score; their order was
    then arbitrary (a 96-user shop: every list of 20 at one probability). Raw scores of a ranker that
    learned are spread far wider than ``TIE_BREAK``, so its order does not change.
    """
    return raw + TIE_BREAK * fallback_score(x, names, "buy_again")


def out_of_fold(params: dict[str, Any], x: np.ndarray, y: np.ndarray, group: np.ndarray, names: list[str],
                rounds: int, seed: int) -> np.ndarray:
    """The ranker's raw scores for every row, each query scored by a ranker trained without it."""
    import lightgbm as lgb

    fold = np.random.default_rng(seed).integers(0, FOLDS, len(group))
    rows = np.repeat(fold, group)
    out = np.zeros(len(y))
    for f in range(FOLDS):
        test, train = rows == f, rows != f
        if not test.any() or not train.any():
            continue
        ds = lgb.Dataset(x[train], y[train], group=group[fold != f], feature_name=names)
        out[test] = lgb.train(params, ds, num_boost_round=rounds).predict(x[test])
    return out


def choose_fallback(ranker: np.ndarray, checked: np.ndarray, x: np.ndarray, y: np.ndarray, group: np.ndarray,
                    names: list[str], seed: int = 42) -> tuple[str | None, dict[str, Any]]:
    """The fallback to serve (None: the ranker) and what the choice rests on, for the train report.

    ``ranker``: the ranker's raw scores of the rows of the ``checked`` queries (a mask over queries).
    """
    from .cold import _lower_bound, group_ndcg

    overall = {f: float(group_ndcg(fallback_score(x, names, f), y, group).mean()) for f in FALLBACKS}
    best = max(overall, key=lambda f: overall[f])
    rows = np.repeat(checked, group)
    ours = group_ndcg(ranker, y[rows], group[checked])
    plain = group_ndcg(fallback_score(x[rows], names, best), y[rows], group[checked])
    low = _lower_bound(plain - ours, seed)
    serve = best if low > 0 else None
    ours, single = float(ours.mean()), float(plain.mean())
    report = {"fallback_ndcg@10_all_queries": overall, "checked_queries": int(checked.sum()),
              "checked_ndcg@10_ranker": ours, "checked_ndcg@10_fallback": single,
              "fallback_gain_lower_bound": low, "serves": serve or "ranker"}
    if serve is not None:
        log.warning("ranker: NDCG@10 %.4f on %d checked queries, surely below the plain %s score (%.4f); "
                    "serving %s", ours, int(checked.sum()), best, single, best)
    return serve, report
