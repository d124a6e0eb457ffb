"""The synthetic shop generator: deterministic, ingestable, and faithful to its own ground truth."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.synth import SynthConfig, SyntheticWorld, generate, load_truth, write_shop
from shelfwise.data.synth.reviews import review_text
from shelfwise.errors import InputError

CONFIG = SynthConfig(items=400, users=4000, days=40, seed=7, review_rate=1.0)

# a lexicon of our own, not the generator's lists: sentiment must be visible to an outside reader
POSITIVE = {"love", "excellent", "great", "perfect", "perfectly", "pleased", "recommend", "beautiful", "sturdy",
            "lovely", "happy", "better"}
NEGATIVE = {"disappointed", "disappointing", "terrible", "poor", "waste", "awful", "broke", "cheap", "flimsy", "late", "damaged",
            "avoid", "stopped"}


def sentiment(text: str) -> int:
    words = re.findall(r"[a-z]+", text.lower())
    return sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)


@pytest.fixture(scope="module")
def shop():
    return generate(CONFIG)


@pytest.fixture(scope="module")
def events(shop) -> pd.DataFrame:
    return shop.tables["events"].to_pandas()


def test_same_seed_gives_the_same_shop_and_another_seed_does_not():
    small = SynthConfig(items=60, users=200, days=10, seed=3)
    a, b = generate(small), generate(small)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.truth.displays.equals(b.truth.displays)
    np.testing.assert_array_equal(a.truth.users.factors, b.truth.users.factors)
    c = generate(SynthConfig(items=60, users=200, days=10, seed=4))
    assert not a.tables["events"].equals(c.tables["events"])


def test_written_shop_ingests_without_rejects_and_truth_round_trips(tmp_path, store, shop):
    out = tmp_path / "shop"
    result = write_shop(out, SynthConfig(items=80, users=300, days=14, seed=11))
    assert sorted(p.name for p in out.iterdir()) == ["_truth", "events.parquet", "items.csv", "reviews.csv", "users.csv"]
    loaded = ingest(out, store)
    assert {t.table for t in loaded.tables} == {"items", "users", "events", "reviews"}
    for t in loaded.tables:
        assert t.rejected == 0, t
        assert t.loaded == t.read == result.rows[t.table], t
    assert store.count("rejects") == 0
    assert store.count("all_items") == 80  # every event item is in the catalogue
    # the truth read back equals the truth generated
    truth = load_truth(out)
    again = generate(SynthConfig(items=80, users=300, days=14, seed=11)).truth
    np.testing.assert_array_equal(truth.items.launch_day, again.items.launch_day)
    np.testing.assert_allclose(truth.users.category_pref, again.users.category_pref)
    np.testing.assert_array_equal(truth.users.fav_brands, again.users.fav_brands)
    np.testing.assert_allclose(truth.examination, again.examination)
    assert truth.categories == again.categories and truth.coef == again.coef
    assert truth.displays.num_rows == again.displays.num_rows


def test_write_shop_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_shop(tmp_path, SynthConfig(items=20, users=20, days=2))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_bad_sizes_are_refused_with_the_option_named():
    with pytest.raises(InputError, match="--items"):
        generate(SynthConfig(items=3))
    with pytest.raises(InputError, match="random_share"):
        generate(SynthConfig(random_share=1.5))


def test_funnel_is_consistent(events):
    ev = events
    assert set(ev.event) == {"impression", "click", "view", "cart", "purchase", "return"}
    assert ev.timestamp.is_monotonic_increasing
    imp, clk = ev[ev.event == "impression"], ev[ev.event == "click"]
    assert imp.position.min() == 1 and (imp.propensity > 0).all() and (imp.propensity <= 1).all()
    # every click is on an impression (same session, item and slot) shown before it
    key = ["session_id", "item_id", "position"]
    joined = clk.reset_index().merge(imp[key + ["timestamp"]], on=key, suffixes=("", "_shown"))
    earliest = joined.groupby("index").timestamp_shown.min()
    assert len(earliest) == len(clk)
    assert (clk.timestamp.loc[earliest.index] >= earliest).all()
    buys = ev[ev.event == "purchase"]
    assert buys.order_id.notna().all() and (buys.price > 0).all() and (buys.quantity >= 1).all()
    carts = set(zip(ev[ev.event == "cart"].session_id, ev[ev.event == "cart"].item_id))
    assert all(k in carts for k in zip(buys.session_id, buys.item_id))
    rets = ev[ev.event == "return"]
    assert len(rets) > 0 and set(rets.order_id) <= set(buys.order_id)
    # guests exist and are logged without a user id; signed-in traffic has one
    anonymous = ev.user_id.isna().mean()
    assert 0.01 < anonymous < 0.12


def test_position_bias_of_clicks_decreases_and_matches_the_truth(shop, events):
    truth = shop.truth
    world = SyntheticWorld(truth)
    ev = events[events.user_id.notna()]
    imp = ev[ev.event == "impression"]
    key = ["session_id", "item_id", "position"]
    clicked = ev[ev.event == "click"][key].drop_duplicates().assign(clicked=1)
    imp = imp.merge(clicked, on=key, how="left").fillna({"clicked": 0})
    day = ((imp.timestamp - pd.Timestamp(truth.start)).dt.total_seconds() // 86400).to_numpy()
    p = world.probabilities(world.user_index(imp.user_id.to_numpy()), world.item_index(imp.item_id.to_numpy())[:, None],
                            day, imp.position.to_numpy()[:, None])
    imp["appeal"] = p.appeal[:, 0]
    # P(click) = examination(position) x appeal, so clicks / sum(appeal) estimates the examination curve
    groups = {"1": [1], "2-3": [2, 3], "4-6": [4, 5, 6], "7-12": list(range(7, 13))}
    est, true = [], []
    for positions in groups.values():
        g = imp[imp.position.isin(positions)]
        e = g.clicked.sum() / g.appeal.sum()
        t = float((truth.examination[np.asarray(positions) - 1] * g.groupby("position").appeal.sum().to_numpy()).sum()
                  / g.appeal.sum())
        tol = 4 * np.sqrt(g.clicked.sum()) / g.appeal.sum()  # Poisson error of the click count
        assert abs(e - t) < tol, (positions, e, t, tol)
        est.append(e)
        true.append(t)
    assert all(a > b for a, b in zip(est, est[1:])), est
    # and the raw click-through rate falls with position too
    ctr = imp.groupby("position").clicked.mean()
    assert ctr.loc[1] > ctr.loc[3] > ctr.loc[8]


def test_random_lists_log_plackett_luce_propensities(shop, events):
    """On uniformly shuffled lists, slot k given the slots above has probability 1 / (pool - k + 1)."""
    d = shop.truth.displays.to_pandas()
    rnd = d[d.policy == "random"][["session_id", "timestamp"]]
    assert 0.02 < len(rnd) / len(d) < 0.09
    imp = events[events.event == "impression"].merge(rnd, on=["session_id", "timestamp"])
    for _, g in list(imp.groupby(["session_id", "timestamp"]))[:200]:
        prop = g.sort_values("position").propensity.to_numpy()
        pool = 1 / prop[0]
        np.testing.assert_allclose(1 / prop, pool - np.arange(len(prop)), rtol=1e-9)


def test_new_items_arrive_during_the_period_and_never_sell_before_launch(shop, events):
    items = shop.tables["items"].to_pandas()
    launched = pd.to_datetime(items.launched_at)
    start = datetime(CONFIG.start.year, CONFIG.start.month, CONFIG.start.day)
    end = start + timedelta(days=CONFIG.days)
    new = launched >= start
    assert 0.15 < new.mean() < 0.35
    assert (launched[new] >= end - timedelta(days=14)).sum() > 0   # some arrive in the last two weeks
    assert launched.max() < end
    first_seen = events.groupby("item_id").timestamp.min()
    launch_day = pd.Series(launched.dt.normalize().to_numpy(), index=items.item_id)
    assert (first_seen >= launch_day.loc[first_seen.index]).all()
    new_ids = set(items.item_id[new])
    assert events[events.event == "purchase"].item_id.isin(new_ids).sum() > 0


@pytest.mark.parametrize("rating,sign", [(5, 1), (4, 1), (3, 0), (2, -1), (1, -1)])
def test_review_text_polarity_follows_the_rating(rating, sign):
    rng = np.random.default_rng(rating)
    for _ in range(200):
        text = review_text(rating, "Frying Pan", "cleaning", rng.integers(0, 1 << 30, 4))
        assert "frying pan" in text and "{" not in text
        assert np.sign(sentiment(text)) == sign or (sign == 0 and abs(sentiment(text)) <= 1), text


def test_generated_reviews_sentiment_rises_with_rating(shop):
    reviews = shop.tables["reviews"].to_pandas()
    assert len(reviews) > 200 and set(reviews.rating) <= {1, 2, 3, 4, 5}
    means = reviews.assign(s=reviews.text.map(sentiment)).groupby("rating").s.mean()
    assert list(means.index) == [1, 2, 3, 4, 5]
    assert means.is_monotonic_increasing and means.loc[5] - means.loc[1] > 4
    # ratings are J-shaped like real shops': five stars most common, then one star beats two
    counts = reviews.rating.value_counts()
    assert counts.idxmax() == 5 and counts.loc[1] > counts.loc[2]


def test_titles_share_words_within_a_category(shop):
    items = shop.tables["items"].to_pandas()
    words = items.title.str.lower().str.findall(r"[a-z]+").map(set)
    same, other = [], []
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b = rng.integers(0, len(items), 2)
        if a == b:
            continue
        overlap = len(words[a] & words[b]) / len(words[a] | words[b])
        (same if items.category[a] == items.category[b] else other).append(overlap)
    assert np.mean(same) > 2 * np.mean(other)


@pytest.mark.slow
def test_randomised_traffic_recovers_the_true_position_bias_at_scale():
    """Quality at a realistic size: the shuffled lists alone recover the true position-bias curve (what a
    position-bias estimator will rely on), and generation keeps a throughput floor. The synthetic shop
    has no real-data counterpart, so its quality test checks it against its own truth."""
    import time

    config = SynthConfig(items=2000, users=30000, days=60, seed=21)
    t = time.process_time()
    big = generate(config)
    cpu = time.process_time() - t
    events = big.tables["events"].num_rows
    assert events / cpu > 100_000, f"{events / cpu:.0f} events per CPU second"
    ev = big.tables["events"].to_pandas()
    d = big.truth.displays.to_pandas()
    rnd = d[d.policy == "random"][["session_id", "timestamp"]]
    key = ["session_id", "item_id", "position"]
    imp = ev[ev.event == "impression"].merge(rnd, on=["session_id", "timestamp"])
    clicks = ev[ev.event == "click"][key + ["timestamp"]].rename(columns={"timestamp": "clicked_at"})
    imp = imp.merge(clicks, on=key, how="left")
    imp = imp[imp.clicked_at.isna() | ((imp.clicked_at >= imp.timestamp)
                                       & (imp.clicked_at <= imp.timestamp + pd.Timedelta(seconds=90)))]
    imp = imp.drop_duplicates(key + ["timestamp"])
    ctr = imp.assign(c=imp.clicked_at.notna()).groupby("position").c.agg(["sum", "count"])
    exam = big.truth.examination
    for positions in ([2], [3], [4, 5], [6, 7, 8]):
        sel = ctr.loc[positions]
        measured = (sel["sum"].sum() / sel["count"].sum()) / (ctr.loc[1, "sum"] / ctr.loc[1, "count"])
        true = exam[np.asarray(positions) - 1].mean() / exam[0]
        assert abs(measured / true - 1) < 0.1, (positions, measured, true)
