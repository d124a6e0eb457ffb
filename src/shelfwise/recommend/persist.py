"""Saving and loading fitted recommenders and whole model sets, without pickle.

A model set lives in ``model_dir/<version stamp>/``: ``manifest.json`` (what, when, which shelfwise,
with what settings), ``data/`` (the id maps, the catalog and the user history, as ``.npy`` and JSON)
and one folder per model (its manifest, ``.npy`` arrays, sparse matrices as their three arrays,
LightGBM text models). ``model_dir/current`` names the version that ``load_model_set`` opens by default;
it is replaced in one step, so a reader never sees a half-written set.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..artifacts import load_array, load_json, load_manifest, save_arrays, save_json, save_manifest
from ..data.attrs import flag_column
from ..errors import ModelNotFound
from .data import Interactions
from .generator import REGISTRY, HistoryRecommender
from .history import EVENT_TYPES, History

COMPONENT = "recommender"
MODEL_SET = "model_set"
CURRENT = "current"
_CATALOG = ("item_id", "title", "description", "category", "brand", "price", "launched_at", "non_product")


def save_component(model: HistoryRecommender, directory: Path) -> None:
    """One fitted model's manifest and state (not its data, which the model set saves once)."""
    directory = Path(directory)
    save_manifest(directory, COMPONENT, model.get_params(), meta={"name": model.name})
    model.save_state(directory)


def load_component(directory: Path, data: Interactions, history: History) -> Any:
    """A model saved by :func:`save_component`, bound to ``data`` and ``history``."""
    from . import ranker  # noqa: F401  (imports every recommender, filling the registry)

    manifest = load_manifest(directory, COMPONENT)
    name = manifest["meta"].get("name")
    cls = REGISTRY.get(name)
    if cls is None:
        raise ModelNotFound(f"{directory} holds a '{name}' model, which this version of shelfwise does not know")
    model = cls(**manifest["params"])
    model.data_ = data
    model.history_ = history
    model.load_state(Path(directory))
    return model


def save_data(directory: Path, data: Interactions, history: History) -> None:
    """Id maps, catalog and history: what every model of the set reads at serving time."""
    directory = Path(directory)
    save_arrays(directory, user_ids=np.asarray([str(u) for u in data.user_ids], dtype=str),
                item_ids=np.asarray([str(i) for i in data.item_ids], dtype=str),
                h_user=history.user, h_item=history.item, h_ts=history.ts, h_code=history.code, h_qty=history.qty)
    items = data.items.reindex(columns=list(_CATALOG))
    catalog = {c: [None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v) for v in items[c]]
               for c in _CATALOG}
    save_json(directory, "catalog", catalog)
    save_json(directory, "state", {"now": data.now.isoformat(), "history_now": history.now,
                                   "extra_users": history.extra_ids, "event_weights": data.event_weights})


def load_data(directory: Path) -> tuple[Interactions, History]:
    """What :func:`save_data` wrote, as an :class:`Interactions` and its :class:`History`."""
    directory = Path(directory)
    state = load_json(directory, "state")
    user_ids = load_array(directory, "user_ids").astype(object)
    item_ids = load_array(directory, "item_ids").astype(object)
    h = {k: load_array(directory, f"h_{k}") for k in ("user", "item", "ts", "code", "qty")}
    catalog = pd.DataFrame(load_json(directory, "catalog"))
    catalog["price"] = pd.to_numeric(catalog["price"], errors="coerce")
    catalog["launched_at"] = pd.to_datetime(catalog["launched_at"], errors="coerce")
    # model sets written before the flag existed recommend every item, as they did
    catalog["non_product"] = flag_column(catalog["non_product"]) if "non_product" in catalog.columns else False
    known = h["user"] < len(user_ids)
    names = np.asarray(EVENT_TYPES + ("unknown",), dtype=object)
    events = pd.DataFrame({
        "user_idx": h["user"][known], "item_idx": h["item"][known],
        "timestamp": pd.to_datetime(h["ts"][known], unit="s"), "event": names[h["code"][known]],
        "quantity": h["qty"][known].astype(np.float64), "session_id": None, "order_id": None, "position": None,
        "user_id": user_ids[h["user"][known]], "item_id": item_ids[h["item"][known]],
    })
    data = Interactions(user_ids, item_ids, events, catalog, datetime.fromisoformat(state["now"]),
                        dict(state["event_weights"]))
    history = History(user_ids, len(item_ids), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                      np.zeros(0, np.int8), np.zeros(0, np.float32), int(state["history_now"]))
    for u in state["extra_users"]:
        history._index[u] = history.n_known + len(history.extra_ids)
        history.extra_ids.append(u)
    history._set(h["user"], h["item"], h["ts"], h["code"], h["qty"])
    return data, history


def save_model_set(model: HistoryRecommender, model_dir: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (usually the hybrid) with its data under a new version folder; point ``current`` at it."""
    root = Path(model_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    version, n = stamp, 1
    while (root / version).exists():
        n += 1
        version = f"{stamp}-{n}"
    directory = root / version
    save_data(directory / "data", model.data_, model.history_)
    save_component(model, directory / "model")
    save_manifest(directory, MODEL_SET, {"model": model.name, **model.get_params()},
                  meta={"version": version, "users": int(model.data_.n_users), "items": int(model.data_.n_items),
                        **(meta or {})})
    tmp = root / f".{CURRENT}.{os.getpid()}"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / CURRENT)
    return directory


def resolve_version(model_dir: str | Path, version: str | None = None) -> Path:
    """The folder of ``version`` (default: the one ``current`` names)."""
    root = Path(model_dir)
    if version is None:
        pointer = root / CURRENT
        if not pointer.exists():
            raise ModelNotFound(f"no trained model set in {root} (no '{CURRENT}' file); run: shelfwise train")
        version = pointer.read_text().strip()
    directory = root / version
    if not directory.is_dir():
        raise ModelNotFound(f"model set version '{version}' not found in {root}; list them with: ls {root}")
    return directory


def load_model_set(model_dir: str | Path, version: str | None = None) -> Any:
    """The model saved by :func:`save_model_set`, ready to recommend."""
    directory = resolve_version(model_dir, version)
    load_manifest(directory, MODEL_SET)
    data, history = load_data(directory / "data")
    model = load_component(directory / "model", data, history)
    model.version_ = directory.name
    return model


def list_versions(model_dir: str | Path) -> list[dict[str, Any]]:
    """Every saved model set with its manifest summary, newest first."""
    root = Path(model_dir)
    current = (root / CURRENT).read_text().strip() if (root / CURRENT).exists() else None
    out = []
    for d in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True) if root.is_dir() else []:
        try:
            m = load_manifest(d, MODEL_SET)
        except ModelNotFound:
            continue
        out.append({"version": d.name, "current": d.name == current, "written_at": m["written_at"], **m["meta"]})
    return out
