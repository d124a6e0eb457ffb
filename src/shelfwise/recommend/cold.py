"""New items (no events yet): ranked for each user from their text, price, category and their neighbours.

An item nobody has bought can still be placed: its sentence embedding and its character n-grams say
how close it is to what the user bought, its price and category say whether it fits the user's usual
basket, and the sales of its nearest text neighbours say how well items like it sell. Its id says
more than one would think: shops number products by family, so the items next to it in id order
(and the items sharing a long id prefix with what the user bought) are often its siblings. A LightGBM
ranker weighs these, with a collaborative signal borrowed from the item's word-TF-IDF neighbours
(:mod:`.cold_cf`) and the product families read from the titles (:mod:`.cold_family`: siblings one word
apart, the head word). It is trained by simulation inside the training data: a random ``cold_share`` of
the items lose their events before the cut, and the model learns which of them the users bought after.
When on its held-out queries the ranker does not beat the plain TF-IDF profile score it is built on
(a shop with too few buyers of new items to learn from), it serves that score instead and says so in
``train_report_``.

The simulated new items are items that sold before the cut, so their probabilities are those of an
established item that lost its history. Items that are really new sell less (on the demo shop 2.5 times
less per user and item; never-sold Amazon Gift Cards without a launch date, not at all). The *launch
check* (:func:`.launch.launch_check`) measures this on the shop's own past: at the cut it scores the
items that were new then (:func:`new_item_mask`) for a sample of users, compares the purchases it expected
with the purchases made in the label window, and keeps the ratio, shrunk towards 1 by a Gamma prior, as a
factor per group (items with and without a launch date). :meth:`ColdItems.launch_factors` hands it to the
hybrid, which applies it when new items compete with established ones in whole-catalog lists.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from ..artifacts import load_json, save_json
from ..logs import get_logger
from .cold_cf import CF_FEATURES, NeighbourCF, text_neighbours
from .cold_family import FAMILY_FEATURES, Families
from .content import item_embeddings, item_texts, user_profiles
from .data import Interactions
from .features import ItemStats, user_features
from .generator import HistoryRecommender
from .history import History
from .itemknn import INTEREST_WEIGHTS
from .launch import launch_check, launch_dates
from .similarity import dense_top_n, load_sparse, save_sparse

log = get_logger(__name__)

FEATURES = ("c_profile", "c_tfidf", "c_tfidf_max", "c_words", "c_words_max", "c_max_sim",
            "c_bigrams", "c_bigrams_max", "c_bigrams_mean", "c_bigrams_rel", "c_tfidf_all",
            "c_code_user", "c_code_prefix", "i_code_pop", "i_code_pop30", "c_nb_user", "c_nb_user_decay", "i_nb_pop",
            "i_nb_pop30", "i_nb_buyers", "i_nb_repeat", "i_nb_sim", "i_log_price", "ui_price_gap", "ui_cat_share",
            "u_purchases", "u_items", "u_since_last") + CF_FEATURES + FAMILY_FEATURES
_C = {name: j for j, name in enumerate(FEATURES)}

LGBM_PARAMS: dict[str, Any] = {
    "metric": "ndcg", "eval_at": [10], "learning_rate": 0.05, "num_leaves": 31,
    "min_data_in_leaf": 100, "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
}


#: warm items on each side of a new item in item-id order that count as its code neighbours (on the
#: Online Retail validation window, inside the training data, 1 did better than 2, 3, 4 or 8)
CODE_NEIGHBOURS = 1
#: users whose bought items' similarity rows are computed together (bounds memory on big catalogs)
MAX_CHUNK_USERS = 256

#: features the new-item model serves instead of its ranker when the ranker does not beat them on its
#: held-out queries: the profile cosines a plain TF-IDF content model computes
FALLBACK_FEATURES = ("c_bigrams", "c_tfidf_all")

#: held-out queries the ranker needs before it may be served: early stopping picks its rounds on the
#: same queries, so on a few dozen (Amazon Magazine: 9 to 11) it looks better there than it is
MIN_VALID_QUERIES = 100

class ColdItems(HistoryRecommender):
    """Scores only items without events (everything else is -inf); see the module text."""

    name: ClassVar[str] = "cold"

    def __init__(self, encoder: str | None = None, label_days: int = 28, cold_share: float = 0.2,
                 neighbours: int = 20, negatives: int = 150, max_train_users: int = 600, rounds: int = 200,
                 folds: int = 4, objective: str = "lambdarank", shortlist: int = 100, seed: int = 42,
                 exclude: tuple[str, ...] = (), embeddings: np.ndarray | None = None, store: Any = None) -> None:
        super().__init__(encoder=encoder, label_days=label_days, cold_share=cold_share, neighbours=neighbours,
                         negatives=negatives, max_train_users=max_train_users, rounds=rounds, folds=folds,
                         objective=objective, shortlist=shortlist, seed=seed, exclude=tuple(exclude))
        self.exclude = tuple(exclude)
        self.folds, self.objective, self.shortlist = folds, objective, shortlist
        self.encoder, self.label_days, self.cold_share = encoder, label_days, cold_share
        self.neighbours, self.negatives, self.max_train_users = neighbours, negatives, max_train_users
        self.rounds, self.seed = rounds, seed
        self.embeddings, self.store = embeddings, store

    # --- training -----------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        emb = self.embeddings if self.embeddings is not None else item_embeddings(data, self.encoder, self.store)
        self.emb_ = np.ascontiguousarray(emb, dtype=np.float32)
        texts = item_texts(data)
        self.tfidf_ = _tfidf(texts, "char_wb")
        self.words_ = _tfidf(texts, "word")
        self.bigrams_ = _tfidf(texts, "word", (1, 2), min_df=1)
        self.prefixes_ = _id_prefixes(data.item_ids)
        self.active_ = [j for j, name in enumerate(FEATURES) if name not in self.exclude]
        self.booster_, self.calibration_, self.train_report_ = self._train(data)
        self.launch_ = launch_check(self, data)
        self.train_report_["launch"] = self.launch_
        self._prepare(data, self.history_)

    def _prepare(self, data: Interactions, history: History) -> None:
        """Item-level state for serving: which items are cold, and their text neighbours among warm ones."""
        self.stats_ = ItemStats.compute(data, history, np.any(self.emb_ != 0, axis=1))
        self.nb_ = self._neighbours(self.stats_.has_events)
        self.code_nb_ = _code_neighbours(data.item_ids, self.stats_.has_events, CODE_NEIGHBOURS)
        nb_tf = text_neighbours(self.bigrams_, self.stats_.has_events, self.neighbours)
        self.cf_ = NeighbourCF(seed=self.seed).fit(data, history, nb_tf)
        self.family_ = Families().fit(_titles(data), self.stats_.has_events, self.stats_.values["i_pop30"])
        self._side = None

    def _neighbours(self, warm: np.ndarray) -> sp.csr_matrix:
        """Rows of cold items: their ``neighbours`` most similar warm items by embedding cosine."""
        n = len(warm)
        cold = np.flatnonzero(~warm)
        warm_idx = np.flatnonzero(warm)
        if len(cold) == 0 or len(warm_idx) == 0:
            return sp.csr_matrix((n, n), dtype=np.float32)
        blocks = []
        for lo in range(0, len(cold), 2048):
            c = cold[lo:lo + 2048]
            sim = self.emb_[c] @ self.emb_[warm_idx].T
            blocks.append(dense_top_n(sim, self.neighbours))
        top = sp.vstack(blocks).tocoo()
        return sp.csr_matrix((top.data, (cold[top.row], warm_idx[top.col])), shape=(n, n), dtype=np.float32)

    def _train(self, data: Interactions) -> tuple[Any, dict[str, float], dict[str, Any]]:
        import lightgbm as lgb

        from .ranker import _threads, leaf_size

        self.fallback_: str | None = None
        rng = np.random.default_rng(self.seed)
        cut = data.now - timedelta(days=self.label_days)
        past = data.restrict(cut)
        warm_before = np.zeros(data.n_items, dtype=bool)
        warm_before[past.events["item_idx"].to_numpy()] = True
        order = rng.permutation(np.flatnonzero(warm_before))
        size = max(1, int(self.cold_share * len(order)))
        parts = [self._simulate(data, past, cut, np.sort(order[f * size:(f + 1) * size]), rng)
                 for f in range(self.folds) if f * size < len(order)]
        parts = [p for p in parts if p is not None]
        if not parts:
            log.warning("new-item model: nobody bought a simulated new item; new items get their neighbours' sales only")
            return None, {"a": 1.0, "b": 0.0}, {"train_users": 0}
        x, y, w, group = (np.concatenate([p[k] for p in parts]) for k in range(4))
        # the pairs come only from users who bought a hidden item; this share of users with a history
        # did, so probabilities are scaled by it to hold for any user (and to mix with the warm ranker's)
        prior = sum(p[4] for p in parts) / max(sum(p[5] for p in parts), 1)
        q_valid = rng.random(len(group)) < 0.2
        row_valid = np.repeat(q_valid, group)
        params = dict(LGBM_PARAMS, objective=self.objective, seed=self.seed, num_threads=_threads(),
                      deterministic=True, force_row_wise=True)
        params["min_data_in_leaf"] = leaf_size(params["min_data_in_leaf"], int((~row_valid).sum()))
        x = x[:, self.active_]
        train_set = lgb.Dataset(x[~row_valid], y[~row_valid], group=group[~q_valid],
                                feature_name=[FEATURES[j] for j in self.active_])
        valid_set = lgb.Dataset(x[row_valid], y[row_valid], group=group[q_valid], reference=train_set)
        booster = lgb.train(params, train_set, num_boost_round=self.rounds, valid_sets=[valid_set],
                            callbacks=[lgb.early_stopping(30, verbose=False)])
        raw = booster.predict(x[row_valid], num_iteration=booster.best_iteration)
        yv, wv, gv = y[row_valid], w[row_valid], group[q_valid]
        ours = group_ndcg(raw, yv, gv)
        report: dict[str, Any] = {"folds": len(parts), "queries": int(len(group)), "pairs": int(len(y)),
                                  "best_iteration": int(booster.best_iteration),
                                  "valid_queries": int(q_valid.sum()), "valid_ndcg@10": float(ours.mean())}
        # the safety net: a ranker that does not surely beat the plain TF-IDF profile score it is built
        # on, on enough held-out queries (too few buyers to learn from, or features that mislead on this
        # shop), serves that score instead. Which score: the better on every query (nothing was fitted
        # to them); whether: on the held-out ones.
        cols = {name: np.nan_to_num(x[:, self.active_.index(_C[name])], nan=-1e9)
                for name in FALLBACK_FEATURES if _C[name] in self.active_}
        overall = {name: float(group_ndcg(v, y, group).mean()) for name, v in cols.items()}
        best = max(overall, key=lambda k: overall[k], default=None)
        report["ndcg@10_single_all_queries"] = overall
        self.fallback_ = None
        if best is not None:
            single = group_ndcg(cols[best][row_valid], yv, gv)
            low = _lower_bound(ours - single, self.seed)
            report.update({"valid_ndcg@10_single": float(single.mean()), "valid_gain_lower_bound": low})
            self.fallback_ = None if low > 0 and q_valid.sum() >= MIN_VALID_QUERIES else best
        report["serves"] = self.fallback_ or "ranker"
        if self.fallback_ is not None:
            raw = x[row_valid, self.active_.index(_C[self.fallback_])]
            log.warning("new-item model: the ranker did not surely beat %s on %d held-out queries (NDCG@10 %.4f "
                        "vs %.4f; %d needed); serving %s", best, int(q_valid.sum()), ours.mean(),
                        report["valid_ndcg@10_single"], MIN_VALID_QUERIES, best)
        calibration = {**_platt_weighted(np.nan_to_num(raw), yv, wv), "prior": float(prior)}
        log.info("new-item model: %s", report)
        return booster, calibration, report

    def launch_factors(self) -> np.ndarray:
        """Per item, the launch check's factor for its group (1 for a model set saved without one)."""
        factors = np.ones(self.data_.n_items)
        launch = getattr(self, "launch_", None)
        if launch:
            dated = ~np.isnat(launch_dates(self.data_.items))
            factors[dated] = launch["dated"]["factor"]
            factors[~dated] = launch["undated"]["factor"]
        return factors

    def _simulate(self, data: Interactions, past: Interactions, cut: Any, hidden: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, ...] | None:
        """Training pairs for one simulated cold set: ``hidden`` items lose their events before ``cut``."""
        from .ranker import _label_matrix

        is_hidden = np.zeros(data.n_items, dtype=bool)
        is_hidden[hidden] = True
        sim = Interactions(past.user_ids, past.item_ids,
                           past.events[~is_hidden[past.events["item_idx"].to_numpy()]].reset_index(drop=True),
                           past.items, cut, dict(past.event_weights))
        history = History.from_interactions(sim)
        self._prepare(sim, history)
        labels = _label_matrix(data, cut)[:, hidden].tocsr()
        has_history = np.diff(history.indptr[: history.n_known + 1]) > 0
        users = np.flatnonzero((np.diff(labels.indptr) > 0) & has_history)
        if len(users) == 0:
            return None
        n_buyers, n_users = len(users), int(has_history.sum())
        if len(users) > self.max_train_users:
            users = np.sort(rng.choice(users, self.max_train_users, replace=False))
        xs, ys, ws, groups = [], [], [], []
        for lo in range(0, len(users), 256):
            u = users[lo:lo + 256]
            x = self._pair_features(history, u, data.user_ids[u], hidden)  # (len(u), len(hidden), F)
            y = labels[u].toarray() > 0
            for r in range(len(u)):
                pos = np.flatnonzero(y[r])
                neg = np.flatnonzero(~y[r])
                take = rng.choice(neg, min(self.negatives, len(neg)), replace=False)
                cols = rng.permutation(np.concatenate([pos, take]))  # no label order for ties to exploit
                xs.append(x[r, cols])
                ys.append(y[r, cols].astype(np.float32))
                ws.append(np.where(y[r, cols], 1.0, len(neg) / max(len(take), 1)))
                groups.append(len(cols))
        return (np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), np.asarray(groups), n_buyers, n_users)

    # --- features -----------------------------------------------------------------------------
    def _item_side(self, items: np.ndarray) -> dict[str, Any]:
        """What the features need of the items alone, computed once per set of items (then cached)."""
        key = (id(self.stats_), items.tobytes())
        cached = getattr(self, "_side", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        nb = self.nb_[items]
        weight = np.asarray(nb.sum(axis=1)).ravel()
        side: dict[str, Any] = {
            "emb": self.emb_[items], "tfidf": self.tfidf_[items].T.tocsc(), "words": self.words_[items].T.tocsc(),
            "bigrams": self.bigrams_[items].T.tocsc(),
            "nb": nb.T.tocsc(), "nb_sim": weight / max(self.neighbours, 1),
            "code_nb": self.code_nb_[items].T.tocsc(), "prefixes": self.prefixes_[items].T.tocsc(),
        }
        code_nb = self.code_nb_[items]
        code_w = np.maximum(np.asarray(code_nb.sum(axis=1)).ravel(), 1e-9)
        side["i_code_pop"] = code_nb @ np.nan_to_num(self.stats_.values["i_pop_all"]) / code_w
        side["i_code_pop30"] = code_nb @ np.nan_to_num(self.stats_.values["i_pop30"]) / code_w
        v = self.stats_.values
        for feature, name in (("i_nb_pop", "i_pop_all"), ("i_nb_pop30", "i_pop30"), ("i_nb_buyers", "i_buyers"),
                              ("i_nb_repeat", "i_repeat_rate")):
            side[feature] = nb @ np.nan_to_num(v[name]) / np.maximum(weight, 1e-9)
        self._side = (key, side)
        return side

    def _bought_item_maxima(self, f: np.ndarray, bought: sp.csr_matrix, side: dict[str, Any]) -> None:
        """The most similar bought item per (user, new item), and the mean over bought items (bigrams).

        Similarities are computed for the items a chunk of users bought, never as a whole-catalog x
        new-items table: on a 55k-item catalog with 11k listed new items those tables took 10 GB.
        """
        for start in range(0, bought.shape[0], MAX_CHUNK_USERS):
            chunk = bought[start:start + MAX_CHUNK_USERS]
            need = np.unique(chunk.indices)
            if len(need) == 0:
                continue
            at = np.full(bought.shape[1], -1, dtype=np.int64)
            at[need] = np.arange(len(need))
            tables = {"c_tfidf_max": (self.tfidf_[need] @ side["tfidf"]).toarray(),
                      "c_words_max": (self.words_[need] @ side["words"]).toarray(),
                      "c_max_sim": (side["emb"] @ self.emb_[need].T).T}
            b_sims = (self.bigrams_[need] @ side["bigrams"]).toarray()
            for r in range(chunk.shape[0]):
                mine = at[chunk.indices[chunk.indptr[r]:chunk.indptr[r + 1]]]
                if len(mine):
                    for name, table in tables.items():
                        f[start + r, :, _C[name]] = table[mine].max(axis=0)
                    b = b_sims[mine]
                    f[start + r, :, _C["c_bigrams_max"]] = b.max(axis=0)
                    f[start + r, :, _C["c_bigrams_mean"]] = b.mean(axis=0)

    def _pair_features(self, history: History, user_idx: np.ndarray, user_ids: np.ndarray,
                       items: np.ndarray) -> np.ndarray:
        """(users, items, features) for the given cold ``items``."""
        rows = history.rows(user_ids, user_idx)
        n_u, n_c = len(rows), len(items)
        side = self._item_side(items)
        interest = history.matrix(rows, INTEREST_WEIGHTS, 60.0)
        bought = history.matrix(rows, INTEREST_WEIGHTS, binary=True)
        decayed = history.matrix(rows, {"purchase": 1.0}, 60.0)
        # the whole history, counts damped by log1p and no decay: the profile a plain TF-IDF model uses
        counts = history.matrix(rows, INTEREST_WEIGHTS)
        counts.data = np.log1p(counts.data)
        f = np.full((n_u, n_c, len(FEATURES)), np.nan, dtype=np.float32)
        f[:, :, _C["c_profile"]] = user_profiles(interest, self.emb_) @ side["emb"].T
        f[:, :, _C["c_tfidf"]] = (_normalise_rows(interest @ self.tfidf_) @ side["tfidf"]).toarray()
        f[:, :, _C["c_words"]] = (_normalise_rows(bought @ self.words_) @ side["words"]).toarray()
        peer = (_normalise_rows(counts @ self.bigrams_) @ side["bigrams"]).toarray()
        f[:, :, _C["c_bigrams"]] = peer
        # relative to the user's best new item: trees split on one threshold for every user
        top = peer.max(axis=1, keepdims=True)
        f[:, :, _C["c_bigrams_rel"]] = np.divide(peer, top, out=np.zeros_like(peer), where=top > 0)
        f[:, :, _C["c_tfidf_all"]] = (_normalise_rows(counts @ self.tfidf_) @ side["tfidf"]).toarray()
        self._bought_item_maxima(f, bought, side)
        f[:, :, _C["c_nb_user"]] = (bought @ side["nb"]).toarray()
        f[:, :, _C["c_nb_user_decay"]] = (decayed @ side["nb"]).toarray()
        for feature in ("i_nb_pop", "i_nb_pop30", "i_nb_buyers", "i_nb_repeat"):
            f[:, :, _C[feature]] = side[feature][None, :]
        f[:, :, _C["i_nb_sim"]] = side["nb_sim"][None, :]
        f[:, :, _C["c_code_user"]] = (bought @ side["code_nb"]).toarray()
        # prefixes nested, so the count of shared ones is the longest common id prefix with a bought item
        mine = (bought @ self.prefixes_).tocsr()
        mine.data[:] = 1.0
        f[:, :, _C["c_code_prefix"]] = (mine @ side["prefixes"]).toarray()
        f[:, :, _C["i_code_pop"]] = side["i_code_pop"][None, :]
        f[:, :, _C["i_code_pop30"]] = side["i_code_pop30"][None, :]
        v = self.stats_.values
        users = user_features(history, rows, self.stats_)
        lp = v["i_log_price"][items]
        f[:, :, _C["i_log_price"]] = lp[None, :]
        f[:, :, _C["ui_price_gap"]] = lp[None, :] - users["u_log_price"][:, None]
        f[:, :, _C["ui_cat_share"]] = _category_share_dense(interest, self.stats_.cat, items)
        f[:, :, _C["u_purchases"]] = users["u_purchases"][:, None]
        f[:, :, _C["u_items"]] = users["u_items"][:, None]
        f[:, :, _C["u_since_last"]] = users["u_since_last"][:, None]
        for name, values in self.cf_.features(history, rows, user_idx, user_ids, items).items():
            f[:, :, _C[name]] = values
        for name, values in self.family_.features(bought, items).items():
            f[:, :, _C[name]] = values
        return f

    # --- serving ------------------------------------------------------------------------------
    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        return self._score_within(user_idx, user_ids, None)

    def _score_within(self, user_idx: np.ndarray, user_ids: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        n = self.data_.n_items
        cold = ~self.stats_.has_events if allowed is None else (allowed & ~self.stats_.has_events)
        items = np.flatnonzero(cold)
        out = np.full((len(user_idx), n), -np.inf)
        if len(items) == 0:
            return out
        rows = self.history_.rows(user_ids, user_idx)
        counts = np.diff(self.history_.indptr)
        personal = (rows >= 0) & (counts[np.maximum(rows, 0)] > 0)
        # without a history: how well the item's text neighbours sell, kept below any personal score
        prior = np.asarray(self.nb_[items] @ np.nan_to_num(self.stats_.values["i_pop_all"])).ravel()
        out[np.ix_(~personal, items)] = 1e-4 * prior / max(prior.max(initial=0), 1e-12)
        sel = np.flatnonzero(personal)
        if self.booster_ is None:
            return out
        for lo in range(0, len(sel), 128):
            s = sel[lo:lo + 128]
            x = self._pair_features(self.history_, user_idx[s], user_ids[s], items)
            out[np.ix_(s, items)] = self._predict(x)
        return out

    def _predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for (users, items, features), via :func:`~.ranker.staged_predict`."""
        from .ranker import _apply_platt, staged_predict

        x = x[:, :, self.active_]
        n_u, n_c, n_f = x.shape
        if getattr(self, "fallback_", None):
            raw = np.nan_to_num(x[:, :, self.active_.index(_C[self.fallback_])].reshape(-1))
            return _apply_platt(raw, self.calibration_).reshape(n_u, n_c)
        raw = staged_predict(self.booster_, x.reshape(-1, n_f), np.repeat(np.arange(n_u), n_c), self.shortlist)
        return _apply_platt(raw, self.calibration_).reshape(n_u, n_c)

    # --- persistence --------------------------------------------------------------------------
    def save_state(self, directory: Path) -> None:
        from ..artifacts import save_arrays

        directory.mkdir(parents=True, exist_ok=True)
        save_arrays(directory, embeddings=self.emb_)
        save_sparse(directory, "tfidf", self.tfidf_)
        save_sparse(directory, "words", self.words_)
        save_sparse(directory, "bigrams", self.bigrams_)
        save_sparse(directory, "id_prefixes", self.prefixes_)
        save_sparse(directory, "neighbours", self.nb_)
        save_sparse(directory, "code_neighbours", self.code_nb_)
        self.cf_.save(directory / "neighbour_cf")
        self.family_.save(directory / "families")
        self.stats_.save(directory / "item_stats")
        if self.booster_ is not None:
            self.booster_.save_model(str(directory / "ranker.txt"), num_iteration=self.booster_.best_iteration)
        save_json(directory, "ranker", {"calibration": self.calibration_, "train_report": self.train_report_,
                                        "active": [FEATURES[j] for j in self.active_], "fallback": self.fallback_,
                                        "launch": self.launch_})

    def load_state(self, directory: Path) -> None:
        import lightgbm as lgb

        from ..artifacts import load_array

        self.emb_ = load_array(directory, "embeddings")
        self.tfidf_ = load_sparse(directory, "tfidf")
        self.words_ = load_sparse(directory, "words")
        self.bigrams_ = load_sparse(directory, "bigrams")
        self.prefixes_ = load_sparse(directory, "id_prefixes")
        self.nb_ = load_sparse(directory, "neighbours")
        self.code_nb_ = load_sparse(directory, "code_neighbours")
        self.cf_ = NeighbourCF.load(directory / "neighbour_cf", seed=self.seed)
        self.cf_.bind(self.data_, self.history_)
        self.stats_ = ItemStats.load(directory / "item_stats")
        families = directory / "families"
        # model sets saved before the family features: rebuilt from the catalog (their ranker ignores them)
        self.family_ = (Families.load(families) if families.exists() else
                        Families().fit(_titles(self.data_), self.stats_.has_events, self.stats_.values["i_pop30"]))
        self._side = None
        model = directory / "ranker.txt"
        self.booster_ = lgb.Booster(model_file=str(model)) if model.exists() else None
        meta = load_json(directory, "ranker")
        self.calibration_, self.train_report_ = meta["calibration"], meta["train_report"]
        self.active_ = [_C[name] for name in meta["active"]]
        self.fallback_ = meta["fallback"]
        self.launch_ = meta.get("launch")  # model sets saved before the launch check have none: factor 1


def _titles(data: Interactions) -> list[str]:
    """Item titles in index order ("" where missing): the short names product families are read from."""
    return [str(t) if isinstance(t, str) else "" for t in data.items["title"]]


def _tfidf(texts: list[str], analyzer: str, grams: tuple[int, int] | None = None, min_df: int = 2) -> sp.csr_matrix:
    """TF-IDF of item texts, rows L2-normed: ``char_wb`` n-grams (robust to plurals and codes) or words.

    ``grams`` defaults to 3-5 characters or single words; word 1-2-grams with ``min_df=1`` are what a
    plain TF-IDF content model uses, and on short product names they are the strongest single signal.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(texts):
        return sp.csr_matrix((len(texts), 1), dtype=np.float32)
    grams = grams or ((3, 5) if analyzer == "char_wb" else (1, 1))
    vec = TfidfVectorizer(analyzer=analyzer, ngram_range=grams, min_df=min_df, sublinear_tf=True, dtype=np.float32)
    try:
        return vec.fit_transform([t.lower() for t in texts]).tocsr()
    except ValueError:  # every n-gram is unique (a tiny catalog): keep them all
        vec.set_params(min_df=1)
        return vec.fit_transform([t.lower() for t in texts]).tocsr()


def _code_neighbours(item_ids: np.ndarray, warm: np.ndarray, per_side: int) -> sp.csr_matrix:
    """Rows of cold items: the ``per_side`` nearest warm items before and after them in item-id order.

    Many shops number their products by family (85123A and 85123B are one product in two colours;
    codes issued together are one season's range), so the ids next to a new one often name its
    siblings. Where ids carry no such meaning the features built on this are noise the ranker learns
    to ignore.
    """
    n = len(item_ids)
    order = np.argsort(np.array([str(i).lower() for i in item_ids], dtype=object), kind="stable")
    warm_sorted = warm[order]
    warm_pos = np.flatnonzero(warm_sorted)  # positions (in id order) of warm items
    cold_pos = np.flatnonzero(~warm_sorted)
    if len(warm_pos) == 0 or len(cold_pos) == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    at = np.searchsorted(warm_pos, cold_pos)  # the first warm item after each cold one
    rows, cols = [], []
    for offset in range(-per_side, per_side):
        k = at + offset
        ok = (k >= 0) & (k < len(warm_pos))
        rows.append(order[cold_pos[ok]])
        cols.append(order[warm_pos[k[ok]]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n, n))


def _id_prefixes(item_ids: np.ndarray, shortest: int = 3) -> sp.csr_matrix:
    """(items, prefixes) 0/1: every prefix of at least ``shortest`` characters of each (lower-cased) id."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, item in enumerate(item_ids):
        text = str(item).lower()
        for end in range(shortest, len(text) + 1):
            rows.append(i)
            cols.append(vocab.setdefault(text[:end], len(vocab)))
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                         shape=(len(item_ids), max(len(vocab), 1)))


def group_ndcg(scores: np.ndarray, labels: np.ndarray, group: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k of each consecutive query group of sizes ``group`` (binary labels; ties keep order; 0 for a
    group without positives)."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    out, lo = np.zeros(len(group)), 0
    for q, size in enumerate(group):
        s, y = scores[lo:lo + size], labels[lo:lo + size] > 0
        lo += size
        ideal = disc[:min(int(y.sum()), k)].sum()
        if ideal > 0:
            out[q] = (y[np.argsort(-s, kind="stable")[:k]] * disc[:min(k, size)]).sum() / ideal
    return out


def _lower_bound(gain: np.ndarray, seed: int, n: int = 1000) -> float:
    """One-sided 95 % bootstrap lower bound of the mean per-query gain (-inf without queries).

    A handful of held-out queries (a small shop) cannot show that the ranker is better, so it does not.
    """
    if len(gain) == 0:
        return float("-inf")
    means = gain[np.random.default_rng(seed).integers(0, len(gain), (n, len(gain)))].mean(axis=1)
    return float(np.percentile(means, 5))


def _normalise_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ m


def _category_share_dense(interest: sp.csr_matrix, codes: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(users, items) share of each user's interest in the item's category; NaN without categories."""
    if codes.max(initial=-1) < 0:
        return np.full((interest.shape[0], len(items)), np.nan, dtype=np.float32)
    has = codes >= 0
    onehot = sp.csr_matrix((np.ones(int(has.sum())), (np.flatnonzero(has), codes[has])),
                           shape=(len(codes), int(codes.max()) + 1))
    per_cat = (interest @ onehot).toarray()
    share = per_cat / np.maximum(per_cat.sum(axis=1, keepdims=True), 1e-9)
    c = codes[items]
    return np.where(c[None, :] >= 0, share[:, np.maximum(c, 0)], np.nan)


def _platt_weighted(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Platt scaling with negatives weighted back to their share before sampling."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return {"a": 1.0, "b": 0.0}
    lr = LogisticRegression(C=1e4, max_iter=200).fit(raw.reshape(-1, 1), y, sample_weight=w)
    if lr.coef_[0, 0] <= 0:
        return {"a": 1.0, "b": 0.0}
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
