"""Recommendation operations: train the model set, recommend for users, find similar items.

Plain values in, plain data out; the CLI and the API both call these. Recommending reads the store's
events newer than the model (when a store is given), so a user who bought something after training is
personal at once, and a brand-new user gets popular items until their first event arrives.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import get_settings
from ..data.store import open_store
from ..errors import InputError, StoreError, UnknownIdError
from ..logs import get_logger
from .ids import clean_ids

log = get_logger(__name__)


@dataclass
class TrainResult:
    version: str
    path: Path
    seconds: float
    users: int
    items: int
    events: int
    report: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "path": str(self.path), "seconds": round(self.seconds, 2),
                "users": self.users, "items": self.items, "events": self.events, "report": self.report}


def item_encoder_name(model_dir: str | Path | None = None, encoder: str | None = None) -> str:
    """The text encoder to train with: the one asked for, else the shop's behaviour-tuned encoder (when
    ``shelfwise finetune`` made one under ``<model_dir>/text/item_encoder``), else the ``encoder`` setting."""
    if encoder:
        return encoder
    from ..text.behaviour import tuned_encoder_path

    tuned = tuned_encoder_path(model_dir or get_settings().model_dir)
    if tuned is not None:
        log.info("using the behaviour-tuned item encoder %s", tuned)
        return str(tuned)
    return get_settings().encoder


def train_store(store: Any, model_dir: str | Path | None = None, encoder: str | None = None,
                label_days: int = 28, meta: dict[str, Any] | None = None, **params: Any) -> TrainResult:
    """Fit the hybrid on an open store's events and save it as a new model set version.

    ``params`` go to :class:`~shelfwise.recommend.ranker.Hybrid` (for example ``max_train_users``), so
    callers with a time budget (the demo) can train a smaller ranker.
    """
    from ..recommend import Interactions
    from ..recommend.persist import save_model_set
    from ..recommend.ranker import Hybrid

    settings = get_settings()
    start = time.perf_counter()
    data = Interactions.from_store(store)
    if len(data.events) == 0:
        raise InputError("the store holds no events to learn from; ingest a shop first (shelfwise ingest DIR)")
    root = Path(model_dir or settings.model_dir)
    model = Hybrid(label_days=label_days, encoder=item_encoder_name(root, encoder), seed=settings.seed,
                   store=store, **params)
    model.fit(data)
    seconds = time.perf_counter() - start
    path = save_model_set(model, root, meta={"train_seconds": round(seconds, 2),
                                             "trained_until": data.now.isoformat(), **(meta or {})})
    report = {"ranker": model.train_report_, "timings": {k: round(v, 2) for k, v in model.timings_.items()}}
    if model.cold_ is not None:
        report["new_items"] = model.cold_.train_report_
    return TrainResult(path.name, path, seconds, data.n_users, data.n_items, len(data.events), report)


def train(db: str | None = None, model_dir: str | Path | None = None, encoder: str | None = None,
          label_days: int = 28) -> TrainResult:
    """Fit the hybrid (generators, ranker, new-item model) on the whole store and save a new version."""
    with open_store(db) as store:
        return train_store(store, model_dir, encoder, label_days, meta={"db": db or get_settings().db})


def read_ids(path: str | Path, column: str) -> list[str]:
    """Ids from a file: a CSV with a ``column`` header, or one id per line (blank lines skipped)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"the file {p} does not exist", file=str(p))
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8", file=str(p),
                         line=line) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    # the file's own line numbers (blank lines counted) beside the rows that hold anything
    numbered = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    lines, rows = [n for n, _ in numbered], [r for _, r in numbered]
    if not rows:
        raise InputError(f"no ids in the file (expected a '{column}' column or one id per line)", file=str(p))
    header = [c.strip() for c in rows[0]]
    if column in header:
        j = header.index(column)
        ids = []
        for line, r in zip(lines[1:], rows[1:]):
            if j >= len(r) or not r[j].strip():
                raise InputError(f"empty {column}", file=str(p), line=line, field=column)
            ids.append(r[j].strip())
        return ids
    if len(header) > 1:
        raise InputError(f"has several columns but none named '{column}'", file=str(p), line=lines[0], field=column)
    return [r[0].strip() for r in rows]


def load(model_dir: str | Path | None = None, version: str | None = None) -> Any:
    """The saved model set (default: the current version under the ``model_dir`` setting)."""
    from ..recommend.persist import load_model_set

    return load_model_set(model_dir or get_settings().model_dir, version)


def _new_events(model: Any, db: str | None, users: Sequence[str]) -> pd.DataFrame | None:
    """Events in the store newer than the model, for these users (personal at once, no refit)."""
    since = pd.Timestamp(model.history_.now, unit="s").to_pydatetime()
    try:
        store = open_store(db, read_only=True)
    except StoreError as exc:  # no store here: recommend from the model alone
        log.info("not reading new events: %s", exc)
        return None
    with store:
        if not store.has_table("events"):
            return None
        ev = store.read("events", columns=["timestamp", "user_id", "item_id", "event", "quantity"],
                        where="timestamp > ?", params=[since]).to_pandas()
    ev = ev[ev["user_id"].isin(set(users))]
    if len(ev):
        log.info("using %d events newer than the model for %d users", len(ev), ev["user_id"].nunique())
    return ev if len(ev) else None


def recommend(users: Sequence[str], k: int = 10, items: Sequence[str] | None = None,
              filter_purchased: bool | None = None, db: str | None = None, model_dir: str | Path | None = None,
              version: str | None = None, recent_events: pd.DataFrame | None = None, model: Any = None,
              batch: int = 1000, policy: Any = None) -> pd.DataFrame:
    """Top-``k`` per user as rows ``user_id, rank, item_id, score`` (rank from 1).

    A user listed twice gets one list, in the place of the first mention. ``items`` limits the
    candidates to these ids; ``filter_purchased`` (default: the setting) drops what the user already bought; ``recent_events`` adds events for this call only. ``policy``
    (a :class:`shelfwise.policy.PolicyParams` or a dict of its fields, over the settings' knobs; False for none) re-ranks
    a longer candidate list with the exposure policies (:mod:`shelfwise.service.policy`).
    """
    if k < 1:
        raise InputError(f"k must be at least 1 (got {k})", field="k")
    if not users:
        raise InputError("no users to recommend for", field="users")
    users = list(dict.fromkeys(clean_ids(users, "user_id")))  # one list per user, even when listed twice
    items = clean_ids(items, "item_id") if items is not None else None
    model = model or load(model_dir, version)
    from . import policy as policy_service

    params = None if policy is False else policy_service.policy_params(policy)
    if params is not None and params.reranks:  # policy=False: the model's own list, never re-ranked
        wide = recommend(users, policy_service.candidate_count(k, params), items, filter_purchased, db, model_dir, version,
                         recent_events, model, batch, policy=False)
        # exploration draws from the whole catalog: it must drop what the user bought when the lists do
        exclude = get_settings().filter_purchased if filter_purchased is None else filter_purchased
        return policy_service.apply_policies(wide, params, k, db=db, model=model, allowed_items=items,
                                             exclude_purchased=exclude)
    if items is not None:
        known = model.data_.item_indices(list(items))
        if (known < 0).all():
            raise UnknownIdError(f"none of the {len(items)} items given is known to the model; "
                                 "train again after ingesting them")
        if (known < 0).any():
            unknown = [str(i) for i, j in zip(items, known) if j < 0]
            log.warning("%d of the %d items given are unknown to the model and left out (%s)", len(unknown),
                        len(items), ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else ""))
    seen = get_settings().filter_purchased if filter_purchased is None else filter_purchased
    fresh = _new_events(model, db, users)
    if recent_events is not None:
        fresh = recent_events if fresh is None else pd.concat([fresh, recent_events], ignore_index=True)
    frames = []
    users = [str(u) for u in users]
    for lo in range(0, len(users), batch):
        chunk = users[lo:lo + batch]
        ids, scores = model.recommend(chunk, k=k, items=items, filter_seen=seen, recent_events=fresh)
        ids, scores = np.asarray(ids, dtype=object), np.asarray(scores, dtype=np.float64)
        ok = np.array([i is not None for i in ids.ravel()]).reshape(ids.shape)
        r, c = np.nonzero(ok)
        frames.append(pd.DataFrame({"user_id": np.asarray(chunk, dtype=object)[r], "rank": c + 1,
                                    "item_id": ids[r, c], "score": np.round(scores[r, c], 6)}))
    return pd.concat(frames, ignore_index=True)


def similar(item_ids: Sequence[str], k: int = 10, model_dir: str | Path | None = None,
            version: str | None = None, model: Any = None) -> pd.DataFrame:
    """The ``k`` most similar items to each given item: rows ``item_id, rank, similar_item_id, score``."""
    item_ids = clean_ids(item_ids, "item_id")
    model = model or load(model_dir, version)
    idx = model.data_.item_indices(list(item_ids))
    if (idx < 0).any():
        missing = [i for i, j in zip(item_ids, idx) if j < 0]
        raise UnknownIdError(f"unknown item id(s): {', '.join(map(str, missing[:5]))}; the model knows "
                             f"{model.data_.n_items:,} items (train again after ingesting new ones)")
    ids, scores = model.similar_items(list(item_ids), k)
    rows = []
    for item, row_ids, row_scores in zip(item_ids, ids, scores):
        for rank, (other, score) in enumerate(zip(row_ids, row_scores), start=1):
            if other is not None:
                rows.append({"item_id": item, "rank": rank, "similar_item_id": other, "score": round(float(score), 6)})
    return pd.DataFrame(rows, columns=["item_id", "rank", "similar_item_id", "score"])


def versions(model_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Saved model sets, newest first."""
    from ..recommend.persist import list_versions

    return list_versions(model_dir or get_settings().model_dir)
