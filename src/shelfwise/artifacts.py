"""Saving and loading fitted models without pickle, stamped with the version that wrote them.

A model directory holds ``manifest.json`` (kind, shelfwise version, parameters, a digest of the
settings that shaped it, free-form metadata) beside its own files: NumPy arrays (``.npy``, loaded with
``allow_pickle=False``), JSON, LightGBM text models, safetensors. :func:`load_manifest` refuses a
directory written by an incompatible major version with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ModelNotFound

MANIFEST = "manifest.json"


def settings_digest(params: dict[str, Any]) -> str:
    """A short, stable digest of the parameters that shaped a model (to tell two fits apart)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_manifest(directory: str | Path, kind: str, params: dict[str, Any],
                  meta: dict[str, Any] | None = None) -> dict[str, Any]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    manifest = {
        "kind": kind,
        "shelfwise_version": __version__,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "params": params,
        "settings_digest": settings_digest(params),
        "meta": meta or {},
    }
    (d / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


def load_manifest(directory: str | Path, kind: str | None = None) -> dict[str, Any]:
    d = Path(directory)
    path = d / MANIFEST
    if not path.exists():
        raise ModelNotFound(f"no model in {d} (no {MANIFEST}); train one first (for example: shelfwise train)")
    manifest = json.loads(path.read_text())
    if kind is not None and manifest.get("kind") != kind:
        raise ModelNotFound(f"{d} holds a '{manifest.get('kind')}' model, not a '{kind}' model")
    written = str(manifest.get("shelfwise_version", "0")).split(".")[0]
    if written != __version__.split(".")[0]:
        raise ModelNotFound(f"{d} was written by shelfwise {manifest.get('shelfwise_version')}, which this "
                            f"version ({__version__}) cannot read; train it again")
    return manifest


def save_arrays(directory: str | Path, **arrays: np.ndarray) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        np.save(d / f"{name}.npy", np.asarray(arr), allow_pickle=False)


def load_array(directory: str | Path, name: str) -> np.ndarray:
    path = Path(directory) / f"{name}.npy"
    if not path.exists():
        raise ModelNotFound(f"model file {path} is missing; train the model again")
    return np.load(path, allow_pickle=False)


def save_json(directory: str | Path, name: str, obj: Any) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(obj, default=str))


def load_json(directory: str | Path, name: str) -> Any:
    path = Path(directory) / f"{name}.json"
    if not path.exists():
        raise ModelNotFound(f"model file {path} is missing; train the model again")
    return json.loads(path.read_text())
