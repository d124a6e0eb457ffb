"""Experiment benchmark: off-policy evaluation and learning, and position bias, on the Open Bandit Dataset;
A/B analysis on the Hillstrom e-mail test.

Run on demand (never in the test suite), from the repository root:

    nice -n 10 .venv/bin/python benchmarks/experiment.py          # about a minute on 2 cores

Prints a table per part and writes ``benchmarks/results/experiment.json``.

- OPE validation: each OBD policy/campaign folder is converted with ``shelfwise datasets convert
  open-bandit`` (through ``shelfwise.service.datasets``) and ingested into its own store. From the
  Bernoulli-TS logs the uniform-random policy's CTR is estimated (IPW, SNIPW, DM, DR, with 95% cluster-
  bootstrap intervals) and compared with the CTR logged under the uniform-random policy itself. The
  baseline is no correction at all (the BTS logs' own CTR taken as the answer); errors are also given as
  ratios to the baseline's error.
- Position bias: attention by position from the random logs (CTR ratio) and from the BTS logs (PBM by EM).
- Off-policy learning: an IPW policy learned on half of the BTS displays, estimated on the other half,
  beside the uniform policy and the BTS policy's own CTR on the same displays.
- Hillstrom: ``shelfwise experiment analyze`` figures against the published ones, and its p-values against
  SciPy computed directly in the same process (and the time each takes).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shelfwise.data.ingest import ingest  # noqa: E402
from shelfwise.data.store import open_store  # noqa: E402
from shelfwise.service import datasets  # noqa: E402
from shelfwise.service import experiment as svc  # noqa: E402

DATA = Path(os.environ.get("SHELFWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))
CAMPAIGNS = ("all", "men", "women")
CONTEXT = ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"]
RESAMPLES = 2000


def _stores(work: Path) -> dict[tuple[str, str], str]:
    urls = {}
    for policy in ("bts", "random"):
        for campaign in CAMPAIGNS:
            shop = work / f"{policy}-{campaign}"
            datasets.convert_dataset("open-bandit", DATA / "open-bandit-dataset" / policy / campaign, shop)
            urls[policy, campaign] = f"duckdb:///{work / f'{policy}-{campaign}.duckdb'}"
            with open_store(urls[policy, campaign]) as store:
                ingest(shop, store)
    return urls


def ope_validation(urls: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    rows = []
    for campaign in CAMPAIGNS:
        truth = svc.ope(urls["random", campaign], "uniform", resamples=RESAMPLES)["logged"]
        for context in ([], CONTEXT):
            t0 = time.perf_counter()
            res = svc.ope(urls["bts", campaign], "uniform", context=context, resamples=RESAMPLES)
            seconds = time.perf_counter() - t0
            naive = res["logged"]["value"]
            naive_err = naive / truth["value"] - 1
            estimators = dict(res["estimators"])
            if context:  # IPW and SNIPW do not use the context: report them once
                estimators = {k: v for k, v in estimators.items() if k in ("dm", "dr")}
            for name, est in estimators.items():
                err = est["value"] / truth["value"] - 1
                rows.append({"campaign": campaign, "estimator": name + ("+ctx" if context else ""),
                             "estimate": est["value"], "ci_low": est["ci_low"], "ci_high": est["ci_high"],
                             "truth": truth["value"], "truth_ci_low": truth["ci_low"], "truth_ci_high": truth["ci_high"],
                             "relative_error": err, "covers_truth": est["ci_low"] <= truth["value"] <= est["ci_high"],
                             "error_vs_no_correction": abs(err) / abs(naive_err) if naive_err else float("nan"),
                             "seconds": seconds, "ess": res["diagnostics"]["effective_sample_size"],
                             "max_weight": res["diagnostics"]["max_weight"]})
            if not context:
                rows.append({"campaign": campaign, "estimator": "no correction (BTS CTR)", "estimate": naive,
                             "ci_low": res["logged"]["ci_low"], "ci_high": res["logged"]["ci_high"],
                             "truth": truth["value"], "truth_ci_low": truth["ci_low"],
                             "truth_ci_high": truth["ci_high"], "relative_error": naive_err,
                             "covers_truth": res["logged"]["ci_low"] <= truth["value"] <= res["logged"]["ci_high"],
                             "error_vs_no_correction": 1.0, "seconds": 0.0, "ess": float("nan"),
                             "max_weight": float("nan")})
    return rows


def position_bias(urls: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    rows = []
    for campaign in CAMPAIGNS:
        t0 = time.perf_counter()
        rnd = svc.position_bias(urls["random", campaign], method="randomised", resamples=RESAMPLES)
        t1 = time.perf_counter()
        em = svc.position_bias(urls["bts", campaign], method="pbm", resamples=200)
        t2 = time.perf_counter()
        for k, pos in enumerate(rnd["positions"]):
            rows.append({"campaign": campaign, "position": pos,
                         "randomised": rnd["attention"][k], "randomised_low": rnd["ci_low"][k],
                         "randomised_high": rnd["ci_high"][k], "pbm_em": em["attention"][k],
                         "pbm_low": em["ci_low"][k], "pbm_high": em["ci_high"][k],
                         "intervals_overlap": max(rnd["ci_low"][k], em["ci_low"][k]) <= min(rnd["ci_high"][k], em["ci_high"][k]),
                         "seconds_randomised": t1 - t0, "seconds_pbm": t2 - t1, "em_iterations": em["iterations"]})
    return rows


def learning(urls: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    rows = []
    for campaign in CAMPAIGNS:
        for context in ([], CONTEXT):
            for greedy in (False, True):
                res = svc.learn(urls["bts", campaign], context=context, greedy=greedy, resamples=RESAMPLES)
                row: dict[str, Any] = {"campaign": campaign, "context": bool(context), "greedy": greedy,
                                       "logged": res["logged"]["value"]}
                for name in ("learned", "uniform"):
                    for est in ("snipw", "dr"):
                        v = res[name]["estimators"][est]
                        row[f"{name}_{est}"] = v["value"]
                        row[f"{name}_{est}_ci"] = [v["ci_low"], v["ci_high"]]
                row["learned_over_uniform_snipw"] = row["learned_snipw"] / row["uniform_snipw"]
                row["learned_over_logged_snipw"] = row["learned_snipw"] / row["logged"]
                rows.append(row)
    return rows


PUBLISHED = {"Mens E-Mail": {"visit": 0.183, "conversion": 0.0125, "spend": 1.42},
             "Womens E-Mail": {"visit": 0.151, "conversion": 0.0088, "spend": 1.08},
             "No E-Mail": {"visit": 0.106, "conversion": 0.0057, "spend": 0.65}}


def hillstrom() -> dict[str, Any]:
    import pandas as pd
    from scipy import stats

    path = DATA / "hillstrom-email-ab-test" / "hillstrom.csv.gz"
    t0 = time.perf_counter()
    res = svc.analyze(path, "segment", "No E-Mail", ["visit", "conversion", "spend"])
    ours = time.perf_counter() - t0
    cuped = svc.analyze(path, "segment", "No E-Mail", ["visit", "conversion", "spend"], covariate="history")
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    ref = {}
    ctl = df[df["segment"] == "No E-Mail"]
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        t = df[df["segment"] == arm]
        for m in ("visit", "conversion"):
            table = [[t[m].sum(), len(t) - t[m].sum()], [ctl[m].sum(), len(ctl) - ctl[m].sum()]]
            ref[arm, m] = stats.chi2_contingency(table, correction=False)[1]
        ref[arm, "spend"] = stats.ttest_ind(t["spend"], ctl["spend"], equal_var=False).pvalue
    scipy_seconds = time.perf_counter() - t0
    arms = {a: {m: {"ours": res["arms"][a][m]["mean"], "published": PUBLISHED[a][m],
                    "matches_rounded": round(res["arms"][a][m]["mean"], 3 if m == "visit" else 4 if m == "conversion" else 2)
                    == PUBLISHED[a][m]} for m in PUBLISHED[a]} for a in PUBLISHED}
    comps = []
    for c, cc in zip(res["comparisons"], cuped["comparisons"]):
        p_ref = ref[c["arm"], c["metric"]]
        comps.append({"arm": c["arm"], "metric": c["metric"], "test": c["test"], "lift_abs": c["lift_abs"],
                      "lift_rel": c["lift_rel"], "ci": [c["ci_low"], c["ci_high"]], "p_value": c["p_value"],
                      "p_scipy": p_ref, "abs_diff": abs(c["p_value"] - p_ref), "p_holm": c["p_value_adjusted"],
                      "cuped_variance_reduction": cc["variance_reduction"],
                      "cuped_ci_width_ratio": (cc["ci_high"] - cc["ci_low"]) / (c["ci_high"] - c["ci_low"])})
    return {"arms": arms, "comparisons": comps, "srm_p_value": res["srm_p_value"], "seconds_shelfwise": ours,
            "seconds_scipy_direct": scipy_seconds, "time_ratio": ours / scipy_seconds,
            "max_abs_p_diff": max(c["abs_diff"] for c in comps)}


def _print_table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> None:
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.5g}"
        return str(v)

    print(f"\n{title}")
    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def main() -> None:
    logging.getLogger("shelfwise").setLevel(logging.ERROR)
    out: dict[str, Any] = {"resamples": RESAMPLES, "data": str(DATA)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        urls = _stores(Path(tmp))
        out["convert_and_ingest_seconds"] = time.perf_counter() - t0
        out["ope"] = ope_validation(urls)
        _print_table("OPE: uniform-random CTR estimated from the Bernoulli-TS logs vs the CTR logged under it",
                     out["ope"], ["campaign", "estimator", "estimate", "ci_low", "ci_high", "truth",
                                  "relative_error", "covers_truth", "error_vs_no_correction", "ess"])
        out["position_bias"] = position_bias(urls)
        _print_table("Position bias: attention relative to position 1", out["position_bias"],
                     ["campaign", "position", "randomised", "randomised_low", "randomised_high", "pbm_em", "pbm_low",
                      "pbm_high", "intervals_overlap"])
        out["learning"] = learning(urls)
        _print_table("Off-policy learning: click rate per slot on held-out BTS displays", out["learning"],
                     ["campaign", "context", "greedy", "logged", "learned_snipw", "uniform_snipw", "learned_dr",
                      "uniform_dr", "learned_over_uniform_snipw", "learned_over_logged_snipw"])
    out["hillstrom"] = hillstrom()
    h = out["hillstrom"]
    _print_table("Hillstrom: per-arm means against the published figures",
                 [{"arm": a, "metric": m, **v} for a, ms in h["arms"].items() for m, v in ms.items()],
                 ["arm", "metric", "ours", "published", "matches_rounded"])
    _print_table("Hillstrom: against No E-Mail (p-values vs SciPy computed directly)", h["comparisons"],
                 ["arm", "metric", "test", "lift_abs", "lift_rel", "p_value", "p_scipy", "abs_diff", "p_holm",
                  "cuped_variance_reduction", "cuped_ci_width_ratio"])
    print(f"\nSRM p = {h['srm_p_value']:.4f}; max |p - p_scipy| = {h['max_abs_p_diff']:.2e}; analyze took "
          f"{h['seconds_shelfwise']:.2f} s vs {h['seconds_scipy_direct']:.2f} s for SciPy alone "
          f"(ratio {h['time_ratio']:.2f}, includes reading the file)")
    dest = ROOT / "benchmarks" / "results" / "experiment.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(f"\nwrote {dest}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
