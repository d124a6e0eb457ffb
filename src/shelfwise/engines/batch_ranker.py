"""The batch pipeline's learned ranker: candidates and features in SQL on the engine, LightGBM on the driver.

Training never looks at the future, as the local hybrid (recommend/ranker.py): the candidates and
features are built as of ``cut = now - label_days`` from the events before it (ALS refitted on them),
and the purchases in ``[cut, now)`` are the labels. Only a bounded sample of users (``train_users``,
picked by md5 of id and seed, so both engines pick the same ones) is brought to the driver, where a
binary LightGBM model with the hybrid's parameters is trained single-threaded and deterministic: given
the same features (ranker_sql.py rounds them so they are), both engines train the same model. Scoring
runs where the candidate rows are (:meth:`Engine.score_booster`), then the same SQL keeps each
user's top k.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..logs import get_logger
from . import ranker_sql as R
from . import sql as Q
from .base import Engine
from .sql import BatchParams

if TYPE_CHECKING:
    from .pipeline import StageTimes

log = get_logger(__name__)

MODEL_FILE = "ranker.txt"
META_FILE = "ranker.json"
CUT_ALS = "ranker_als"
#: fewer training users with a purchase in the label window than this: no ranker (fusion instead)
MIN_TRAIN_USERS = 20


def depth(params: BatchParams) -> dict[str, int]:
    return {**R.DEFAULT_DEPTH, **(params.depth or {})}


def als_params(params: BatchParams) -> BatchParams:
    """ALS candidates deep enough for the candidates and for the ALS features (``R.FEATURE_DEPTH``)."""
    return replace(params, candidates=max(depth(params)["als"], R.FEATURE_DEPTH))


def has_model(model_dir: Path) -> bool:
    return (model_dir / MODEL_FILE).exists()


def build_features(engine: Engine, params: BatchParams, now: datetime, times: "StageTimes") -> None:
    """Tables ``cands`` and ``feats`` (one row per user and candidate, ``R.FEATURES`` columns) as of ``now``.

    Needs ``ev``, ``it``, ``popularity``, ``user_profiles`` and ``als_cands`` at ``now``.
    """
    d = engine.dialect
    times.timed("ranker:covisit", engine.materialise, "covisit", R.covisitation(d, now))
    times.timed("ranker:candidates", engine.materialise, "cands", R.candidates(d, params, now))
    times.timed("ranker:item_features", engine.materialise, "item_feats", R.item_features(d, now))
    times.timed("ranker:user_features", engine.materialise, "user_feats", R.user_features(d, now))
    times.timed("ranker:user_item_features", engine.materialise, "ui_feats", R.user_item_features(d, now))
    times.timed("ranker:category_share", engine.materialise, "user_cat_share", R.user_category_share(d, now))
    times.timed("ranker:features", engine.materialise, "feats", R.features())


def train(engine: Engine, snapshot: Path, params: BatchParams, now: datetime, model_dir: Path,
          times: "StageTimes") -> dict[str, Any] | None:
    """Fit the ranker on the label window(s) before ``now``; saves it in ``model_dir``. None: too few labels.

    Window ``w`` (0 .. ``label_windows`` - 1) ends ``w * label_days`` before ``now``: more windows give
    the ranker more labelled users. Leaves the engine's ``ev`` and aggregates as of the last cut: the
    caller prepares ``now`` again after.
    """
    frames: list[pd.DataFrame] = []
    users: list[int] = []
    for w in range(max(1, int(params.label_windows))):
        end = (now - timedelta(days=w * int(params.label_days))).replace(microsecond=0)
        cut = end - timedelta(days=int(params.label_days))
        frame = _window_rows(engine, snapshot, params, cut, end, model_dir / (CUT_ALS if w == 0 else f"{CUT_ALS}_{w}"),
                             times)
        if frame is None:
            break
        frames.append(frame.assign(window=w))
        users.append(int(frame["user_id"].nunique()))
    if not frames:
        log.warning("fewer than %d known users bought in the %d days before %s: no learned ranker, the lists "
                    "fuse the candidate sources instead (train on more data or with a shorter label window)",
                    MIN_TRAIN_USERS, params.label_days, f"{now:%Y-%m-%d}")
        return None
    booster, report = times.timed("ranker:fit", fit, pd.concat(frames, ignore_index=True), params)
    model_dir.mkdir(parents=True, exist_ok=True)
    text = booster.model_to_string(num_iteration=booster.best_iteration or None)
    (model_dir / MODEL_FILE).write_text(text)
    first_cut = now - timedelta(days=len(frames) * int(params.label_days))
    report.update(windows=len(frames), first_cut=first_cut.isoformat(), label_end=now.isoformat(),
                  sampled_users=users)
    (model_dir / META_FILE).write_text(json.dumps({"features": list(R.FEATURES), "report": report}, indent=2))
    log.info("batch ranker on %s: %s", engine.name, report)
    return report


def _window_rows(engine: Engine, snapshot: Path, params: BatchParams, cut: datetime, end: datetime,
                 als_dir: Path, times: "StageTimes") -> pd.DataFrame | None:
    """The sampled users' candidate rows as of ``cut`` with their labels in ``[cut, end)`` (None: too few)."""
    from .pipeline import build_aggregates, prepare

    at_cut = replace(params, until=cut)
    times.timed("ranker:prepare", prepare, engine, snapshot, at_cut)
    build_aggregates(engine, at_cut, cut, None, times, names=("popularity", "user_profiles"))
    engine.materialise("labels", R.labels(cut, end))
    engine.materialise("train_users", R.training_users(params))
    if engine.count("train_users") < MIN_TRAIN_USERS:
        return None
    times.timed("ranker:interactions", engine.materialise, "interactions", Q.INTERACTIONS)
    times.timed("ranker:als_fit", engine.fit_als, "interactions", params, als_dir)
    times.timed("ranker:als_candidates", engine.als_candidates, als_dir, als_params(params), "als_cands")
    build_features(engine, params, cut, times)
    engine.materialise("train_rows", R.TRAINING_ROWS)
    return times.timed("ranker:collect", lambda: engine.to_arrow("train_rows").to_pandas())


def fit(frame: pd.DataFrame, params: BatchParams) -> tuple[Any, dict[str, Any]]:
    """Binary LightGBM (the hybrid's parameters) on the users whose candidates hold a purchase.

    A query is one user in one label window. Rows are sorted by window, user and item first, so the
    model does not depend on the order the engine returned them in; one thread, ``deterministic`` and a fixed seed make the fit reproducible.
    """
    import lightgbm as lgb

    from ..recommend.ranker import LGBM_PARAMS, leaf_size

    if "window" not in frame.columns:
        frame = frame.assign(window=0)
    frame = frame.sort_values(["window", "user_id", "item_id"], kind="stable").reset_index(drop=True)
    y = (frame["bought"].to_numpy() > 0).astype(np.float32)
    users = (frame["window"].astype(str) + "|" + frame["user_id"].astype(str)).to_numpy()  # one query each
    has_pos = pd.Series(y, index=frame.index).groupby(users).transform("max").to_numpy() > 0
    frame, y, users = frame[has_pos], y[has_pos], users[has_pos]
    x = frame[list(R.FEATURES)].to_numpy(dtype=np.float64, na_value=np.nan)
    _, starts, group = np.unique(users, return_index=True, return_counts=True)
    group = group[np.argsort(starts)]
    q_valid = np.random.default_rng(params.seed + 1).random(len(group)) < 0.2
    row_valid = np.repeat(q_valid, group)
    lgb_params = dict(LGBM_PARAMS, objective="binary", seed=params.seed, num_threads=1, deterministic=True,
                      force_row_wise=True)
    lgb_params["min_data_in_leaf"] = leaf_size(lgb_params["min_data_in_leaf"], int((~row_valid).sum()))
    names = list(R.FEATURES)
    train_set = lgb.Dataset(x[~row_valid], y[~row_valid], group=group[~q_valid], feature_name=names)
    valid_set = lgb.Dataset(x[row_valid], y[row_valid], group=group[q_valid], reference=train_set)
    booster = lgb.train(lgb_params, train_set, num_boost_round=int(params.rounds), valid_sets=[valid_set],
                        callbacks=[lgb.early_stopping(30, verbose=False)])
    best = booster.best_score.get("valid_0", {}).get("ndcg@10") if booster.best_score else None
    report = {"queries": int(len(group)), "pairs": int(len(y)), "positives": int(y.sum()),
              "best_iteration": int(booster.best_iteration), "valid_ndcg@10": best}
    return booster, report


def recommend(engine: Engine, params: BatchParams, now: datetime, model_dir: Path, out_dir: Path,
              times: "StageTimes") -> None:
    """Table ``recommendations``: the ranker's top k among every known user's candidates as of ``now``.

    Needs ``ev``, ``it``, ``popularity`` and ``user_profiles`` at ``now``.
    """
    times.timed("als_candidates", engine.als_candidates, model_dir, als_params(params), "als_cands")
    build_features(engine, params, now, times)
    text = (model_dir / MODEL_FILE).read_text()
    times.timed("ranker:score", engine.score_booster, "feats", text, list(R.FEATURES), "scored", out_dir / "scored")
    times.timed("ranker:top_k", engine.materialise, "recommendations", R.top_k(params, engine.dialect))
