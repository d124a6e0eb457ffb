"""How well an item encoder ranks items that have no history: the cold-start protocol.

Events before ``cutoff`` are the past, the rest the future. A seeded share of the catalog (a fifth by
default) loses its past events, as if those items had just launched. For every user with a past
purchase and a future purchase of a cold item, only the cold items are ranked, by the cosine between
the user's profile (the mean vector of the items they bought in the past) and each cold item's text
vector; NDCG@k scores the ranking against the cold items the user did buy. Behaviour tuning may only
see the past events of warm items (``split.train_events``), so it learns nothing about the cold ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .encoder import item_text


@dataclass
class ColdStartSplit:
    train_events: pd.DataFrame  # past events of warm items only
    cold_ids: np.ndarray
    users: list[str]
    history: dict[str, list[str]]  # user -> past purchases (warm items)
    truth: dict[str, set[str]]  # user -> future purchases of cold items
    texts: dict[str, str]  # item -> text


def cold_start_split(items: pd.DataFrame, events: pd.DataFrame, cutoff: Any, share: float = 0.2,
                     seed: int = 42, kinds: tuple[str, ...] = ("purchase",)) -> ColdStartSplit:
    """The seeded split described in the module notes (items without text are never cold)."""
    texts = {str(r.item_id): item_text(r.title, r.description, r.category, r.brand)
             for r in items.itertuples(index=False)}
    texts = {k: v for k, v in texts.items() if v}
    ev = events[events["event"].isin(kinds) & events["user_id"].notna()].copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"])
    cutoff = pd.Timestamp(cutoff)
    catalog = np.sort(ev["item_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    cold = set(rng.choice(catalog, size=int(len(catalog) * share), replace=False)) & set(texts)
    past = ev[(ev["timestamp"] < cutoff) & ~ev["item_id"].isin(cold)]
    future = ev[(ev["timestamp"] >= cutoff) & ev["item_id"].isin(cold)]
    history = {u: [i for i in g if i in texts] for u, g in past.groupby("user_id")["item_id"]}
    truth = {u: set(g) for u, g in future.groupby("user_id")["item_id"]}
    users = sorted(u for u in set(history) & set(truth) if history[u])
    return ColdStartSplit(past, np.asarray(sorted(cold)), users, history, truth, texts)


def ndcg_at_k(split: ColdStartSplit, encode: Any, k: int = 10) -> float:
    """Mean NDCG@k over the split's users; ``encode(list[str]) -> unit vectors``."""
    ids = sorted(split.texts)
    pos = {i: n for n, i in enumerate(ids)}
    vecs = encode([split.texts[i] for i in ids])
    prof = np.stack([vecs[[pos[i] for i in split.history[u]]].mean(0) for u in split.users])
    prof /= np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-12)
    cand = vecs[[pos[i] for i in split.cold_ids]]
    top = np.argsort(-(prof @ cand.T), axis=1, kind="stable")[:, :k]
    return _mean_ndcg(top, split, k)


def random_ndcg_at_k(split: ColdStartSplit, k: int = 10, seed: int = 42, repeats: int = 5) -> float:
    """NDCG@k of random rankings of the cold items: the floor any encoder should clear."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        top = np.stack([rng.permutation(len(split.cold_ids))[:k] for _ in split.users])
        out.append(_mean_ndcg(top, split, k))
    return float(np.mean(out))


def _mean_ndcg(top: np.ndarray, split: ColdStartSplit, k: int) -> float:
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for row, u in zip(top, split.users):
        rel = split.truth[u]
        gains = np.fromiter((split.cold_ids[j] in rel for j in row), dtype=float, count=len(row))
        scores.append(float((gains * disc[:len(row)]).sum() / disc[:min(len(rel), k)].sum()))
    return float(np.mean(scores)) if scores else 0.0
