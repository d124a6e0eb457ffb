"""Cheap content vectors for items: TF-IDF over title, description, category and brand, reduced by SVD.

Why not the sentence encoder by default: policies run per request and in a day-by-day simulator, and
this needs no model files, fits in a second on thousands of items, and puts items described alike
(and of one category or brand) close together, which is what MMR and the exploration prior ask for.
A caller with encoder embeddings at hand passes them to :class:`~.lists.ItemContext` instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def item_vectors(items: pd.DataFrame, dim: int = 64, seed: int = 0) -> np.ndarray:
    """(n_items, <= dim) float32 rows with unit length (zero rows for items with no text at all)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    def col(name: str) -> pd.Series:
        return items[name].fillna("").astype(str) if name in items.columns else pd.Series([""] * len(items))

    def tag(name: str, prefix: str) -> pd.Series:
        # a missing category or brand adds no token: items that merely both lack one must not look alike
        values = col(name).str.strip()
        return (" " + prefix + values.str.replace(r"\W+", "_", regex=True)).where(values != "", "")

    cat = col("category").str.replace(">", " ", regex=False)
    docs = col("title") + " " + col("description") + " " + cat + tag("category", "cat_") + tag("brand", "brand_")
    if len(items) == 0:
        return np.zeros((0, 1), dtype=np.float32)
    try:
        x = TfidfVectorizer(min_df=1, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b").fit_transform(docs)
    except ValueError:  # no tokens at all
        return np.zeros((len(items), 1), dtype=np.float32)
    k = min(dim, x.shape[1] - 1, x.shape[0] - 1)
    v = TruncatedSVD(k, random_state=seed).fit_transform(x) if k >= 2 else x.toarray()
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norm > 0, norm, 1.0)).astype(np.float32)
