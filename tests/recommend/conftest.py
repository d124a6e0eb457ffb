"""A tiny shop with known structure, shared by the recommender tests.

60 users in three taste groups (mugs, socks, lamps). Each user re-buys two staple items of their group
every ten days and now and then another item of the group, in orders of a few lines, for 150 days.
Two catalog items (one per group of mugs and socks) have no events at all: the new items.
Embeddings are made by hand (one axis per group plus a little noise) so no text model is loaded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.recommend import Interactions

GROUPS = {"mug": ["red mug", "blue mug", "green mug", "tall mug", "small mug", "mug set"],
          "sock": ["wool socks", "cotton socks", "ski socks", "sport socks", "sock pack", "silk socks"],
          "lamp": ["desk lamp", "floor lamp", "reading lamp", "table lamp", "lamp shade", "night lamp"]}
NEW_ITEMS = {"m_new": ("mug", "striped mug"), "s_new": ("sock", "striped socks")}
START = datetime(2024, 1, 1)
DAYS = 150


def _catalog() -> pd.DataFrame:
    rows = []
    prices = {"mug": 8.0, "sock": 4.0, "lamp": 40.0}
    for group, titles in GROUPS.items():
        for j, title in enumerate(titles):
            rows.append({"item_id": f"{group[0]}{j}", "title": title, "category": f"home > {group}",
                         "price": prices[group] * (1 + 0.1 * j)})
    for item_id, (group, title) in NEW_ITEMS.items():
        rows.append({"item_id": item_id, "title": title, "category": f"home > {group}", "price": prices[group]})
    return pd.DataFrame(rows)


def _events(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    order = 0
    for u in range(60):
        group = list(GROUPS)[u % 3]
        staples = [f"{group[0]}{u % 2}", f"{group[0]}{2 + u % 2}"]
        offset = int(rng.integers(0, 10))
        for day in range(offset, DAYS, 10):
            order += 1
            ts = START + timedelta(days=day, hours=int(rng.integers(8, 20)))
            basket = list(staples)
            if rng.random() < 0.5:
                basket.append(f"{group[0]}{int(rng.integers(0, 6))}")
            if rng.random() < 0.1:
                other = list(GROUPS)[int(rng.integers(0, 3))]
                basket.append(f"{other[0]}{int(rng.integers(0, 6))}")
            for item in basket:
                rows.append({"timestamp": ts, "user_id": f"u{u}", "item_id": item, "event": "purchase",
                             "quantity": float(rng.integers(1, 4)), "order_id": f"o{order}"})
            if rng.random() < 0.3:
                rows.append({"timestamp": ts - timedelta(minutes=5), "user_id": f"u{u}",
                             "item_id": f"{group[0]}{int(rng.integers(0, 6))}", "event": "view",
                             "quantity": 1.0, "order_id": None})
    # anonymous demand, mostly for lamps
    for day in range(0, DAYS, 3):
        rows.append({"timestamp": START + timedelta(days=day), "user_id": None, "item_id": "l0", "event": "purchase",
                     "quantity": 1.0, "order_id": f"anon{day}"})
    return pd.DataFrame(rows)


def _embeddings(data: Interactions) -> np.ndarray:
    rng = np.random.default_rng(1)
    emb = np.zeros((data.n_items, 8), dtype=np.float32)
    for k, cat in enumerate(data.items["category"]):
        group = str(cat).split("> ")[-1]
        emb[k, list(GROUPS).index(group)] = 1.0
    emb += 0.05 * rng.normal(size=emb.shape).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def tiny() -> Interactions:
    return Interactions.from_frames(_events(), _catalog(), now=START + timedelta(days=DAYS))


@pytest.fixture(scope="session")
def tiny_emb(tiny: Interactions) -> np.ndarray:
    return _embeddings(tiny)


@pytest.fixture(scope="session")
def tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _events(), _catalog()
