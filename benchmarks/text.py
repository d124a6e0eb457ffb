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
- Cold start: UCI Online Retail; events before 2011-10-01 train, the rest test; a seeded fifth of the
  catalog loses its history; for test users (a training purchase, and a test purchase of a cold item)
  only the cold items are ranked, by cosine between the user's mean purchased-item vector and the item
  vector; NDCG@10 before and after behaviour tuning (pairs from training baskets only).
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
    return ClassifierOptions(method=method, class_weight="balanced")


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
    for method in args.methods:
        rows.append(_run_method(method, _transformer_opts(method, "en"), train, test, work / "en"))
    rows.append(_run_method("default", ClassifierOptions(**sentiment.DEFAULT_OPTIONS["en"]), train, test, work / "en"))
    _ratios(rows)
    return {"train_rows": len(train[0]), "test_rows": len(test[0]), "rows": rows}


# --- cold start -----------------------------------------------------------------------------------
def _online_retail() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(DATA / "uci-online-retail" / "online_retail.csv.gz", dtype={"CustomerID": str, "StockCode": str,
                                                                                 "InvoiceNo": str})
    df = df[df["CustomerID"].notna() & ~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0)
            & (df["UnitPrice"] > 0) & df["StockCode"].str[0].str.isdigit() & df["Description"].notna()]
    events = pd.DataFrame({"timestamp": pd.to_datetime(df["InvoiceDate"]), "user_id": df["CustomerID"].str.replace(".0", "", regex=False),
                           "item_id": df["StockCode"], "event": "purchase", "order_id": df["InvoiceNo"],
                           "session_id": None})
    titles = df.groupby("StockCode")["Description"].agg(lambda s: s.value_counts().index[0])
    items = pd.DataFrame({"item_id": titles.index, "title": titles.str.strip().str.lower().values,
                          "description": None, "category": None, "brand": None})
    return items, events


def cold_start(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from shelfwise.text.behaviour import TuneParams, tune
    from shelfwise.text.coldstart import cold_start_split, ndcg_at_k, random_ndcg_at_k
    from shelfwise.text.encoder import Encoder

    items, events = _online_retail()
    split = cold_start_split(items, events, "2011-10-01", share=0.2, seed=SEED)
    print(f"cold start: {events['item_id'].nunique():,} items, {len(split.cold_ids):,} cold, "
          f"{len(split.users):,} test users", flush=True)
    before = ndcg_at_k(split, Encoder(None, max_length=64).encode)
    print(f"  untuned encoder: NDCG@10 {before:.4f}", flush=True)
    start = time.perf_counter()
    report = tune(items, split.train_events, work / "item_encoder", params=TuneParams(max_pairs=args.pairs))
    tune_s = time.perf_counter() - start
    after = ndcg_at_k(split, Encoder(str(work / "item_encoder"), max_length=64).encode)
    print(f"  tuned encoder: NDCG@10 {after:.4f} ({after / before - 1:+.1%}), tuning {tune_s:.0f}s", flush=True)
    return {"items": int(events["item_id"].nunique()), "cold_items": int(len(split.cold_ids)),
            "test_users": len(split.users), "ndcg10_random": random_ndcg_at_k(split), "ndcg10_untuned": before,
            "ndcg10_tuned": after, "tuned_over_untuned": after / before, "tune_seconds": tune_s,
            "tune_report": report}


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
        print(f"\ncold start NDCG@10: random {c['ndcg10_random']:.4f}, untuned {c['ndcg10_untuned']:.4f}, "
              f"tuned {c['ndcg10_tuned']:.4f} (x{c['tuned_over_untuned']:.3f})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
