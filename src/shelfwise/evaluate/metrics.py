"""Offline ranking metrics, vectorised over a (users x K) matrix of recommended item indices.

Every function here takes ``recs``: an int array of shape (n_users, K) holding catalog indices, best
first, with ``-1`` for empty slots (a model that found fewer than K items). ``relevant`` is a
(n_users x n_items) sparse matrix whose nonzero entries are the items each user bought in the test
window (binary relevance: bought or not, however many units; see :mod:`shelfwise.evaluate.split`).
Row ``u`` of ``recs`` and row ``u`` of ``relevant`` are the same user.

Definitions (``rel_u`` = the user's relevant set, ``hit_j`` = 1 when slot ``j`` (0-based) holds a
relevant item; an item repeated in a list counts only at its first slot):

- ``recall@K`` = hits / |rel_u|, the classic definition (Krichene & Rendle, "On Sampled Metrics for
  Item Recommendation", KDD 2020; RecBole and Microsoft Recommenders compute the same). It cannot
  reach 1 when |rel_u| > K; NDCG's ideal below takes care of that side.
- ``ndcg@K`` = DCG / IDCG with binary gains: DCG = sum_j hit_j / log2(j + 2), IDCG the same for a list
  whose first min(|rel_u|, K) slots all hit (Järvelin & Kekäläinen 2002; the form of RecBole).
- ``mrr@K`` = 1 / (rank of the first hit), 0 when nothing in the top K hits.
- ``hit_rate@K`` = 1 when at least one of the top K hits; ``precision@K`` = hits / K.

These are averaged over users that have at least one relevant item. Beyond accuracy:

- ``coverage``: share of the catalog (or of the allowed candidates) recommended to at least one user.
- ``gini``: Gini coefficient of exposure (slots received) over every catalog item (every allowed
  candidate when candidates were restricted), never-shown items included as zeros: 0 when every item is
  shown equally often, near 1 when a few items take everything.
- ``aplt``: average percentage of long-tail items (Abdollahpouri et al., RecSys 2019): the mean over
  users of the share of their list's filled slots that go to tail items. The head is the smallest set of
  most popular items that together make up ``head_share`` (80 %) of training interactions; every other
  item, including items without any, is the tail.
- ``novelty``: mean self-information of recommended items, -log2 p(i) with p(i) = (degree_i + 1) /
  (n_train_users + 1), degree = distinct training users who interacted with the item (Zhou et al.,
  PNAS 2010, with add-one smoothing so an item nobody touched has a finite, maximal value).
- ``cold_recall@K``: recall restricted to relevant items that had no training events, averaged over the
  users who bought at least one such item.

``tests/evaluate`` checks each against the slow per-user loops of :mod:`.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ACCURACY = ("ndcg", "recall", "mrr", "hit_rate", "precision")


def _as_recs(recs: np.ndarray) -> np.ndarray:
    recs = np.asarray(recs)
    if recs.ndim != 2:
        raise ValueError(f"recommendations must be a (users x K) matrix, got shape {recs.shape}")
    return recs.astype(np.int64, copy=False)


def first_occurrence(recs: np.ndarray) -> np.ndarray:
    """Boolean (users x K): True where a slot is filled and its item did not appear earlier in the row."""
    recs = _as_recs(recs)
    n, k = recs.shape
    if k == 0:
        return np.zeros((n, 0), dtype=bool)
    order = np.argsort(recs, axis=1, kind="stable")  # equal items keep their slot order
    srt = np.take_along_axis(recs, order, axis=1)
    repeat = np.zeros_like(srt, dtype=bool)
    repeat[:, 1:] = srt[:, 1:] == srt[:, :-1]
    first = np.empty_like(repeat)
    np.put_along_axis(first, order, ~repeat, axis=1)
    return first & (recs >= 0)


def hit_matrix(recs: np.ndarray, relevant: sp.spmatrix) -> np.ndarray:
    """Boolean (users x K): slot j of user u holds an item in u's relevant set (first occurrence only)."""
    recs = _as_recs(recs)
    rel = sp.csr_matrix(relevant)
    if rel.shape[0] != recs.shape[0]:
        raise ValueError(f"{recs.shape[0]} recommendation rows for {rel.shape[0]} relevance rows")
    first = first_occurrence(recs)
    rows = np.broadcast_to(np.arange(recs.shape[0])[:, None], recs.shape)[first]
    cols = recs[first]
    if len(cols) and cols.max() >= rel.shape[1]:
        raise ValueError(f"item index {cols.max()} outside the catalog of {rel.shape[1]} items")
    hits = np.zeros(recs.shape, dtype=bool)
    if len(cols):
        hits[first] = np.asarray(rel[rows, cols]).ravel() != 0
    return hits


def n_relevant(relevant: sp.spmatrix) -> np.ndarray:
    """Relevant items per user (distinct items with a nonzero entry)."""
    rel = sp.csr_matrix(relevant)
    rel.eliminate_zeros()
    return np.diff(rel.indptr)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Per-user NDCG@K with binary gains and the ideal over min(|rel|, K) slots (0 where |rel| = 0)."""
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits.astype(np.float64) @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_rel, k)]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def recall(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Per-user hits / |rel| (0 where |rel| = 0)."""
    h = hits.sum(axis=1).astype(np.float64)
    return np.divide(h, n_rel, out=np.zeros_like(h), where=n_rel > 0)


def precision(hits: np.ndarray) -> np.ndarray:
    """Per-user hits / K."""
    return hits.sum(axis=1) / max(hits.shape[1], 1)


def mrr(hits: np.ndarray) -> np.ndarray:
    """Per-user reciprocal rank of the first hit in the top K (0 when none)."""
    any_hit = hits.any(axis=1)
    first = np.argmax(hits, axis=1)
    return np.where(any_hit, 1.0 / (first + 1), 0.0)


def hit_rate(hits: np.ndarray) -> np.ndarray:
    """Per-user 1.0 when any of the top K is relevant."""
    return hits.any(axis=1).astype(np.float64)


def per_user_accuracy(recs: np.ndarray, relevant: sp.spmatrix) -> dict[str, np.ndarray]:
    """Every accuracy metric per user, for users with at least one relevant item (others are dropped)."""
    recs = _as_recs(recs)
    n_rel = n_relevant(relevant)
    hits = hit_matrix(recs, relevant)
    keep = n_rel > 0
    hits, n_rel = hits[keep], n_rel[keep]
    return {"ndcg": ndcg(hits, n_rel), "recall": recall(hits, n_rel), "mrr": mrr(hits),
            "hit_rate": hit_rate(hits), "precision": precision(hits)}


# --- beyond accuracy ------------------------------------------------------------------------------
def exposure(recs: np.ndarray, n_items: int) -> np.ndarray:
    """Slots each catalog item received over all lists (first occurrences only)."""
    recs = _as_recs(recs)
    return np.bincount(recs[first_occurrence(recs)], minlength=n_items)[:n_items]


def coverage(recs: np.ndarray, n_items: int, candidates: np.ndarray | None = None) -> float:
    """Share of the catalog (or of the ``candidates`` mask) recommended to at least one user."""
    shown = exposure(recs, n_items) > 0
    if candidates is not None:
        candidates = np.asarray(candidates, dtype=bool)
        total = int(candidates.sum())
        return float((shown & candidates).sum() / total) if total else float("nan")
    return float(shown.sum() / n_items) if n_items else float("nan")


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values``: sum_i (2i - n - 1) x_(i) / (n sum x), x ascending."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    total = x.sum()
    if n == 0 or total == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def tail_mask(popularity: np.ndarray, head_share: float = 0.8) -> np.ndarray:
    """True for long-tail items: outside the smallest set of top items holding ``head_share`` of interactions.

    Ties in popularity are broken by index, so the head is deterministic.
    """
    pop = np.asarray(popularity, dtype=np.float64)
    tail = np.ones(len(pop), dtype=bool)
    total = pop.sum()
    if total <= 0:
        return tail
    order = np.argsort(-pop, kind="stable")
    cum = np.cumsum(pop[order])
    n_head = int(np.searchsorted(cum, head_share * total - 1e-9 * total) + 1)
    tail[order[:n_head]] = False
    return tail


def aplt(recs: np.ndarray, tail: np.ndarray) -> float:
    """Mean over users (with a non-empty list) of the share of their filled slots that hold tail items."""
    recs = _as_recs(recs)
    filled = first_occurrence(recs)
    n_filled = filled.sum(axis=1)
    in_tail = np.zeros(recs.shape, dtype=bool)
    in_tail[filled] = np.asarray(tail, dtype=bool)[recs[filled]]
    users = n_filled > 0
    if not users.any():
        return float("nan")
    return float((in_tail.sum(axis=1)[users] / n_filled[users]).mean())


def self_information(degree: np.ndarray, n_users: int) -> np.ndarray:
    """-log2((degree + 1) / (n_users + 1)) per item: how surprising it is that a user knows the item."""
    return -np.log2((np.asarray(degree, dtype=np.float64) + 1.0) / (n_users + 1.0))


def novelty(recs: np.ndarray, degree: np.ndarray, n_users: int) -> float:
    """Mean self-information over users of their lists' mean (filled, first-occurrence slots)."""
    recs = _as_recs(recs)
    filled = first_occurrence(recs)
    info = np.zeros(recs.shape)
    info[filled] = self_information(degree, n_users)[recs[filled]]
    n_filled = filled.sum(axis=1)
    users = n_filled > 0
    if not users.any():
        return float("nan")
    return float((info.sum(axis=1)[users] / n_filled[users]).mean())


def cold_recall(recs: np.ndarray, relevant: sp.spmatrix, cold: np.ndarray) -> tuple[float, int]:
    """Recall over relevant items that are ``cold`` (no training events) and how many users it averages."""
    rel = sp.csr_matrix(relevant, copy=True)
    rel.eliminate_zeros()
    keep_cols = sp.diags(np.asarray(cold, dtype=np.float64))
    rel_cold = sp.csr_matrix(rel @ keep_cols)
    rel_cold.eliminate_zeros()
    n_rel = np.diff(rel_cold.indptr)
    users = n_rel > 0
    if not users.any():
        return float("nan"), 0
    hits = hit_matrix(recs, rel_cold)
    return float(recall(hits[users], n_rel[users]).mean()), int(users.sum())


@dataclass
class Catalog:
    """What the beyond-accuracy metrics need to know about the training data, per catalog item."""

    n_items: int
    degree: np.ndarray  # distinct training users per item
    interactions: np.ndarray  # training interactions per item (defines head and tail)
    n_train_users: int
    cold: np.ndarray  # bool: no training events at all
    candidates: np.ndarray | None = None  # bool: items that were allowed to be recommended (None: all)


def evaluate_lists(recs: np.ndarray, relevant: sp.spmatrix, catalog: Catalog, head_share: float = 0.8,
                   ) -> dict[str, float]:
    """Every metric for one set of lists: accuracy means over users with relevant items, then the rest.

    ``recs`` has K columns; the metric names carry that K (``ndcg@10`` ...).
    """
    recs = _as_recs(recs)
    k = recs.shape[1]
    per_user = per_user_accuracy(recs, relevant)
    n_users = len(per_user["ndcg"])
    out: dict[str, float] = {f"{m}@{k}": float(v.mean()) if n_users else float("nan")
                             for m, v in per_user.items()}
    out["users"] = n_users
    out["coverage"] = coverage(recs, catalog.n_items, catalog.candidates)
    out["gini"] = gini(exposure(recs, catalog.n_items) if catalog.candidates is None
                       else exposure(recs, catalog.n_items)[catalog.candidates])
    out["aplt"] = aplt(recs, tail_mask(catalog.interactions, head_share))
    out["novelty"] = novelty(recs, catalog.degree, catalog.n_train_users)
    cr, cold_users = cold_recall(recs, relevant, catalog.cold)
    out[f"cold_recall@{k}"] = cr
    out["cold_users"] = cold_users
    return out
