"""Offline evaluation: fit models on the part of the store before a cutoff and score what they recommend.

``evaluate_models`` is ``shelfwise evaluate``: every chosen model is fitted on the train part of the
temporal split (:mod:`shelfwise.evaluate.split`) and ranks the whole catalog (or the ``--items`` list)
for every test user. ``score_recommendations`` is ``shelfwise evaluate score``: it scores any CSV of
recommendations (``user_id,rank,item_id,score``), from shelfwise or from elsewhere, against the same
test, so users can check any claim with a scorer that never saw the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import get_settings
from ..data.store import Store, open_store
from ..errors import InputError, SchemaError, ShelfwiseError
from ..evaluate import metrics
from ..evaluate.baselines import PEERS
from ..evaluate.split import Split, restrict_candidates, temporal_split
from ..logs import get_logger
from ..progress import task
from ..recommend.base import Recommender

log = get_logger(__name__)

DEFAULT_MODELS = ("shelfwise", "popularity", "buy-again", "implicit-als", "implicit-bm25")
SHELFWISE = "shelfwise"


def model_names() -> list[str]:
    """Every name ``--models`` accepts: shelfwise, its generators as ``shelfwise:<name>``, the peers."""
    from ..recommend.generator import REGISTRY
    from ..recommend import ranker  # noqa: F401  (imports every generator, which registers it)

    own = [f"{SHELFWISE}:{n}" for n in sorted(REGISTRY) if n != "hybrid"]
    return [SHELFWISE, *own, *PEERS]


def make_model(name: str, store: Store | None = None, **params: Any) -> Recommender:
    """An unfitted model by its ``--models`` name; ``params`` override its defaults."""
    if name in PEERS:
        return PEERS[name](**params)
    from ..recommend import ranker
    from ..recommend.generator import REGISTRY

    settings = get_settings()
    if name == SHELFWISE:
        return ranker.Hybrid(**{"encoder": settings.encoder, "store": store, "seed": settings.seed, **params})
    if name.startswith(f"{SHELFWISE}:") and name.split(":", 1)[1] in REGISTRY:
        cls = REGISTRY[name.split(":", 1)[1]]
        kwargs: dict[str, Any] = dict(params)
        if "encoder" in cls.__init__.__code__.co_varnames:
            kwargs.setdefault("encoder", settings.encoder)
        if "store" in cls.__init__.__code__.co_varnames:
            kwargs.setdefault("store", store)
        return cls(**kwargs)
    raise InputError(f"unknown model '{name}' in --models: choose from {', '.join(model_names())}",
                     field="models")


def recommend_lists(model: Recommender, split: Split, k: int, batch: int = 512) -> np.ndarray:
    """(test users x k) catalog indices of what ``model`` recommends, -1 where it had nothing more."""
    out = np.full((len(split.users), k), -1, dtype=np.int64)
    candidates = split.candidates
    allowed = None if candidates is None else list(candidates)
    with task("recommending", total=len(split.users)) as bar:
        for lo in range(0, len(split.users), batch):
            users = split.users[lo:lo + batch]
            ids, _ = model.recommend(users, k=k, items=allowed)
            flat = np.asarray(ids, dtype=object).ravel()
            filled = np.array([i is not None for i in flat], dtype=bool)
            idx = np.full(len(flat), -1, dtype=np.int64)
            if filled.any():
                idx[filled] = split.train.item_indices(flat[filled])
            out[lo:lo + len(users)] = idx.reshape(len(users), k)
            bar.advance(len(users))
    return out


def fit_and_score(model: Recommender, split: Split, k: int) -> dict[str, Any]:
    """Fit ``model`` on the train part, rank for every test user, and return metrics and timings."""
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs = recommend_lists(model, split, k)
    rec_s = time.perf_counter() - t0
    result: dict[str, Any] = metrics.evaluate_lists(recs, split.relevant, split.catalog)
    result.update(fit_s=fit_s, recommend_s=rec_s)
    return result


def _read_items_file(path: str | Path) -> list[str]:
    """Item ids, one per line (a header line ``item_id`` is skipped), as ``shelfwise recommend --items``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"the items file {p} does not exist", file=str(p))
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is not part of the first id
    except UnicodeDecodeError as exc:
        raise SchemaError(f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8", file=str(p),
                          line=raw.count(b"\n", 0, exc.start) + 1) from None
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if ids and ids[0] == "item_id":
        ids = ids[1:]
    if not ids:
        raise InputError("the items file lists no item ids (one id per line)", file=str(p))
    return ids


#: lists longer than the catalog are allowed up to this length (padded), so small shops keep -k 10
MIN_K_LIMIT = 1000


def _k_limit(split: Split) -> int:
    """The longest list that can be scored: the catalog's size, or :data:`MIN_K_LIMIT` when that is more."""
    return max(int(split.catalog.n_items), MIN_K_LIMIT)


def _split(store: Store, cutoff: str | datetime, window_days: float | None, items: str | Path | None) -> Split:
    split = temporal_split(store, cutoff, window_days)
    if items is not None:
        split = restrict_candidates(split, _read_items_file(items))
    if len(split.users) == 0:
        raise InputError("no test user (a user with training events who bought a candidate item after the "
                         "cutoff): pick an earlier cutoff or a longer window", field="cutoff")
    return split


def evaluate_models(db: str | None, cutoff: str | datetime, window_days: float | None = None, k: int = 10,
                    models: Sequence[str] = DEFAULT_MODELS, items: str | Path | None = None) -> dict[str, Any]:
    """Fit each model on the events before ``cutoff`` and score it on the purchases after it.

    A model that cannot train on this split (the hybrid needs more buyers than a tiny shop has) is listed
    under ``failed`` with its reason, and the others are still scored: one model's limit must not hide the
    peers' figures. Only when no model could be evaluated is it an error.
    """
    if k < 1:
        raise InputError(f"-k must be at least 1, got {k}", field="k")
    names = [m.strip() for m in models if m.strip()]
    if not names:
        raise InputError("--models is empty: name at least one model", field="models")
    with open_store(db) as store:
        built = {name: make_model(name, store) for name in names}  # unknown names fail before any work
        split = _split(store, cutoff, window_days, items)
        if k > _k_limit(split):
            raise InputError(f"-k {k} is longer than the catalog ({split.catalog.n_items:,} items): a list "
                             "cannot hold more items than the shop has", field="k")
        results: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        for name, model in built.items():
            log.info("evaluating %s", name)
            try:
                results[name] = fit_and_score(model, split, k)
            except ShelfwiseError as exc:
                # info, not warning: the caller reports ``failed`` (the CLI prints it once, with the table)
                log.info("model '%s' cannot be evaluated with this split: %s", name, exc)
                failed[name] = str(exc)
    if not results:
        reasons = "; ".join(f"'{name}': {reason}" for name, reason in failed.items())
        raise InputError(f"no model could be evaluated with this split ({reasons}); pick a later --cutoff",
                         field="cutoff")
    return {"split": split.summary(), "k": k, "models": results, "failed": failed}


# --- the independent scorer -------------------------------------------------------------------------
REC_COLUMNS = ("user_id", "rank", "item_id")


def read_recommendations(path: str | Path) -> pd.DataFrame:
    """A recommendations CSV (``user_id,rank,item_id[,score]``), checked row by row."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"the recommendations file {p} does not exist", file=str(p))
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SchemaError(f"cannot read it as CSV ({exc})", file=str(p)) from None
    missing = [c for c in REC_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"missing column(s) {', '.join(missing)}; expected user_id,rank,item_id,score "
                          "(as written by shelfwise recommend --out)", file=str(p))
    if frame.empty:
        raise InputError("holds no recommendations: only a header, no user_id,rank,item_id rows", file=str(p))
    for col in ("user_id", "item_id"):
        bad = frame[col].str.strip() == ""
        if bad.any():
            raise InputError(f"empty {col}", file=str(p), line=int(np.flatnonzero(bad)[0]) + 2, field=col)
    rank = pd.to_numeric(frame["rank"], errors="coerce")
    bad = ~np.isfinite(rank.astype("float64")) | (rank < 1) | (rank != rank.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"rank '{frame['rank'].iloc[row]}' is not a whole number from 1", file=str(p),
                         line=row + 2, field="rank")
    frame = frame.assign(rank=rank.astype(np.int64), user_id=frame["user_id"].str.strip(),
                         item_id=frame["item_id"].str.strip())
    dup = frame.duplicated(["user_id", "rank"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"user {frame['user_id'].iloc[row]} has rank {frame['rank'].iloc[row]} twice",
                         file=str(p), line=row + 2, field="rank")
    return frame


def lists_from_frame(frame: pd.DataFrame, split: Split, k: int | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """The (test users x K) index matrix of a recommendations frame, and what did not fit into it."""
    k = int(frame["rank"].max()) if k is None else k
    recs = np.full((len(split.users), k), -1, dtype=np.int64)
    row_of = pd.Series(np.arange(len(split.users)), index=pd.Index(split.users.astype(str)))
    in_test = frame["user_id"].isin(row_of.index)
    top = frame[in_test & (frame["rank"] <= k)]
    iidx = split.train.item_indices(top["item_id"].to_numpy(dtype=object))
    recs[row_of.loc[top["user_id"]].to_numpy(), top["rank"].to_numpy() - 1] = iidx
    listed = set(frame["user_id"])
    info = {"rows": int(len(frame)), "k": k, "users_in_file": int(frame["user_id"].nunique()),
            "users_not_tested": int(frame.loc[~in_test, "user_id"].nunique()),
            "test_users_without_recs": int(sum(1 for u in split.users if str(u) not in listed)),
            "items_not_in_catalog": int((iidx < 0).sum())}
    if split.catalog.candidates is not None:
        info["items_not_candidates"] = int(((iidx >= 0) & ~split.catalog.candidates[np.maximum(iidx, 0)]).sum())
    return recs, info


def score_recommendations(recs_path: str | Path, db: str | None, cutoff: str | datetime,
                          window_days: float | None = None, k: int | None = None,
                          items: str | Path | None = None) -> dict[str, Any]:
    """Score a recommendations CSV against the store's purchases at or after ``cutoff``.

    Test users the file has no list for count as empty lists (zero), so leaving hard users out cannot
    raise the score; users in the file who bought nothing in the window are not scored.
    """
    frame = read_recommendations(recs_path)
    if k is not None and k < 1:
        raise InputError(f"-k must be at least 1, got {k}", field="k")
    with open_store(db, read_only=True) as store:
        split = _split(store, cutoff, window_days, items)
    limit = _k_limit(split)
    if k is not None and k > limit:
        raise InputError(f"-k {k} is longer than the catalog ({split.catalog.n_items:,} items): a list "
                         "cannot hold more items than the shop has", field="k")
    if k is None and int(frame["rank"].max()) > limit:
        row = int(frame["rank"].to_numpy().argmax())
        raise InputError(f"rank {frame['rank'].iloc[row]} is beyond the catalog ({split.catalog.n_items:,} "
                         "items), so the lists cannot be scored to their end; give -k K to score the first K "
                         "ranks", file=str(recs_path), line=row + 2, field="rank")
    recs, info = lists_from_frame(frame, split, k)
    result = metrics.evaluate_lists(recs, split.relevant, split.catalog)
    return {"split": split.summary(), "k": info["k"], "file": str(recs_path), "coverage_of_file": info,
            "metrics": result}
