"""Quality on real data: the Open Bandit Dataset (position bias, off-policy evaluation) and Hillstrom (A/B).

The OBD sample has about 40-70 clicks per 10,000 impressions, so the floors are what that much data can
support: overlapping intervals, coverage, and a relative error bound (the "truth" itself, the logged CTR
of the uniform-random policy, has a standard error of about 16%).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.experiment.tables import read_table
from shelfwise.service import datasets
from shelfwise.service import experiment as svc

CAMPAIGNS = ("all", "men", "women")


@pytest.fixture(scope="module")
def obd(shared_data, tmp_path_factory):
    """Each policy/campaign folder converted with the adapter and ingested into its own store."""
    root = tmp_path_factory.mktemp("obd")
    urls = {}
    for policy in ("bts", "random"):
        for campaign in CAMPAIGNS:
            shop = root / f"{policy}-{campaign}"
            datasets.convert_dataset("open-bandit", shared_data / "open-bandit-dataset" / policy / campaign, shop)
            urls[policy, campaign] = f"duckdb:///{root / f'{policy}-{campaign}.duckdb'}"
            with open_store(urls[policy, campaign]) as store:
                ingest(shop, store)
    return urls


@pytest.mark.slow
def test_obd_position_bias_randomised_and_em_agree(obd):
    for campaign in CAMPAIGNS:
        rnd = svc.position_bias(obd["random", campaign], method="randomised", resamples=1000)
        em = svc.position_bias(obd["bts", campaign], method="pbm", resamples=100)
        assert rnd["positions"] == em["positions"] == [1, 2, 3]
        assert em["converged"]
        for k in (1, 2):
            assert max(rnd["ci_low"][k], em["ci_low"][k]) <= min(rnd["ci_high"][k], em["ci_high"][k]), (campaign, k)


@pytest.mark.slow
def test_obd_uniform_ctr_from_bts_logs(obd):
    for campaign in CAMPAIGNS:
        with open_store(obd["random", campaign], read_only=True) as store:
            truth = store.query("""SELECT count(*) FILTER (WHERE event = 'click') * 1.0
                                          / count(*) FILTER (WHERE event = 'impression') FROM events""").column(0)[0].as_py()
        est = svc.ope(obd["bts", campaign], "uniform", resamples=2000)["estimators"]
        for name in ("ipw", "snipw"):
            assert est[name]["ci_low"] <= truth <= est[name]["ci_high"], (campaign, name, est[name], truth)
        assert abs(est["snipw"]["value"] / truth - 1) < 0.6, (campaign, est["snipw"], truth)


PUBLISHED = {"Mens E-Mail": (0.183, 0.0125, 1.42), "Womens E-Mail": (0.151, 0.0088, 1.08),
             "No E-Mail": (0.106, 0.0057, 0.65)}


@pytest.mark.slow
def test_hillstrom_matches_published_figures_and_scipy(shared_data):
    path = shared_data / "hillstrom-email-ab-test" / "hillstrom.csv.gz"
    res = svc.analyze(path, "segment", "No E-Mail", ["visit", "conversion", "spend"])
    for arm, (visit, conv, spend) in PUBLISHED.items():
        figures = res["arms"][arm]
        assert round(figures["visit"]["mean"], 3) == visit
        assert round(figures["conversion"]["mean"], 4) == conv
        assert round(figures["spend"]["mean"], 2) == spend
    assert res["arms"]["Mens E-Mail"]["visit"]["n"] == 21307
    df = read_table(path)
    seg = df["segment"].to_numpy()
    for c in res["comparisons"]:
        y = df[c["metric"]].astype(float).to_numpy()
        t, ctl = y[seg == c["arm"]], y[seg == "No E-Mail"]
        if c["metric"] == "spend":
            p = stats.ttest_ind(t, ctl, equal_var=False).pvalue
        else:
            p = stats.chi2_contingency([[t.sum(), t.size - t.sum()], [ctl.sum(), ctl.size - ctl.sum()]],
                                       correction=False)[1]
        assert abs(c["p_value"] - p) <= 1e-6 * max(1.0, p) and c["p_value"] == pytest.approx(p, rel=1e-6)
    assert res["srm_p_value"] > 0.05
    assert np.all([c["p_value_adjusted"] >= c["p_value"] for c in res["comparisons"]])
