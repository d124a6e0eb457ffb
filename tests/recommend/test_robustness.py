"""Shops unlike the one the defaults were tuned on, and awkward input files (found on Taobao, Gift Cards).

- a log shorter than the label window (Taobao: 9 days against 28) must still train;
- a small shop with under 20 buyers in the last ``label_days`` must widen the window, not stop;
- an ids file that is not UTF-8 gives an error naming the file and line, and line numbers count the
  blank lines of the file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.errors import InputError
from shelfwise.recommend import Interactions
from shelfwise.recommend.labels import MIN_LABEL_BUYERS, label_buyers, label_cut
from shelfwise.recommend.ranker import Hybrid
from shelfwise.service.recommend import read_ids


def test_label_window_longer_than_the_log_keeps_half_of_it(tiny: Interactions, tiny_emb: np.ndarray) -> None:
    # the tiny shop spans 150 days; a 200-day label window would leave no history before it
    cut = pd.Timestamp(label_cut(tiny.events, tiny.now, 200))
    assert cut == pd.Timestamp(tiny.events["timestamp"].quantile(0.5))
    model = Hybrid(label_days=200, embeddings=tiny_emb, rounds=10, cold=False).fit(tiny)
    assert model.train_report_["train_users"] >= MIN_LABEL_BUYERS
    ids, scores = model.recommend("u0", k=3)
    assert all(i is not None for i in ids) and np.isfinite(scores).all()


def test_label_window_widens_on_a_shop_with_few_recent_buyers(tiny: Interactions) -> None:
    # keep the last 30 days' events of only 5 users: 28 days then hold too few buyers to train
    ev = tiny.events
    late = ev["timestamp"] >= pd.Timestamp(tiny.now) - timedelta(days=30)
    drop = late & ~ev["user_idx"].isin([0, 1, 2, 3, 4])
    events = ev[~drop].reset_index(drop=True)
    assert label_buyers(events, pd.Timestamp(tiny.now) - timedelta(days=28)) < MIN_LABEL_BUYERS
    cut = pd.Timestamp(label_cut(events, tiny.now, 28))
    assert cut < pd.Timestamp(tiny.now) - timedelta(days=28)
    assert cut >= pd.Timestamp(events["timestamp"].quantile(0.5))
    assert label_buyers(events, cut) >= MIN_LABEL_BUYERS


def test_label_window_unchanged_when_enough_buyers(tiny: Interactions) -> None:
    assert label_cut(tiny.events, tiny.now, 28) == pd.Timestamp(tiny.now - timedelta(days=28)).to_pydatetime()


def test_ids_file_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "users.txt"
    p.write_bytes(b"user_id\nu1\n\xffu2\n")
    with pytest.raises(InputError) as err:
        read_ids(p, "user_id")
    assert "users.txt" in str(err.value) and "line 3" in str(err.value) and "UTF-8" in str(err.value)


def test_ids_file_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    p = tmp_path / "users.csv"
    p.write_text("\nuser_id,note\n\nu1,a\n,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 5"):
        read_ids(p, "user_id")
    p.write_text("\ufeffuser_id\r\n00123\r\n\r\nü1\r\n", encoding="utf-8")
    assert read_ids(p, "user_id") == ["00123", "ü1"]


def _names() -> list[str]:
    return ["g_itemknn_score", "g_itemknn_rank", "g_itemknn_rel", "i_buyers", "ui_purchases"]


def test_fallback_scores_order_as_documented() -> None:
    from shelfwise.recommend.fallback import FALLBACKS, fallback_score

    #            score  rank    rel   buyers (log1p)  purchases
    x = np.array([[0.9, 1.0, 1.0, np.log1p(2.0), 0.0],
                  [0.5, 2.0, 0.5, np.log1p(50.0), 3.0],
                  [np.nan, np.nan, np.nan, np.log1p(90.0), 0.0],
                  [np.nan, np.nan, np.nan, np.log1p(5.0), 1.0]], dtype=np.float32)
    names = _names()
    order = {f: list(np.argsort(-fallback_score(x, names, f), kind="stable")) for f in FALLBACKS}
    assert order["popularity"] == [2, 1, 3, 0]
    assert order["buy_again"] == [1, 3, 2, 0]  # bought more often first, then the item's buyers
    assert all(0 <= fallback_score(x, names, f).min() and fallback_score(x, names, f).max() < 2 for f in order)


def test_choose_fallback_replaces_a_ranker_that_does_worse() -> None:
    from shelfwise.recommend.fallback import choose_fallback

    rng = np.random.default_rng(0)
    group = np.full(40, 10)
    buyers = np.tile(np.arange(10, 0, -1), 40).astype(np.float64)  # first candidate of each query: most buyers
    y = np.tile((np.arange(10) == 0).astype(np.float32), 40)  # ... and the one bought
    x = np.column_stack([rng.random(400), rng.integers(1, 200, 400), rng.random(400), np.log1p(buyers),
                         np.zeros(400)]).astype(np.float32)
    every = np.ones(40, dtype=bool)
    serve, report = choose_fallback(rng.random(400), every, x, y, group, _names())
    assert serve == "popularity" and report["checked_ndcg@10_fallback"] == pytest.approx(1.0)
    serve, report = choose_fallback(y + 0.0, every, x, y, group, _names())  # a ranker as good: kept
    assert serve is None and report["serves"] == "ranker"


def test_hybrid_serves_and_persists_its_fallback(tiny: Interactions, tiny_emb: np.ndarray, tmp_path: Path) -> None:
    from shelfwise.recommend.persist import load_model_set, save_model_set

    model = Hybrid(embeddings=tiny_emb, rounds=10, cold=False).fit(tiny)
    assert model.train_report_["serves"] == "ranker"  # 0.93 out of fold against 0.89 for buy-again
    model.fallback_, model.calibration_ = "buy_again", {"a": 4.0, "b": -4.0, "prior": 0.5}
    ids, scores = model.recommend("u0", k=4)
    assert {"m0", "m2"} <= set(ids[:2]) and np.all(np.diff(scores) <= 0)  # u0's staples, bought most
    loaded = load_model_set(save_model_set(model, tmp_path).parent)
    assert loaded.fallback_ == "buy_again"
    again, _ = loaded.recommend("u0", k=4)
    assert list(again) == list(ids)


def test_tie_break_orders_only_what_the_ranker_ties() -> None:
    from shelfwise.recommend.fallback import with_tie_break

    names = _names()
    x = np.array([[np.nan, np.nan, np.nan, np.log1p(3.0), 0.0],
                  [np.nan, np.nan, np.nan, np.log1p(9.0), 0.0],
                  [np.nan, np.nan, np.nan, np.log1p(1.0), 2.0]], dtype=np.float32)
    tied = with_tie_break(np.zeros(3), x, names)
    assert list(np.argsort(-tied, kind="stable")) == [2, 1, 0]  # bought twice, then by buyers
    spread = np.array([0.3, 0.2, 0.1])
    assert list(np.argsort(-with_tie_break(spread, x, names))) == [0, 1, 2]
