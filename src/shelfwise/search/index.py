"""Hybrid product search: BM25 on words, BM25 on character trigrams, encoder embeddings, behaviour.

Why each part: word BM25 is precise when the shopper uses the catalog's words; trigram BM25 keeps
matching through typos; embeddings match meaning when the words differ ("present for dad" vs "gift
card for him"); the behaviour prior breaks near-ties in favour of what shoppers actually buy.

Fusion (default ``rrf``): each part votes w / (10 + rank) for every document, the votes are summed
and scaled so a document ranked first by every part scores 1.0, then the behaviour prior (in [0, 1],
times its weight) is added. A lexical vote is also scaled by the document's score over the query's best score, so a
document sharing one trigram with the query gets a small vote even when the catalog is tiny.
Score fusion (``fusion="score"``) instead divides each lexical score by the query's best and rescales
the cosine between the ``candidates``-th best and the best; on the known-item benchmark it was a
little worse than rank fusion, whose votes are robust to the very different score scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..logs import get_logger
from .behaviour import Behaviour
from .bm25 import BM25
from .tokenize import char_ngrams, has_cjk, words

log = get_logger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    """Weights of the fused score. Defaults were chosen on the Gift_Cards known-item split (a grid over
    fusion, popularity, dense and trigram weights) and then checked, unchanged, on Magazines."""

    w_words: float = 1.0
    w_chars: float = 0.5
    w_dense: float = 1.0
    w_popularity: float = 0.6
    w_conversion: float = 0.1
    candidates: int = 200
    fusion: str = "rrf"            # "rrf" (weighted reciprocal rank) or "score" (weighted normalised scores)
    rrf_k: float = 10.0           # small: a clear gap between rank 1 and rank 5, so the prior only breaks near-ties


@dataclass
class Hit:
    item_id: str
    score: float
    parts: dict[str, float] = field(default_factory=dict)


def _encode_queries(encoder: Any, queries: Sequence[str]) -> np.ndarray:
    """Query vectors, with the model's "query" prompt where it has one (e5). The prompt is asked for by
    name: written into the text, the model's default prompt went in front of it too ("query: query: ")."""
    prompt_for = getattr(encoder, "prompt_for", None)
    name = prompt_for("query") if prompt_for is not None else None
    return encoder.encode(list(queries), prompt_name=name) if name else encoder.encode(list(queries))


class SearchIndex:
    """An in-memory index over one catalog (item ids and their texts)."""

    def __init__(self, item_ids: Sequence[str], texts: Sequence[str], *, encoder: object | None = None,
                 vectors: np.ndarray | None = None, behaviour: Behaviour | None = None,
                 config: SearchConfig | None = None) -> None:
        self.item_ids = list(item_ids)
        self.texts = list(texts)
        self.config = config or SearchConfig()
        self.encoder = encoder
        self.words = BM25(words).fit(self.texts)
        self.chars = BM25(char_ngrams, k1=1.2, b=0.5).fit(self.texts)
        self.vectors = vectors
        self.behaviour = behaviour or Behaviour.empty(self.item_ids)
        self._faiss = None
        if vectors is not None:
            import faiss

            self._faiss = faiss.IndexFlatIP(vectors.shape[1])
            self._faiss.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._pos = {iid: i for i, iid in enumerate(self.item_ids)}
        # an English-only encoder (the default MiniLM) reads Chinese as [UNK]s: its vote is noise there
        name = str(getattr(encoder, "name", "") or "").lower()
        self.multilingual = encoder is None or any(t in name for t in ("e5", "multilingual", "bge-m3", "labse"))

    # ---- the parts ------------------------------------------------------------------------------
    def lexical(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word and trigram BM25 scores of every item."""
        return self.words.scores(queries), self.chars.scores(queries)

    def coverage(self, queries: Sequence[str]) -> np.ndarray:
        """(n, 2): how much of each query the word and the trigram views understand (see BM25.coverage)."""
        return np.stack([self.words.coverage(queries), self.chars.coverage(queries)], axis=1)

    def dense(self, queries: Sequence[str], query_vectors: np.ndarray | None = None) -> np.ndarray | None:
        """Cosine of every query with every item (faiss exact inner product); None without an encoder."""
        if self._faiss is None:
            return None
        if query_vectors is None:
            if self.encoder is None:
                return None
            query_vectors = _encode_queries(self.encoder, queries)
        n = len(self.item_ids)
        sims, idx = self._faiss.search(np.ascontiguousarray(query_vectors, dtype=np.float32), n)
        out = np.empty((len(queries), n), dtype=np.float32)
        np.put_along_axis(out, idx, sims, axis=1)
        return out

    # ---- fusion ---------------------------------------------------------------------------------
    def fuse(self, word_s: np.ndarray, char_s: np.ndarray, dense_s: np.ndarray | None,
             use_behaviour: bool = True, coverage: np.ndarray | None = None,
             dense_ok: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The fused score of every item for every query, and each part's contribution. ``dense_ok``
        (per query) turns the embedding vote off where the encoder cannot read the query's language."""
        c = self.config
        if coverage is None:
            coverage = np.ones((word_s.shape[0], 2), dtype=np.float32)
        parts: dict[str, np.ndarray] = {}
        if c.fusion == "rrf":
            # A lexical view votes in proportion to how much of the query it understood (idf mass of
            # the query terms it knows, over all of them); the trigram view inherits what the word view could not
            # use, so a typo'd query leans on trigrams instead of on the one common word it matched.
            cov_w, cov_c = coverage[:, 0], coverage[:, 1]
            weights = {"words": c.w_words * cov_w,
                       "chars": (c.w_chars + c.w_words * (1 - cov_w)) * cov_c,
                       "dense": np.full_like(cov_w, c.w_dense if dense_s is not None else 0.0)}
            if dense_ok is not None:
                weights["dense"] = weights["dense"] * np.asarray(dense_ok, dtype=np.float32)
            scale = (weights["words"] + weights["chars"] + weights["dense"]) / (c.rrf_k + 1)
            scale = np.where(scale > 0, scale, 1.0)[:, None]
            total = np.zeros_like(word_s)
            for name, s in (("words", word_s), ("chars", char_s), ("dense", dense_s)):
                if s is None or not weights[name].any():
                    continue
                ranks = np.argsort(np.argsort(-s, axis=1, kind="stable"), axis=1) + 1
                contrib = (weights[name][:, None] / (c.rrf_k + ranks) / scale).astype(np.float32)
                if name != "dense":  # a weak lexical match gets a weak vote, whatever its rank
                    best = s.max(axis=1, keepdims=True)
                    contrib *= np.divide(s, best, out=np.zeros_like(s), where=best > 0)
                parts[name] = contrib
                total += contrib
        else:
            total = np.zeros_like(word_s)
            for name, s, w in (("words", word_s, c.w_words), ("chars", char_s, c.w_chars)):
                best = s.max(axis=1, keepdims=True)
                norm = np.divide(s, best, out=np.zeros_like(s), where=best > 0)
                parts[name] = w * norm
                total += parts[name]
            if dense_s is not None and c.w_dense:
                k = min(c.candidates, dense_s.shape[1]) - 1
                floor = np.partition(dense_s, -k - 1, axis=1)[:, -k - 1:-k] if k >= 0 else dense_s.min(axis=1, keepdims=True)
                best = dense_s.max(axis=1, keepdims=True)
                span = np.maximum(best - floor, 1e-6)
                parts["dense"] = c.w_dense * np.clip((dense_s - floor) / span, 0.0, 1.0)
                total += parts["dense"]
        if use_behaviour:
            b = self.behaviour
            parts["popularity"] = np.broadcast_to(c.w_popularity * b.popularity, total.shape)
            total = total + parts["popularity"]
            if b.has_views and c.w_conversion:
                parts["conversion"] = np.broadcast_to(c.w_conversion * b.conversion, total.shape)
                total = total + parts["conversion"]
        return total, parts

    def search(self, queries: Sequence[str], k: int = 10, *, exclude: set[str] | None = None,
               boosts: dict[str, float] | None = None, query_vectors: np.ndarray | None = None,
               batch: int = 256) -> list[list[Hit]]:
        """Top-``k`` hits per query. ``exclude`` drops items (e.g. out of stock, policy-blocked);
        ``boosts`` adds a per-item amount to the fused score (how exposure policies plug in)."""
        out: list[list[Hit]] = []
        mask = np.zeros(len(self.item_ids), dtype=bool)
        for iid in exclude or ():
            if iid in self._pos:
                mask[self._pos[iid]] = True
        boost = np.zeros(len(self.item_ids), dtype=np.float32)
        for iid, v in (boosts or {}).items():
            if iid in self._pos:
                boost[self._pos[iid]] = v
        for lo in range(0, len(queries), batch):
            qs = list(queries[lo:lo + batch])
            qv = None if query_vectors is None else query_vectors[lo:lo + batch]
            w, ch = self.lexical(qs)
            dense_ok = np.array([self.multilingual or not has_cjk(q) for q in qs])
            total, parts = self.fuse(w, ch, self.dense(qs, qv), coverage=self.coverage(qs), dense_ok=dense_ok)
            total = total + boost
            total[:, mask] = -np.inf
            kk = min(k, len(self.item_ids))
            top = np.argpartition(-total, kk - 1, axis=1)[:, :kk] if kk else np.zeros((len(qs), 0), dtype=int)
            for r in range(len(qs)):
                order = top[r][np.argsort(-total[r, top[r]], kind="stable")]
                out.append([Hit(self.item_ids[j], float(total[r, j]),
                                {n: float(p[r, j]) for n, p in parts.items()})
                            for j in order if np.isfinite(total[r, j])])
        return out
