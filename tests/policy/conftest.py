"""A tiny catalog with known ages, categories, popularity and vectors for policy tests."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from shelfwise.policy.lists import CandidateLists, ItemContext


@pytest.fixture()
def ctx() -> ItemContext:
    rng = np.random.default_rng(0)
    n = 30
    vec = rng.normal(size=(n, 6))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    interactions = np.r_[np.full(5, 100.0), np.full(25, 2.0)]  # items 0-4 hold 10/11 of interactions: head
    age = np.r_[np.full(24, 400.0), np.array([1.0, 3.0, 5.0, 8.0, 12.0, 50.0])]  # items 24-28 are new (< 30 days)
    cat = np.arange(n) % 4
    return ItemContext(np.array([f"i{j}" for j in range(n)], dtype=object), age, interactions, cat,
                       datetime(2025, 3, 1), vectors=vec.astype(np.float32))


@pytest.fixture()
def lists() -> CandidateLists:
    rng = np.random.default_rng(1)
    b, n = 6, 20
    idx = np.stack([rng.permutation(24)[:n] for _ in range(b)])
    scores = np.sort(rng.random((b, n)), axis=1)[:, ::-1] * 5
    return CandidateLists(np.array([f"u{r}" for r in range(b)], dtype=object), idx, scores)


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory):
    """One small synthetic shop folder (with ground truth) and its ingested store, shared by the slower tests."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.data.synth import SynthConfig, write_shop

    root = tmp_path_factory.mktemp("policy_shop")
    write_shop(root / "shop", SynthConfig(items=300, users=800, days=30, seed=3))
    url = f"duckdb:///{root / 'shop.duckdb'}"
    with open_store(url) as store:
        ingest(root / "shop", store)
    return root / "shop", url
