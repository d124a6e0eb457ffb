"""Known-item search evaluation: a review's summary is the query, the reviewed item is the answer.

Why this protocol: it needs no relevance labels, and shoppers' summaries are written in their own
words, not the catalog's, which is exactly where search fails in practice. Time is respected: queries
are the reviews at or after ``cutoff``; popularity, conversion and any review text that enters the
index come only from before it, so nothing about the query leaks into the ranking.

Peers are scored in the same call on the same documents: BM25 alone (word BM25 over the lexical
text), embeddings alone (cosine over the semantic text), popularity alone (the behaviour prior, no
query at all: it shows how much of the score the prior alone explains) and shelfwise's fused ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from ..data.store import Store
from .behaviour import item_behaviour
from .catalog import load_catalog
from .index import SearchConfig, SearchIndex


@dataclass
class KnownItemResult:
    queries: int
    items: int
    cutoff: datetime
    mrr: dict[str, float]
    hits_at_10: dict[str, float]

    def as_dict(self) -> dict:
        return {"queries": self.queries, "items": self.items, "cutoff": self.cutoff.isoformat(),
                "mrr_at_10": {k: round(v, 4) for k, v in self.mrr.items()},
                "hits_at_10": {k: round(v, 4) for k, v in self.hits_at_10.items()}}


def review_queries(store: Store, test_share: float = 0.2, limit: int | None = None,
                   seed: int = 0) -> tuple[pd.DataFrame, datetime]:
    """(query, item_id) pairs from the latest ``test_share`` of reviews with a summary, and the cutoff."""
    df = store.query("""SELECT item_id, timestamp, (CAST(attrs AS JSON) ->> 'summary') AS query
                        FROM reviews WHERE timestamp IS NOT NULL""").to_pandas()
    df = df[df["query"].fillna("").str.strip() != ""]
    cutoff = pd.Timestamp(df["timestamp"].quantile(1 - test_share)).to_pydatetime()
    q = df[df["timestamp"] >= cutoff].reset_index(drop=True)
    if limit and len(q) > limit:
        q = q.sample(limit, random_state=seed).reset_index(drop=True)
    return q, cutoff


def mrr_at(ranked: list[list[str]], answers: list[str], k: int = 10) -> tuple[float, float]:
    """Mean reciprocal rank and hit rate within the top ``k``."""
    rr, hit = [], []
    for items, ans in zip(ranked, answers):
        top = items[:k]
        r = top.index(ans) + 1 if ans in top else 0
        rr.append(1.0 / r if r else 0.0)
        hit.append(1.0 if r else 0.0)
    return float(np.mean(rr)) if rr else 0.0, float(np.mean(hit)) if hit else 0.0


def evaluate(store: Store, encoder: object | None, *, config: SearchConfig | None = None,
             with_reviews: bool = True, test_share: float = 0.2, limit: int | None = None,
             extra: dict[str, SearchConfig] | None = None, k: int = 10) -> KnownItemResult:
    """MRR@k of BM25 alone, embeddings alone and shelfwise (plus ``extra`` named configs) on one store."""
    queries, cutoff = review_queries(store, test_share, limit)
    # the catalog's items only, as measured in docs/SEARCH.md (ids seen only in ratings have no text)
    cat = load_catalog(store, with_reviews=with_reviews, reviews_before=cutoff, event_only_items=False)
    behaviour = item_behaviour(store, cat.item_ids, before=cutoff)
    vectors = (encoder.encode_cached(cat.semantic, store, prompt_name=encoder.prompt_for("passage"))
               if encoder is not None else None)
    config = config or SearchConfig()
    index = SearchIndex(cat.item_ids, cat.lexical, encoder=encoder, vectors=vectors, behaviour=behaviour,
                        config=config)
    qtexts = queries["query"].tolist()
    answers = queries["item_id"].astype(str).tolist()
    w, ch = index.lexical(qtexts)
    dense = index.dense(qtexts) if encoder is not None else None
    cov = index.coverage(qtexts)
    ids = np.asarray(cat.item_ids)

    def ranked(scores: np.ndarray) -> list[list[str]]:
        kk = min(k, scores.shape[1])
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable"), 1)
        return [list(ids[row]) for row in order]

    runs: dict[str, np.ndarray] = {"bm25": w}
    if dense is not None:
        runs["embeddings"] = dense
    runs["popularity"] = np.broadcast_to(behaviour.popularity, w.shape) + 0.0
    runs["shelfwise"] = index.fuse(w, ch, dense, coverage=cov)[0]
    for name, cfg in (extra or {}).items():
        other = SearchIndex.__new__(SearchIndex)
        other.__dict__.update(index.__dict__)
        other.config = cfg
        runs[name] = other.fuse(w, ch, dense, use_behaviour=cfg.w_popularity > 0 or cfg.w_conversion > 0,
                                coverage=cov)[0]
    mrr, hits = {}, {}
    for name, s in runs.items():
        mrr[name], hits[name] = mrr_at(ranked(s), answers, k)
    return KnownItemResult(len(queries), len(cat.item_ids), cutoff, mrr, hits)


def no_behaviour(config: SearchConfig) -> SearchConfig:
    return replace(config, w_popularity=0.0, w_conversion=0.0)
