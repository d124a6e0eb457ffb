"""Demo steps of the recommender: an honest offline evaluation, then the model set the API serves.

"evaluate recommendations" splits the demo shop at a global cutoff (the last ``TEST_DAYS`` days are
the test), fits shelfwise's hybrid and the peers (popularity, buy-again, implicit ALS, implicit
item-kNN) on the events before it, ranks the whole catalog for every test user and reports the
metrics of :mod:`shelfwise.evaluate.metrics` side by side. "train recommender" then fits the hybrid on
all events and saves it under ``OUT/models`` (``ctx.state["recommend"]`` says where), so later steps
and ``shelfwise serve`` have a model to use. Both bound the ranker's training users so that the demo
stays within its minute or two.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from ...errors import InputError, ShelfwiseError
from ...evaluate.split import temporal_split
from ...logs import get_logger
from .. import evaluate as evaluate_service
from .. import recommend as recommend_service
from ..demo import DemoContext, DemoStep

log = get_logger(__name__)

ORDER = 20
TEST_DAYS = 14
K = 10
MAX_TRAIN_USERS = 1500  # ranker training queries: enough for the demo shop, and quick
MODELS = ("shelfwise", "popularity", "buy-again", "implicit-als", "implicit-bm25")
COLUMNS = (f"ndcg@{K}", f"recall@{K}", f"mrr@{K}", f"hit_rate@{K}", "coverage", "gini", "aplt", "novelty",
           f"cold_recall@{K}")


def _span(ctx: DemoContext) -> tuple[datetime, datetime]:
    row = ctx.require_store().query("SELECT min(timestamp) AS a, max(timestamp) AS b FROM events").to_pylist()[0]
    if row["a"] is None:  # a demo shop too small to have any event (--users 1 --days 1)
        raise InputError("the demo shop has no events to learn from")
    return row["a"], row["b"]


def _cutoff(ctx: DemoContext) -> datetime:
    last = _span(ctx)[1]
    return datetime(last.year, last.month, last.day) - timedelta(days=TEST_DAYS)


def _label_days(first: datetime, until: datetime) -> int:
    """The ranker's label window: 28 days, or half the history when the shop is shorter (``--days``)."""
    return int(max(3, min(28, (until - first).days // 2)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if v != v else f"{v:.3f}"
    return str(v)


def _evaluate(ctx: DemoContext) -> str:
    try:
        return _run_evaluation(ctx)
    except ShelfwiseError as exc:  # a shop too small or too short for the protocol: say so, go on
        ctx.report.section("Recommendations: offline evaluation").text(f"Skipped: {exc}")
        return f"skipped: {exc}"


def _run_evaluation(ctx: DemoContext) -> str:
    store = ctx.require_store()
    cutoff = _cutoff(ctx)
    split = temporal_split(store, cutoff)
    results: dict[str, dict[str, Any]] = {}
    hybrid = {"max_train_users": MAX_TRAIN_USERS, "label_days": _label_days(_span(ctx)[0], cutoff)}
    for name in MODELS:
        params = hybrid if name == "shelfwise" else {}
        model = evaluate_service.make_model(name, store, **params)
        results[name] = evaluate_service.fit_and_score(model, split, K)
    best_peer = max((m for m in MODELS if m != "shelfwise"), key=lambda m: results[m][f"ndcg@{K}"])
    ratio = results["shelfwise"][f"ndcg@{K}"] / max(results[best_peer][f"ndcg@{K}"], 1e-12)
    ctx.state["recommend_eval"] = {"cutoff": cutoff.isoformat(), "split": split.summary(), "models": results,
                                   "best_peer": best_peer, "ratio": ratio}
    ctx.figures[f"recommendation NDCG@{K}"] = f"{results['shelfwise'][f'ndcg@{K}']:.3f} ({ratio:.2f}× {best_peer})"
    s = split.summary()
    sec = ctx.report.section("Recommendations: offline evaluation")
    sec.text(f"Every model was fitted on the events before {cutoff:%Y-%m-%d} and ranked the whole catalog of "
             f"{s['catalog_items']:,} items for the {s['test_users']:,} users who had events before then and bought "
             f"after it; relevance is what each bought in the last {TEST_DAYS} days. shelfwise merges its candidate "
             "generators with a LightGBM ranker trained on a window inside the training part only. Cold recall "
             "counts the purchases of items that had no training events at all.")
    sec.figures({"test users": s["test_users"], "test purchases (user, item)": s["test_pairs"],
                 "items without training events": s["cold_items"],
                 f"shelfwise NDCG@{K} / best peer ({best_peer})": f"{ratio:.2f}×"})
    rows = [[name, *(_fmt(results[name][c]) for c in COLUMNS), f"{results[name]['fit_s']:.1f}"] for name in MODELS]
    sec.table(["model", *COLUMNS, "fit s"], rows,
              caption=f"K = {K}; accuracy metrics are means over test users; coverage, Gini (of exposure), APLT "
                      "(long-tail share) and novelty describe the lists as a whole.")
    return (f"NDCG@{K} shelfwise {results['shelfwise'][f'ndcg@{K}']:.3f}, best peer {best_peer} "
            f"{results[best_peer][f'ndcg@{K}']:.3f} ({ratio:.2f}×) over {s['test_users']:,} test users")


def _train(ctx: DemoContext) -> str:
    t = time.perf_counter()
    model_dir = ctx.out_dir / "models"
    first, last = _span(ctx)
    try:
        result = recommend_service.train_store(ctx.require_store(), model_dir, max_train_users=MAX_TRAIN_USERS,
                                               label_days=_label_days(first, last), meta={"db": str(ctx.db_path)})
    except ShelfwiseError as exc:
        ctx.report.section("Recommendations: the model set").text(f"Not trained: {exc}")
        return f"skipped: {exc}"
    ctx.state["recommend"] = {"model_dir": str(model_dir), "version": result.version, "path": str(result.path)}
    sample_user = str(ctx.require_store().query(
        "SELECT user_id FROM events WHERE event = 'purchase' AND user_id IS NOT NULL "
        "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").to_pylist()[0]["user_id"])
    model = recommend_service.load(model_dir, result.version)
    ids, scores = model.recommend(sample_user, k=5)  # the store is open here; the model holds every event
    ctx.state["recommend_model"] = model  # loaded, for later steps that need candidate lists
    sec = ctx.report.section("Recommendations: the model set")
    sec.text(f"The hybrid was trained on all {result.events:,} events and saved as version {result.version} in "
             f"{model_dir} (JSON, .npy and LightGBM text files; no pickle). `shelfwise recommend --user ID` and "
             "the API serve it; users without history get what is popular now, and become personal with their "
             "first events.")
    sec.table(["rank", "item_id", "score"], [[r, i, f"{sc:.3f}"] for r, (i, sc) in enumerate(zip(ids, scores), 1) if i is not None],
              caption=f"top 5 for the most frequent buyer, user {sample_user}")
    return f"model set {result.version}: {result.users:,} users, {result.items:,} items in {time.perf_counter() - t:.1f}s"


STEPS = [
    DemoStep("evaluate recommendations", "fit shelfwise and four peers before a cutoff; score the last two weeks",
             _evaluate),
    DemoStep("train recommender", "fit the hybrid on every event and save the model set the API serves", _train),
]
