"""The searchable text of each item, read from the store.

Why more than :func:`shelfwise.text.encoder.item_text`: search needs every field a shopper might type,
so the lexical text adds the brand, every category level, the ``features`` attribute and the full
description; the embedding text stays short (the encoder reads at most a few hundred tokens anyway).
Items seen only in events (the ``all_items`` view) are searchable by id only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ..data.store import Store
from ..errors import InputError
from ..text.encoder import item_text

MAX_LEXICAL_CHARS = 4000


@dataclass
class Catalog:
    item_ids: list[str]
    lexical: list[str]     # what BM25 reads
    semantic: list[str]    # what the encoder reads
    titles: list[str]


def _attr_text(attrs: object, keys: tuple[str, ...] = ("features",)) -> str:
    if not isinstance(attrs, str) or not attrs:
        return ""
    try:
        obj = json.loads(attrs)
    except ValueError:
        return ""
    parts = [str(obj[k]) for k in keys if isinstance(obj, dict) and obj.get(k)]
    return " ".join(parts)


def load_catalog(store: Store, *, with_reviews: bool = False, reviews_before: datetime | None = None,
                 max_review_chars: int = 2000, event_only_items: bool = True) -> Catalog:
    """Every item with its texts; ``with_reviews`` appends review text (only reviews before
    ``reviews_before`` when given) to the lexical and semantic text, so shoppers' words match too.
    ``event_only_items=False`` keeps to the ``items`` table (the known-item benchmark's documents)."""
    if not store.has_table("items"):
        raise InputError("the store has no items table: load a shop first (shelfwise ingest SHOP_FOLDER)")
    # all_items: the items table plus ids seen only in events (SHOP_FORMAT: still items, with no text);
    # reading only `items` left a bought item unfindable, even by its id
    with_events = event_only_items and store.has_table("events") and store.has_table("all_items")
    source = "all_items" if with_events else "items"
    df = store.query(f"SELECT item_id, title, description, category, brand, attrs FROM {source} "
                     "ORDER BY item_id").to_pandas()
    if with_reviews and store.has_table("reviews"):
        where, params = ("WHERE timestamp < ?", [reviews_before]) if reviews_before is not None else ("", None)
        rev = store.query(f"""SELECT item_id, string_agg(text, ' ' ORDER BY timestamp) AS review_text
                              FROM reviews {where} GROUP BY item_id""", params).to_pandas()
        rev["review_text"] = rev["review_text"].str.slice(0, max_review_chars)
        df = df.merge(rev, on="item_id", how="left")
    else:
        df["review_text"] = None
    lexical, semantic, titles = [], [], []
    for r in df.itertuples(index=False):
        base = item_text(r.title, r.description, r.category, r.brand)
        extra = _attr_text(r.attrs)
        rev = r.review_text if isinstance(r.review_text, str) else ""
        head = item_text(r.title, None, r.category, r.brand)
        desc = r.description if isinstance(r.description, str) else ""
        lex = " ".join(x for x in (head, desc, extra, rev) if x)
        lexical.append(lex[:MAX_LEXICAL_CHARS] or str(r.item_id))
        semantic.append((base + (". " + rev[:500] if rev else "")) or str(r.item_id))
        titles.append(r.title if isinstance(r.title, str) else "")
    return Catalog(df["item_id"].astype(str).tolist(), lexical, semantic, titles)

