"""The hybrid: candidates from every generator, ranked by a LightGBM lambdarank model.

Training never looks at the future. The last ``label_days`` of the training data are held back: the
generators and features are fitted on the events before that cut, the purchases after it are the
labels, and the ranker learns to put those first. Then every generator is refitted on all the data for
serving. Raw ranker scores are mapped to purchase probabilities (Platt scaling on held-out users), so
scores of warm items and of new items from :class:`~.cold.ColdItems` can share one list. Users with
no history get popular items; as soon as they have events (``partial_fit``, or ``recent_events`` at
request time) they go through the ranker like everybody else.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..artifacts import load_json, save_json
from ..config import get_settings
from ..errors import InputError
from ..logs import get_logger
from ..progress import task
from .als import ALS
from .buy_again import BuyAgain
from .candidates import build_pairs, feature_names
from .cold import ColdItems
from .launch import new_item_mask
from .content import Content, item_embeddings
from .covisit import CoVisit
from .fallback import MIN_VALID_QUERIES, choose_fallback, fallback_score, out_of_fold, with_tie_break
from .features import ItemStats
from .generator import HistoryRecommender
from .history import History
from .itemknn import ItemKNN
from .labels import MIN_LABEL_BUYERS, label_cut, label_events
from .popular import Popular, Trending

log = get_logger(__name__)

#: how many candidates each generator contributes per user
DEFAULT_DEPTH: dict[str, int] = {"buy_again": 200, "covisit": 100, "itemknn": 100, "als": 100, "content": 50,
                                 "popular": 50, "trending": 30}

# A pointwise (binary) objective with strong regularisation ranked best on Online Retail's time split
# (NDCG@10 0.392 against 0.384 for lambdarank with the same features; mean of three seeds), trains in
# fewer rounds and gives scores that Platt scaling turns into purchase probabilities directly.
LGBM_PARAMS: dict[str, Any] = {
    "metric": "ndcg", "eval_at": [10], "learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 500,
    "lambda_l2": 30.0, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
}


def make_generators(encoder: str | None, embeddings: np.ndarray | None) -> dict[str, HistoryRecommender]:
    """The candidate generators of the hybrid, unfitted."""
    return {"buy_again": BuyAgain(), "covisit": CoVisit(), "itemknn": ItemKNN(), "als": ALS(),
            "content": Content(encoder=encoder, embeddings=embeddings), "popular": Popular(), "trending": Trending()}


class Hybrid(HistoryRecommender):
    """Merges the generators' candidates with a learning-to-rank model; new items via :class:`ColdItems`.

    ``label_days``: the held-back window that supplies the ranker's labels. ``max_train_users``:
    at most this many users (sampled) form the training queries, to bound training time.
    ``cold``: also train the new-item model. ``store``: caches text embeddings.
    """

    name: ClassVar[str] = "hybrid"

    def __init__(self, label_days: int = 28, max_train_users: int = 3000, rounds: int = 300,
                 depth: dict[str, int] | None = None, encoder: str | None = None, cold: bool = True,
                 seed: int = 42, objective: str = "binary", shortlist: int = 100, store: Any = None,
                 embeddings: np.ndarray | None = None) -> None:
        super().__init__(label_days=label_days, max_train_users=max_train_users, rounds=rounds,
                         depth=depth or dict(DEFAULT_DEPTH), encoder=encoder, cold=cold, seed=seed,
                         objective=objective, shortlist=shortlist)
        self.objective, self.shortlist = objective, shortlist
        self.label_days, self.max_train_users, self.rounds = label_days, max_train_users, rounds
        self.depth = depth or dict(DEFAULT_DEPTH)
        self.encoder, self.cold, self.seed = encoder, cold, seed
        self.store, self.embeddings = store, embeddings

    # --- training -----------------------------------------------------------------------------
    def _fit(self, data: Any) -> None:
        start = time.perf_counter()
        emb = self.embeddings if self.embeddings is not None else item_embeddings(data, self.encoder, self.store)
        has_text = np.any(emb != 0, axis=1)
        self.timings_: dict[str, float] = {"embeddings": time.perf_counter() - start}
        cut = label_cut(data.events, data.now, self.label_days)  # the last label_days, fitted to the shop
        label_days = (data.now - cut).total_seconds() / 86400.0
        past = data.restrict(cut)
        past_history = History.from_interactions(past)
        with task("training the ranker", total=4) as bar:
            gens = self._fit_generators(past, past_history, emb)
            bar.advance()
            stats = ItemStats.compute(past, past_history, has_text)
            self.train_report_ = self._train_ranker(data, cut, gens, past_history, stats)
            bar.advance()
            t = time.perf_counter()
            self.generators_ = self._fit_generators(data, self.history_, emb)
            self.stats_ = ItemStats.compute(data, self.history_, has_text)
            self.timings_["refit"] = time.perf_counter() - t
            bar.advance()
            self.cold_: ColdItems | None = None
            if self.cold:
                t = time.perf_counter()
                self.cold_ = ColdItems(encoder=self.encoder, label_days=label_days, seed=self.seed,
                                       embeddings=emb)
                self.cold_.fit(data, history=self.history_)
                self.timings_["cold"] = time.perf_counter() - t
            bar.advance()
        self.timings_["total"] = time.perf_counter() - start
        log.info("hybrid trained in %.1fs (%s)", self.timings_["total"],
                 ", ".join(f"{k} {v:.1f}s" for k, v in self.timings_.items()))

    def _fit_generators(self, data: Any, history: History, emb: np.ndarray) -> dict[str, HistoryRecommender]:
        gens = make_generators(self.encoder, emb)
        for name, gen in gens.items():
            t = time.perf_counter()
            gen.fit(data, history=history)
            self.timings_[f"fit_{name}"] = self.timings_.get(f"fit_{name}", 0.0) + time.perf_counter() - t
        return gens

    def _train_ranker(self, data: Any, cut: Any, gens: dict[str, HistoryRecommender], history: History,
                      stats: ItemStats) -> dict[str, Any]:
        t = time.perf_counter()
        x, y, group, report = self._training_pairs(data, cut, gens, history, stats)
        self.timings_["features"] = time.perf_counter() - t
        t = time.perf_counter()
        self.feature_names_ = feature_names(gens)
        self.booster_, self.calibration_, fit_report = fit_ranker(x, y, group, self.feature_names_, self.rounds,
                                                                  self.seed, self.objective)
        self.calibration_["prior"] = report["prior"]
        self.fallback_: str | None = None if fit_report["serves"] == "ranker" else fit_report["serves"]
        self.timings_["ranker"] = time.perf_counter() - t
        report.update(fit_report)
        log.info("ranker: %s", report)
        return report

    def _training_pairs(self, data: Any, cut: Any, gens: dict[str, HistoryRecommender], history: History,
                        stats: ItemStats) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Candidate pairs of users who bought after ``cut``, features from before it, labels after."""
        labels = _label_matrix(data, cut)
        has_history = np.diff(history.indptr[: history.n_known + 1]) > 0
        users = np.flatnonzero((np.diff(labels.indptr) > 0) & has_history)
        n_buyers = len(users)
        if len(users) < MIN_LABEL_BUYERS:
            days = (data.now - cut).total_seconds() / 86400.0
            raise InputError(f"too few users bought anything in the last {days:.0f} days of the training data "
                             f"({len(users)}, {MIN_LABEL_BUYERS} needed) to train the ranker; train on more data")
        rng = np.random.default_rng(self.seed)
        if len(users) > self.max_train_users:
            users = np.sort(rng.choice(users, self.max_train_users, replace=False))
        warm = stats.has_events
        xs, ys, groups, hits, n_pos = [], [], [], 0, 0
        for lo in range(0, len(users), 512):
            u = users[lo:lo + 512]
            batch = build_pairs(gens, self.depth, history, stats, u, data.user_ids[u], warm)
            counts = np.asarray(labels[u[batch.b], batch.i]).ravel()
            y = counts > 0
            hits += int(y.sum())
            n_pos += int(labels[u][:, warm].nnz)
            keep = np.isin(batch.b, np.unique(batch.b[y]))  # queries without a positive teach nothing
            xs.append(batch.x[keep])
            ys.append(counts[keep].astype(np.float32))
            groups.append(np.bincount(batch.b[keep], minlength=len(u))[np.unique(batch.b[keep])])
        x, y, group = np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)
        report = {"train_users": int(len(users)), "queries": int(len(group)), "pairs": int(len(y)),
                  "positives": int((y > 0).sum()), "candidate_recall": hits / max(n_pos, 1),
                  # share of users with a history whose query taught the ranker (bought a candidate)
                  "prior": float(n_buyers / max(int(has_history.sum()), 1) * len(group) / max(len(users), 1))}
        return x, y, group, report

    # --- serving ------------------------------------------------------------------------------
    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        return self._score_within(user_idx, user_ids, None)

    def _score_within(self, user_idx: np.ndarray, user_ids: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        n_items = self.data_.n_items
        explicit = allowed
        allowed = np.ones(n_items, dtype=bool) if allowed is None else allowed
        warm = allowed & self.stats_.has_events
        out = np.full((len(user_idx), n_items), -np.inf)
        rows = self.history_.rows(user_ids, user_idx)
        counts = np.diff(self.history_.indptr)
        personal = (rows >= 0) & (counts[np.maximum(rows, 0)] > 0)
        # no history yet: what is popular now (scaled into [0, 0.01] so it never outranks personal scores)
        pop = self.generators_["popular"].counts_
        out[~personal] = np.where(warm, 0.01 * pop / max(pop.max(), 1e-12), -np.inf)[None, :]
        idx = np.flatnonzero(personal)
        for lo in range(0, len(idx), 512):
            sel = idx[lo:lo + 512]
            if warm.any():
                batch = build_pairs(self.generators_, self.depth, self.history_, self.stats_, user_idx[sel],
                                    user_ids[sel], warm)
                raw = (fallback_score(batch.x, self.feature_names_, self.fallback_) if self.fallback_
                       else with_tie_break(staged_predict(self.booster_, batch.x, batch.b, self.shortlist),
                                           batch.x, self.feature_names_))
                out[sel[batch.b], batch.i] = _apply_platt(raw, self.calibration_)
        cold = allowed & ~self.stats_.has_events
        if explicit is None:  # the whole catalog: only items that are new now, not long-ignored ones
            cold &= self.new_items()
        if self.cold_ is not None and cold.any():
            cold_scores = self.cold_._score_within(user_idx, user_ids, cold)[:, cold]
            if explicit is None:  # new items beside established ones: on the scale of what new items sold
                cold_scores *= self.cold_.launch_factors()[cold][None, :]
            out[:, cold] = cold_scores
        return out

    def _limit(self, scores: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Whole-catalog lists give at most ``new_item_max_share`` of their ``k`` slots to items without
        events (:func:`cap_new_items`); lists restricted to given items are left as they are."""
        share = get_settings().new_item_max_share
        if allowed is not None or share >= 1.0:
            return scores
        return cap_new_items(scores, np.flatnonzero(~self.stats_.has_events), k, share)

    def new_items(self) -> np.ndarray:
        """Items that may take the new-item path when the whole catalog is ranked.

        An item without events is new when it has a title or description (the new-item model has little
        else to go on) and its launch date is unknown or within the last ``item_age_cutoff_days`` (a
        setting) before the latest event (:func:`~.launch.new_item_mask`). One launched long ago that nobody
        has touched since is not new but unwanted, and one launched after the latest event is not on sale
        yet; all of these stay out unless a caller lists them (``items=``). On the demo shop, where a third
        of the catalog had no events, letting every such item in filled 80 % of the lists with them; on
        Taobao (ids only, no text) the new-item path halved NDCG@10 (0.090 without it, 0.044 with it).
        """
        return new_item_mask(self.data_.items, np.datetime64(self.history_.now, "s"),
                             get_settings().item_age_cutoff_days)

    def similar_items(self, item_ids: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Reciprocal-rank fusion of co-visitation, ALS and content neighbours (content alone for new items)."""
        return super().similar_items(item_ids, k)

    def _item_scores(self, item_idx: np.ndarray) -> np.ndarray:
        fused = np.zeros((len(item_idx), self.data_.n_items))
        for name, weight in (("covisit", 1.0), ("als", 0.7), ("content", 0.5)):
            s = self.generators_[name]._item_scores(item_idx)
            ranks = np.argsort(np.argsort(-s, axis=1, kind="stable"), axis=1) + 1
            finite = np.isfinite(s)
            # a row that scores every item alike (an item without events has an ALS row of zeros) ranks
            # nothing: its "ranks" would be catalogue order, and the first items would get its votes. A
            # row with -inf entries does single out its finite ones (a lone co-visited neighbour).
            lo = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
            hi = np.where(finite, s, -np.inf).max(axis=1, keepdims=True)
            says = (hi > lo) | ~finite.all(axis=1, keepdims=True)
            fused += np.where(finite & says, weight / (60.0 + ranks), 0.0)
        fused[fused == 0] = -np.inf
        return fused

    def _after_new_events(self) -> None:
        for gen in self.generators_.values():
            gen._after_new_events()

    # --- persistence --------------------------------------------------------------------------
    def save_state(self, directory: Path) -> None:
        from .persist import save_component

        for name, gen in self.generators_.items():
            save_component(gen, directory / "generators" / name)
        if self.cold_ is not None:
            save_component(self.cold_, directory / "cold")
        self.stats_.save(directory / "item_stats")
        self.booster_.save_model(str(directory / "ranker.txt"), num_iteration=self.booster_.best_iteration)
        save_json(directory, "ranker", {"features": self.feature_names_, "calibration": self.calibration_,
                                        "train_report": self.train_report_, "timings": self.timings_,
                                        "fallback": self.fallback_})

    def load_state(self, directory: Path) -> None:
        import lightgbm as lgb

        from .persist import load_component

        gens = load_json(directory, "ranker")
        self.generators_ = {name: load_component(directory / "generators" / name, self.data_, self.history_)
                            for name in self.depth}
        cold_dir = directory / "cold"
        self.cold_ = load_component(cold_dir, self.data_, self.history_) if cold_dir.exists() else None
        self.stats_ = ItemStats.load(directory / "item_stats")
        self.booster_ = lgb.Booster(model_file=str(directory / "ranker.txt"))
        self.feature_names_ = gens["features"]
        self.calibration_ = gens["calibration"]
        self.train_report_ = gens["train_report"]
        self.timings_ = gens["timings"]
        self.fallback_ = gens.get("fallback")  # model sets saved before the safety net have none


def fit_ranker(x: np.ndarray, y: np.ndarray, group: np.ndarray, names: list[str], rounds: int, seed: int,
               objective: str = "lambdarank", label_cap: int = 1) -> tuple[Any, dict[str, float], dict[str, Any]]:
    """LightGBM ranker with early stopping on a fifth of the queries, and Platt scaling on that fifth.

    ``y`` holds how often each candidate was bought in the label window; ranking objectives see it
    capped at ``label_cap`` (1: bought or not), the binary objective sees bought or not. The report's
    ``serves`` says whether the ranker or a plain fallback score is to be served (:mod:`.fallback`);
    the calibration is that of the one served.
    """
    import lightgbm as lgb

    bought = (y > 0).astype(np.float32)
    y = bought if objective == "binary" else np.minimum(y, label_cap).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    q_valid = rng.random(len(group)) < 0.2
    row_valid = np.repeat(q_valid, group)
    params = dict(LGBM_PARAMS, objective=objective, seed=seed, num_threads=_threads(), deterministic=True,
                  force_row_wise=True)
    params["min_data_in_leaf"] = leaf_size(params["min_data_in_leaf"], int((~row_valid).sum()))
    train_set = lgb.Dataset(x[~row_valid], y[~row_valid], group=group[~q_valid], feature_name=names)
    valid_set = lgb.Dataset(x[row_valid], y[row_valid], group=group[q_valid], reference=train_set)
    booster = lgb.train(params, train_set, num_boost_round=rounds, valid_sets=[valid_set],
                        callbacks=[lgb.early_stopping(30, verbose=False)])
    raw = with_tie_break(booster.predict(x[row_valid], num_iteration=booster.best_iteration), x[row_valid], names)
    best = booster.best_score.get("valid_0", {}).get("ndcg@10") if booster.best_score else None
    report = {"best_iteration": int(booster.best_iteration), "valid_ndcg@10": best}
    # the small-shop safety net (.fallback): on the held-out queries, or out of fold when they are few
    if q_valid.sum() >= MIN_VALID_QUERIES:
        serve, checked = choose_fallback(raw, q_valid, x, bought, group, names, seed)
    else:
        oof = with_tie_break(out_of_fold(params, x, y, group, names, max(1, booster.best_iteration), seed), x, names)
        serve, checked = choose_fallback(oof, np.ones(len(group), dtype=bool), x, bought, group, names, seed)
    report.update(checked)
    if serve is not None:
        raw = fallback_score(x[row_valid], names, serve)
    return booster, _platt(raw, bought[row_valid]), report


def cap_new_items(scores: np.ndarray, new: np.ndarray, k: int, share: float) -> np.ndarray:
    """``scores`` (users x items) where each row keeps at most ``floor(share * k)`` of the ``new`` items
    (column indices), its best ones; the others get -inf. A row whose other items cannot fill ``k`` slots
    keeps as many new items as it needs, so the cap never shortens a list. Scores are not changed, so the
    lists stay in score order."""
    if len(new) == 0 or len(scores) == 0:
        return scores
    sub = scores[:, new]
    finite = np.isfinite(sub)
    others = np.isfinite(scores).sum(axis=1) - finite.sum(axis=1)
    most = np.maximum(int(np.floor(share * k + 1e-9)), k - others)
    order = np.argsort(-sub, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(len(new)), order.shape), axis=1)
    drop = finite & (rank >= most[:, None])
    if not drop.any():
        return scores
    out = scores.copy()
    out[:, new] = np.where(drop, -np.inf, sub)
    return out


def leaf_size(configured: int, rows: int) -> int:
    """The configured leaf size, shrunk for small shops (at most 1/200 of the rows, at least 5)."""
    return int(min(configured, max(5, rows // 200)))


FIRST_TREES = 20  # trees that pick each user's shortlist before the whole model scores it


def staged_predict(booster: Any, x: np.ndarray, group: np.ndarray, shortlist: int) -> np.ndarray:
    """Raw scores where the first trees pick each group's ``shortlist`` and only those get every tree.

    Prediction cost grows with trees x pairs; a user's top few hundred by the first 20 trees hold
    their final top items in practice, so the rest keep the first trees' score, pushed below the
    shortlisted ones. Exact when no group has more than ``shortlist`` pairs.
    """
    best = booster.best_iteration or booster.num_trees()
    counts = np.bincount(group) if len(group) else np.zeros(0, np.int64)
    if len(group) == 0 or counts.max() <= shortlist or best <= 2 * FIRST_TREES:
        return booster.predict(x, num_iteration=best)
    first = booster.predict(x, num_iteration=FIRST_TREES)
    order = np.lexsort((-first, group))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_in_group = np.arange(len(order)) - start[group[order]]
    chosen = order[pos_in_group < shortlist]
    out = first - (np.abs(first).max() + 1e3)  # below every full score
    out[chosen] = booster.predict(x[chosen], num_iteration=best)
    return out


def _threads() -> int:
    """LightGBM threads: the ``blas_threads`` setting (1 by default).

    LightGBM's OpenMP threads spin while they wait; on a machine whose cores are busy with other work
    two threads ran 4 to 8 times slower than one in our measurements, so more is opt-in.
    """
    return get_settings().blas_threads


def _label_matrix(data: Any, cut: Any) -> Any:
    """Users x items: purchases on or after ``cut`` (any interest event when the shop logs no purchases)."""
    import scipy.sparse as sp

    later = label_events(data.events, cut)

    m = sp.csr_matrix((np.ones(len(later)), (later["user_idx"].to_numpy(), later["item_idx"].to_numpy())),
                      shape=(data.n_users, data.n_items))
    m.sum_duplicates()
    return m


def _platt(raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Logistic map from raw ranker scores to purchase probabilities."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return {"a": 1.0, "b": 0.0}
    lr = LogisticRegression(C=1e4, max_iter=200).fit(raw.reshape(-1, 1), y)
    if lr.coef_[0, 0] <= 0:  # a useless ranker; keep its order rather than reverse it
        return {"a": 1.0, "b": 0.0}
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def _apply_platt(raw: np.ndarray, cal: dict[str, float]) -> np.ndarray:
    """Purchase probabilities: Platt's logistic map, times the share of users the training pairs stand
    for (``prior``). Both rankers train only on users who bought something in their label window; without
    the prior the new-item model, whose buyers are rarer, looked several times too sure beside the warm one."""
    from scipy.special import expit

    return expit(cal["a"] * raw + cal["b"]) * cal.get("prior", 1.0)
