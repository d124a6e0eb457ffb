"""Passages the assistant can quote: catalog sentences and review sentences, each with its source.

Why sentences: an extractive answer should be short enough to read at a glance and precise enough
to cite; a whole review or description is neither. Sentences are cut on ., !, ?, the Chinese 。！？
and line breaks; fragments under 3 words (or 4 Chinese characters) are dropped, as are sentences
longer than 400 characters, which are cut there (the title line too: a 3,000-character title used
to be quoted whole).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ..data.store import Store
from ..errors import InputError

_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")
_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_CHARS = 400


@dataclass
class Passages:
    frame: pd.DataFrame   # passage_id, item_id, source ("catalog" | "review"), ref, text, rating


def sentences(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    out = []
    for s in _SPLIT.split(text):
        s = s.strip(" \t-•*")
        n_cjk = len(_CJK.findall(s))
        if len(s.split()) >= 3 or n_cjk >= 4:
            out.append(s[:MAX_CHARS])
    return out


def load_passages(store: Store, item_id: str | None = None) -> Passages:
    """All catalog and review sentences (of one item when ``item_id`` is given)."""
    if not store.has_table("items"):
        raise InputError("the store has no items table: load a shop first (shelfwise ingest SHOP_FOLDER)")
    where, params = ("WHERE item_id = ?", [item_id]) if item_id else ("", None)
    items = store.query(f"""SELECT item_id, title, description, category, brand,
                                   (CAST(attrs AS JSON) ->> 'features') AS features
                            FROM items {where}""", params).to_pandas()
    if item_id and items.empty:
        raise InputError(f"item '{item_id}' is not in the catalog", field="item_id")
    rows: list[tuple] = []
    for r in items.itertuples(index=False):
        head = ". ".join(x for x in (r.title, r.brand, r.category) if isinstance(x, str) and x.strip())
        if head:
            rows.append((r.item_id, "catalog", "title", head[:MAX_CHARS], None))
        for field in ("description", "features"):
            for s in sentences(getattr(r, field)):
                rows.append((r.item_id, "catalog", field, s, None))
    if store.has_table("reviews"):
        rev = store.query(f"""SELECT item_id, coalesce(review_id, review_key) AS ref, text, rating
                              FROM reviews {where}""", params).to_pandas()
        for r in rev.itertuples(index=False):
            for s in sentences(r.text):
                rows.append((r.item_id, "review", r.ref, s, r.rating))
    df = pd.DataFrame(rows, columns=["item_id", "source", "ref", "text", "rating"])
    df.insert(0, "passage_id", range(len(df)))
    return Passages(df)
