"""Content similarity: sentence embeddings of item text, and users as the sum of what they bought.

It needs no events on the item, which makes it the path for new items (cold start), and it finds
neighbours that no basket ever joined. Embeddings come from :class:`shelfwise.text.encoder.Encoder`
(all-MiniLM-L6-v2 offline by default, or any local model) and are cached in the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..artifacts import load_array, save_arrays
from ..config import get_settings
from ..logs import get_logger
from .generator import HistoryRecommender
from .itemknn import INTEREST_WEIGHTS

if TYPE_CHECKING:
    from ..data.store import Store
    from .data import Interactions

log = get_logger(__name__)


def item_texts(data: "Interactions") -> list[str]:
    """The text that stands for each item (title, category, brand, description), in index order."""
    from ..text.encoder import item_text

    it = data.items
    return [item_text(t, d, c, b) for t, d, c, b in
            zip(it["title"], it["description"], it["category"], it["brand"])]


def item_embeddings(data: "Interactions", encoder: str | None = None, store: "Store | None" = None) -> np.ndarray:
    """Unit vectors for every item (zeros for items without any text), cached in ``store``."""
    from ..text.encoder import Encoder

    texts = item_texts(data)
    has_text = np.array([bool(t) for t in texts])
    enc = Encoder(encoder)
    if not has_text.any():
        return np.zeros((len(texts), enc.dim), dtype=np.float32)
    found = _encode(enc, [t for t in texts if t], store)
    vecs = np.zeros((len(texts), found.shape[1]), dtype=np.float32)
    vecs[has_text] = found
    log.info("item embeddings: %d items, %d without text", len(texts), int((~has_text).sum()))
    return vecs


def _encode(enc: Any, texts: list[str], store: "Store | None") -> np.ndarray:
    """Encode (through the store's cache) with torch on ``blas_threads`` threads (1 by default).

    On a machine whose cores are busy, torch's spinning thread pool made two threads 5x slower than
    one in our measurement (1,500 titles: 36 s against 6.8 s), as with LightGBM.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None:  # torch is imported by the encoder only when something must be encoded
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return enc.encode_cached(texts, store)
    before = torch.get_num_threads()
    torch.set_num_threads(get_settings().blas_threads)
    try:
        return enc.encode_cached(texts, store)  # loads the model only for uncached texts
    finally:
        torch.set_num_threads(before)


def user_profiles(history_matrix: Any, emb: np.ndarray) -> np.ndarray:
    """Weighted sums of item vectors per user, L2-normalised (zero rows for users with nothing)."""
    p = np.asarray(history_matrix @ emb, dtype=np.float32)
    norms = np.linalg.norm(p, axis=1, keepdims=True)
    return np.divide(p, norms, out=np.zeros_like(p), where=norms > 0)


class Content(HistoryRecommender):
    """Cosine between the user's profile (decayed sum of item embeddings) and each item's embedding.

    ``encoder``: the text model (None: the ``encoder`` setting). Pass ``embeddings`` (one row per item
    of the data, in index order) to reuse vectors already computed; ``store`` caches new ones.
    """

    name: ClassVar[str] = "content"

    def __init__(self, encoder: str | None = None, user_half_life_days: float | None = 60.0,
                 embeddings: np.ndarray | None = None, store: "Store | None" = None) -> None:
        super().__init__(encoder=encoder, user_half_life_days=user_half_life_days)
        self.encoder, self.user_half_life_days = encoder, user_half_life_days
        self.embeddings, self.store = embeddings, store

    def _fit(self, data: Any) -> None:
        emb = self.embeddings if self.embeddings is not None else item_embeddings(data, self.encoder, self.store)
        if emb.shape[0] != data.n_items:
            raise ValueError(f"content embeddings have {emb.shape[0]} rows for {data.n_items} items")
        self.emb_ = np.ascontiguousarray(emb, dtype=np.float32)
        self.has_text_ = np.any(self.emb_ != 0, axis=1)

    def profiles(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        h = self.history_.matrix(self._rows(user_idx, user_ids), INTEREST_WEIGHTS, self.user_half_life_days)
        return user_profiles(h, self.emb_)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        p = self.profiles(user_idx, user_ids)
        s = (p @ self.emb_.T).astype(np.float64)
        s[:, ~self.has_text_] = -np.inf
        s[~np.any(p != 0, axis=1)] = -np.inf
        return s

    def _item_scores(self, item_idx: np.ndarray) -> np.ndarray:
        s = (self.emb_[item_idx] @ self.emb_.T).astype(np.float64)
        s[:, ~self.has_text_] = -np.inf
        s[~self.has_text_[item_idx]] = -np.inf
        return s

    def save_state(self, directory: Path) -> None:
        save_arrays(directory, embeddings=self.emb_)

    def load_state(self, directory: Path) -> None:
        self.emb_ = load_array(directory, "embeddings")
        self.has_text_ = np.any(self.emb_ != 0, axis=1)
