"""Text benchmark: review sentiment (Chinese, English) and behaviour-tuned item embeddings (cold start).

Run on demand (never in the test suite), from the repository root:

    nice -n 10 .venv/bin/python benchmarks/text.py            # everything, about 40 minutes on 2 cores
    nice -n 10 .venv/bin/python benchmarks/text.py --only en  # one part: zh, en or cold

Prints a table per part and writes ``benchmarks/results/text.json``. Every method is trained by
shelfwise's own code on the same seeded split, in the same process:

- Chinese: chinese-online-shopping-10-cats, split 80/20 stratified by category and label (seed 42); the
  test set is a stratified sample of ``--zh-test-rows`` of the held-out rows; per-category accuracy too.
- English: Amazon 5-core reviews (Magazine_Subscriptions, Gift_Cards), rating >= 4 positive, <= 2
  negative, 3 left out, split 75/25 stratified by label (seed 42).
- Methods: TF-IDF (word n-grams for English, character n-grams for Chinese) + logistic regression, the
  lexicon peer (VADER, SnowNLP), frozen encoder + logistic regression, full fine-tuning, LoRA, and the
  default model that ``shelfwise sentiment train`` builds.
- Cold start: the item cold-start protocol of ``benchmarks/recommend.py`` on UCI Online Retail (its store,
  cutoff -- the last 30 days -- and ``shelfwise.evaluate.split.cold_start_split``: a seeded fifth of the
  catalog loses every training event and only those items may be recommended). The content recommender
  (``shelfwise.recommend.content.Content``) ranks them with the untuned and with the behaviour-tuned
  encoder; NDCG@10 before and after, with a paired bootstrap interval. Tuning sees only the training
  events left after hiding, so it learns nothing about the hidden items.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shelfwise.text import sentiment  # noqa: E402
from shelfwise.text.classify import ClassifierOptions, TextClassifier, evaluate, train_classifier  # noqa: E402
from shelfwise.text.inputs import clean_texts  # noqa: E402

SEED = 42
# the baseline: plain TF-IDF n-grams + logistic regression (C chosen on validation, no label weighting)
BASELINE = {"zh": ClassifierOptions(method="tfidf", class_weight="none", analyzer="char"),
            "en": ClassifierOptions(method="tfidf", class_weight="none", analyzer="word")}
# English encoder methods (linear, full, lora) train on a seeded stratified subsample of this many rows,
# so that the run fits on a shared 2-core machine; TF-IDF and the default model see every training row
EN_ENCODER_ROWS = 2000
DATA = Path(os.environ.get("SHELFWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _split(labels: list[str], strata: list[str], test_size: float) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    return train_test_split(idx, test_size=test_size, random_state=SEED, stratify=strata)


def _run_method(name: str, opts: ClassifierOptions, tr: tuple[list[str], list[str]], te: tuple[list[str], list[str]],
                work: Path, groups: list[str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    report = train_classifier(tr[0], tr[1], work / name, opts)
    train_s = time.perf_counter() - start
    pred = TextClassifier.load(work / name).predict(te[0])
    row = {"method": name, **{k: v for k, v in evaluate(te[1], pred.labels).items() if k != "n"},
           "train_seconds": train_s, "train_rows": report.get("train_rows"),
           "texts_per_second": len(te[0]) / pred.seconds if pred.seconds else None,
           "trainable_share": report.get("trainable_share"), "trainable_params": report.get("trainable_params"),
           "encoder": report.get("encoder")}
    if groups is not None:
        row["per_category_accuracy"] = _per_group(te[1], pred.labels, groups)
    print(f"  {name}: accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}, "
          f"train {train_s:.0f}s", flush=True)
    return row


def _per_group(truth: list[str], pred: list[str], groups: list[str]) -> dict[str, float]:
    df = pd.DataFrame({"t": truth, "p": pred, "g": groups})
    return {g: float((d["t"] == d["p"]).mean()) for g, d in df.groupby("g")}


def _lexicon_row(name: str, scorer: Any, te: tuple[list[str], list[str]], groups: list[str] | None) -> dict[str, Any]:
    start = time.perf_counter()
    pred = [sentiment.POSITIVE if scorer(t) else sentiment.NEGATIVE for t in te[0]]
    secs = time.perf_counter() - start
    row = {"method": name, **{k: v for k, v in evaluate(te[1], pred).items() if k != "n"}, "train_seconds": 0.0,
           "train_rows": 0, "texts_per_second": len(pred) / secs, "trainable_share": 0.0, "trainable_params": 0}
    if groups is not None:
        row["per_category_accuracy"] = _per_group(te[1], pred, groups)
    print(f"  {name}: accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}", flush=True)
    return row


def _ratios(rows: list[dict[str, Any]]) -> None:
    base = next(r for r in rows if r["method"] == "tfidf")
    for r in rows:
        r["accuracy_minus_tfidf"] = r["accuracy"] - base["accuracy"]
        r["macro_f1_minus_tfidf"] = r["macro_f1"] - base["macro_f1"]
        r["macro_f1_ratio_to_tfidf"] = r["macro_f1"] / base["macro_f1"]


def _transformer_opts(method: str, lang: str) -> ClassifierOptions:
    zh = sentiment.DEFAULT_OPTIONS["zh"]
    if lang == "zh":
        return ClassifierOptions(method=method, max_train_rows=zh["max_train_rows"], epochs=zh["epochs"],
                                 max_length=zh["max_length"])
    return ClassifierOptions(method=method, class_weight="balanced", max_train_rows=EN_ENCODER_ROWS)


def chinese(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    raw, labels, cats = sentiment.load_chinese(DATA)
    texts, _ = clean_texts(raw)
    keep = [i for i, t in enumerate(texts) if t]
    texts, labels, cats = [texts[i] for i in keep], [labels[i] for i in keep], [cats[i] for i in keep]
    tr, te = _split(labels, [f"{c}|{y}" for c, y in zip(cats, labels)], 0.2)
    if args.zh_test_rows and len(te) > args.zh_test_rows:
        _, sample = _split([labels[i] for i in te], [f"{cats[i]}|{labels[i]}" for i in te],
                           args.zh_test_rows / len(te))
        te = te[sample]
    train = ([texts[i] for i in tr], [labels[i] for i in tr])
    test = ([texts[i] for i in te], [labels[i] for i in te])
    groups = [cats[i] for i in te]
    print(f"Chinese: {len(train[0]):,} train, {len(test[0]):,} test", flush=True)
    rows = [_run_method("tfidf", BASELINE["zh"], train, test, work / "zh", groups)]
    try:
        from snownlp import SnowNLP

        rows.append(_lexicon_row("snownlp", lambda t: SnowNLP(t).sentiments >= 0.5, test, groups))
    except ImportError:
        print("  snownlp is not installed: lexicon peer skipped")
    for method in args.methods:
        rows.append(_run_method(method, _transformer_opts(method, "zh"), train, test, work / "zh", groups))
    rows.append(_run_method("default", ClassifierOptions(**sentiment.DEFAULT_OPTIONS["zh"]), train, test,
                            work / "zh", groups))
    _ratios(rows)
    result = {"train_rows": len(train[0]), "test_rows": len(test[0]), "rows": rows}
    if args.zh_cross:
        result["cross_category"] = _cross_category(texts, labels, cats, work / "zh-cross")
    return result


HELD_OUT = ("酒店", "书籍", "水果")  # hotels, books, fruit


def _cross_category(texts: list[str], labels: list[str], cats: list[str], work: Path) -> dict[str, Any]:
    """Train on seven categories, test on the three held out: a stand-in for review sets never seen."""
    rng = np.random.default_rng(SEED)
    tr = [i for i, c in enumerate(cats) if c not in HELD_OUT]
    te = np.concatenate([rng.choice([i for i, c in enumerate(cats) if c == h], 700, replace=False) for h in HELD_OUT])
    train = ([texts[i] for i in tr], [labels[i] for i in tr])
    test = ([texts[i] for i in te], [labels[i] for i in te])
    groups = [cats[i] for i in te]
    print(f"Chinese, held-out categories {HELD_OUT}: {len(train[0]):,} train, {len(test[0]):,} test", flush=True)
    rows = [_run_method("tfidf", BASELINE["zh"], train, test, work, groups),
            _run_method("default", ClassifierOptions(**sentiment.DEFAULT_OPTIONS["zh"]), train, test, work, groups)]
    _ratios(rows)
    return {"held_out": list(HELD_OUT), "train_rows": len(train[0]), "test_rows": len(test[0]), "rows": rows}


def english(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    raw, labels = sentiment.load_amazon(DATA)
    texts, _ = clean_texts(raw)
    keep = [i for i, t in enumerate(texts) if t]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    tr, te = _split(labels, labels, 0.25)
    train = ([texts[i] for i in tr], [labels[i] for i in tr])
    test = ([texts[i] for i in te], [labels[i] for i in te])
    print(f"English: {len(train[0]):,} train, {len(test[0]):,} test, "
          f"{np.mean(np.asarray(test[1]) == 'positive'):.1%} positive", flush=True)
    rows = [_run_method("tfidf", BASELINE["en"], train, test, work / "en")]
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        rows.append(_lexicon_row("vader", lambda t: vader.polarity_scores(t)["compound"] >= 0.05, test, None))
    except ImportError:
        print("  vaderSentiment is not installed: lexicon peer skipped")
    rows.append(_run_method("default", ClassifierOptions(**sentiment.DEFAULT_OPTIONS["en"]), train, test, work / "en"))
    # is the default's gain only its label weighting? the same TF-IDF with balanced weights answers that
    rows.append(_run_method("tfidf_balanced", ClassifierOptions(method="tfidf", class_weight="balanced",
                                                                analyzer="word"), train, test, work / "en"))
    for method in args.methods:
        rows.append(_run_method(method, _transformer_opts(method, "en"), train, test, work / "en"))
        _ratios(rows)
        _save_partial(args, "english", {"train_rows": len(train[0]), "test_rows": len(test[0]), "rows": rows})
    _ratios(rows)
    return {"train_rows": len(train[0]), "test_rows": len(test[0]), "rows": rows}


# --- cold start -----------------------------------------------------------------------------------
def _events_frame(data: Any) -> pd.DataFrame:
    """The events of an Interactions as ids (what behaviour tuning reads), anonymous rows left out."""
    ev = data.events[data.events["user_idx"] >= 0]
    return pd.DataFrame({"timestamp": ev["timestamp"].to_numpy(),
                         "user_id": data.user_ids[ev["user_idx"].to_numpy()],
                         "item_id": data.item_ids[ev["item_idx"].to_numpy()],
                         "event": ev["event"].to_numpy(), "order_id": ev["order_id"].to_numpy(),
                         "session_id": ev["session_id"].to_numpy()})


def _content_run(name: str, split: Any, emb: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """The content recommender on ``split`` with the given item vectors: metrics and per-user NDCG@10."""
    from shelfwise.evaluate import metrics
    from shelfwise.recommend.content import Content
    from shelfwise.service.evaluate import recommend_lists

    model = Content(embeddings=emb)
    model.fit(split.train)
    recs = recommend_lists(model, split, 10)
    result = metrics.evaluate_lists(recs, split.relevant, split.catalog)
    per_user = metrics.per_user_accuracy(recs, split.relevant)["ndcg"]
    print(f"  {name}: NDCG@10 {result['ndcg@10']:.4f}", flush=True)
    return result, per_user


def cold_start(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The recommendation benchmark's item cold-start protocol, content recommendations before and after tuning."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import recommend as rb  # the recommendation benchmark: same store, cutoff, split and metrics

    from shelfwise.data.store import open_store
    from shelfwise.evaluate.split import cold_start_split, temporal_split
    from shelfwise.recommend.content import item_embeddings
    from shelfwise.text.behaviour import TuneParams, tune

    ds = rb.DATASETS["online-retail"]
    rb_work = Path(args.rb_work)
    rb_work.mkdir(parents=True, exist_ok=True)
    with open_store(rb.build_store(ds, rb_work)) as store:
        cut = rb.cutoff_of(store, ds.test_days)
        split = temporal_split(store, cut)
    cold = cold_start_split(split, rb.COLD_SHARE, rb.SEED)
    summary = rb._jsonable(cold.summary())
    print(f"cold start (online-retail, cutoff {cut:%Y-%m-%d}): {summary['candidate_items']:,} hidden items, "
          f"{summary['test_users']:,} test users", flush=True)
    # tuning sees only the training events that remain, i.e. none of a hidden item
    events = _events_frame(cold.train)
    items = cold.train.items[["item_id", "title", "description", "category", "brand"]]
    before_emb = item_embeddings(cold.train, None)
    before, before_users = _content_run("untuned encoder", cold, before_emb)
    params = TuneParams(max_pairs=args.pairs)
    start = time.perf_counter()
    report = tune(items, events, work / "item_encoder", params=params)
    tune_s = time.perf_counter() - start
    after_emb = item_embeddings(cold.train, str(work / "item_encoder"))
    after, after_users = _content_run("tuned encoder", cold, after_emb)
    ratio = after["ndcg@10"] / max(before["ndcg@10"], 1e-12)
    lo, hi = rb.paired_ratio_ci(after_users, before_users)
    print(f"  tuned / untuned NDCG@10: {ratio:.3f} (95% CI {lo:.3f}-{hi:.3f}), tuning {tune_s:.0f}s", flush=True)
    return {"dataset": "online-retail", "protocol": "benchmarks/recommend.py cold protocol "
            "(shelfwise.evaluate.split.cold_start_split)", "cutoff": cut.isoformat(), "split": summary,
            "untuned": rb._jsonable(before), "tuned": rb._jsonable(after),
            "ndcg10_untuned": before["ndcg@10"], "ndcg10_tuned": after["ndcg@10"],
            "tuned_over_untuned": ratio, "ratio_ci95": [lo, hi], "tune_seconds": tune_s,
            "tune_params": rb._jsonable(params.__dict__), "tune_report": report}


def _save_partial(args: argparse.Namespace, key: str, part: dict[str, Any]) -> None:
    """Write what a part has so far, so that a run cut short still leaves its finished rows."""
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[key] = {**part, "partial": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'method':<10}{'accuracy':>10}{'macro-F1':>10}{'dF1 vs tfidf':>14}{'dAcc vs tfidf':>15}"
          f"{'train s':>9}{'texts/s':>9}{'trainable':>11}")
    for r in rows:
        share = r.get("trainable_share")
        print(f"{r['method']:<10}{r['accuracy']:>10.4f}{r['macro_f1']:>10.4f}{r['macro_f1_minus_tfidf']:>+14.4f}"
              f"{r['accuracy_minus_tfidf']:>+15.4f}{r['train_seconds']:>9.0f}{(r['texts_per_second'] or 0):>9.0f}"
              f"{(f'{share:.2%}' if share is not None else '-'):>11}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="zh,en,cold", help="comma-separated parts: zh, en, cold")
    ap.add_argument("--methods", default="linear,full,lora", help="encoder methods to run besides tfidf and default")
    ap.add_argument("--zh-test-rows", type=int, default=5000, help="Chinese test rows (stratified sample; 0 = all)")
    ap.add_argument("--no-zh-cross", dest="zh_cross", action="store_false",
                    help="skip the held-out-category run of the Chinese part")
    ap.add_argument("--pairs", type=int, default=20_000, help="co-purchase pairs for behaviour tuning")
    ap.add_argument("--rb-work", default="/tmp/shelfwise-bench-text",
                    help="where the Online Retail shop and store are kept between runs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "text.json"))
    args = ap.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    parts = set(args.only.split(","))
    out_path = Path(args.out)
    results: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("SHELFWISE_MODEL_DIR", str(work / "models"))
        for part, key, fn in (("zh", "chinese", chinese), ("en", "english", english), ("cold", "cold_start", cold_start)):
            if part in parts:
                results[key] = fn(args, work)
                out_path.parent.mkdir(parents=True, exist_ok=True)
                out_path.write_text(json.dumps(results, indent=2, default=str))  # kept if a later part fails
    results["machine"] = {"cpus": os.cpu_count(), "torch_threads": __import__("torch").get_num_threads()}
    if "chinese" in results:
        _print_table("Chinese (chinese-online-shopping-10-cats)", results["chinese"]["rows"])
        if "cross_category" in results["chinese"]:
            _print_table("Chinese, trained without hotels/books/fruit, tested on them",
                         results["chinese"]["cross_category"]["rows"])
    if "english" in results:
        _print_table("English (Amazon 5-core)", results["english"]["rows"])
    if "cold_start" in results:
        c = results["cold_start"]
        print(f"\ncold start NDCG@10 (content recommendations): untuned {c['ndcg10_untuned']:.4f}, "
              f"tuned {c['ndcg10_tuned']:.4f} (x{c['tuned_over_untuned']:.3f})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
