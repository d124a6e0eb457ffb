"""Behaviour-tuned item embeddings: teach the text encoder which items this shop's users buy together.

A pre-trained encoder says "RED MUG" is like "RED CUP" because the words are alike; shoppers may
instead buy the red mug with a matching saucer. Contrastive fine-tuning on pairs of items that the
same basket (order, else session, else user and day) holds, with sentence-transformers'
``MultipleNegativesRankingLoss`` (every other pair in the batch is a negative), moves item texts that
are bought together closer. The tuned encoder is an ordinary sentence-transformers folder, so every
text path can use it; the recommender's content and cold-start paths find it through
:func:`tuned_encoder_path` (``<model_dir>/text/item_encoder``) and fall back to the untuned encoder.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..artifacts import load_manifest, save_manifest
from ..errors import InputError, ModelNotFound
from ..logs import get_logger
from ..paths import check_folder_writable
from ..progress import task
from .encoder import Encoder, item_text, quiet_weight_loading, resolve_model_path

log = get_logger(__name__)

KIND = "item-encoder"


@dataclass
class TuneParams:
    """CPU-sized defaults: a few thousand pairs, one epoch, short item texts."""

    max_pairs: int = 20_000
    max_basket: int = 30  # larger baskets (wholesale orders) are sampled down to this many items
    min_count: int = 1  # a pair must co-occur at least this often
    per_item_cap: int = 50  # no item appears in more pairs than this (hub items would dominate)
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 2e-5
    max_length: int = 64
    scale: float = 20.0
    seed: int = 42
    events: tuple[str, ...] = ("purchase", "cart")
    # 'gist': MultipleNegativesRankingLoss whose in-batch negatives are filtered by the untuned encoder
    # (GISTEmbedLoss): a negative the guide finds closer than the positive is not pushed away, so items of
    # one theme that happen to share a batch keep their likeness. 'mnrl': the plain loss.
    loss: str = "gist"

    def check(self) -> None:
        """Refuse settings that tune nothing, before any work.

        Why: ``epochs=0`` (or a batch of one, which makes no in-batch negative) ran 0 steps, reported
        "loss nan -> nan" and saved the untuned encoder where the recommender looks; ``max_pairs=0``
        blamed the shop ("only 1 pairs ... are bought together"); a learning rate of 0 or NaN learns nothing.
        """
        for name, least in (("epochs", 1), ("max_pairs", 1), ("batch_size", 2), ("max_length", 1),
                            ("max_basket", 2), ("min_count", 1), ("per_item_cap", 1)):
            value = getattr(self, name)
            if value < least:
                raise InputError(f"{name} must be at least {least} (got {value})", field=name)
        for name in ("learning_rate", "scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number (got {value})", field=name)


def tuned_encoder_path(model_dir: str | Path | None = None) -> Path | None:
    """The behaviour-tuned encoder folder when one was trained, else None (use the untuned encoder)."""
    if model_dir is None:
        from ..config import get_settings

        model_dir = get_settings().model_dir
    path = Path(model_dir) / "text" / "item_encoder"
    return path if (path / "manifest.json").exists() and (path / "config.json").exists() else None


def item_encoder(model_dir: str | Path | None = None, **kw: Any) -> Encoder:
    """The encoder for item texts: the behaviour-tuned one when present, else the ``encoder`` setting."""
    path = tuned_encoder_path(model_dir)
    return Encoder(str(path) if path is not None else None, **kw)


def baskets(events: pd.DataFrame, kinds: tuple[str, ...]) -> list[list[str]]:
    """Groups of distinct items bought together: by order, else session, else user and calendar day."""
    ev = events[events["event"].isin(kinds)].copy()
    if ev.empty:
        return []
    ev["timestamp"] = pd.to_datetime(ev["timestamp"])
    key = pd.Series([None] * len(ev), index=ev.index, dtype=object)
    for col in ("order_id", "session_id"):
        if col in ev.columns:
            key = key.where(key.notna(), ev[col].map(lambda v, c=col: f"{c}:{v}" if isinstance(v, str) and v else None))
    user_day = "user:" + ev["user_id"].astype(str) + ":" + ev["timestamp"].dt.strftime("%Y-%m-%d")
    key = key.where(key.notna(), user_day.where(ev["user_id"].notna()))
    ev = ev.assign(_basket=key).dropna(subset=["_basket"])
    groups = ev.groupby("_basket", sort=False)["item_id"].apply(lambda s: list(dict.fromkeys(s)))
    return [g for g in groups if len(g) >= 2]


def co_pairs(groups: list[list[str]], params: TuneParams, has_text: set[str]) -> list[tuple[str, str]]:
    """Item pairs that co-occur, strongest first, each item in at most ``per_item_cap`` pairs."""
    rng = np.random.default_rng(params.seed)
    counts: Counter[tuple[str, str]] = Counter()
    for g in groups:
        g = [i for i in g if i in has_text]
        if len(g) > params.max_basket:
            g = list(rng.choice(g, size=params.max_basket, replace=False))
        for a, b in combinations(sorted(g), 2):
            counts[(a, b)] += 1
    ranked = sorted((p for p, c in counts.items() if c >= params.min_count), key=lambda p: (-counts[p], p))
    used: Counter[str] = Counter()
    out = []
    for a, b in ranked:
        if used[a] >= params.per_item_cap or used[b] >= params.per_item_cap:
            continue
        used[a] += 1
        used[b] += 1
        out.append((a, b))
        if len(out) >= params.max_pairs:
            break
    return out


def _batches_without_repeats(pairs: list[tuple[str, str]], size: int, rng: np.random.Generator) -> list[list[int]]:
    """Batches in which no item appears twice (an in-batch negative must not be the positive)."""
    order = list(rng.permutation(len(pairs)))
    batches: list[list[int]] = []
    while order:
        batch, seen, rest = [], set(), []
        for i in order:
            a, b = pairs[i]
            if len(batch) < size and a not in seen and b not in seen:
                batch.append(i)
                seen.update((a, b))
            else:
                rest.append(i)
        if len(batch) < 2:
            break
        batches.append(batch)
        order = rest
    return batches


def tune(items: pd.DataFrame, events: pd.DataFrame, out_dir: str | Path, base: str | None = None,
         params: TuneParams | None = None) -> dict[str, Any]:
    """Fine-tune the encoder on co-purchased item texts and save it (sentence-transformers folder)."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the losses
        from sentence_transformers.sentence_transformer.losses import GISTEmbedLoss, MultipleNegativesRankingLoss
    except ImportError:  # pragma: no cover - older releases
        from sentence_transformers.losses import GISTEmbedLoss, MultipleNegativesRankingLoss

    p = params or TuneParams()
    p.check()
    out = check_folder_writable(out_dir)  # a file in the way fails now, not after the tuning
    texts = {str(r.item_id): item_text(r.title, r.description, r.category, r.brand)
             for r in items.itertuples(index=False)}
    texts = {k: v for k, v in texts.items() if v}
    pairs = co_pairs(baskets(events, p.events), p, set(texts))
    if len(pairs) < p.batch_size:
        raise InputError(f"only {len(pairs)} pairs of items with text are bought together (need at least "
                         f"{p.batch_size}): behaviour tuning needs events of kind {list(p.events)} with baskets "
                         "(order_id, session_id or user and day) and item titles")
    torch.manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    base_path = resolve_model_path(base)
    with quiet_weight_loading():
        model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    model.max_seq_length = p.max_length
    if p.loss == "gist":
        with quiet_weight_loading():
            guide = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
        guide.max_seq_length = p.max_length
        loss_fn = GISTEmbedLoss(model, guide, temperature=1.0 / p.scale)
    elif p.loss == "mnrl":
        loss_fn = MultipleNegativesRankingLoss(model, scale=p.scale)
    else:
        raise InputError(f"unknown tuning loss '{p.loss}'; choose gist or mnrl")
    opt = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    batches = [b for _ in range(p.epochs) for b in _batches_without_repeats(pairs, p.batch_size, rng)]
    warm = max(1, len(batches) // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    start = time.perf_counter()
    losses = []
    model.train()
    with task("tuning item encoder", total=len(batches)) as bar:
        for batch in batches:
            a = model.preprocess([texts[pairs[i][0]] for i in batch])
            b = model.preprocess([texts[pairs[i][1]] for i in batch])
            loss = loss_fn([a, b], None)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(float(loss.item()))
            bar.advance()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out), safe_serialization=True)
    window = max(1, min(10, len(losses) // 5))  # mean loss of the first and last steps
    report = {"pairs": len(pairs), "items_with_text": len(texts), "steps": len(batches),
              "first_loss": float(np.mean(losses[:window])), "last_loss": float(np.mean(losses[-window:])),
              "seconds": time.perf_counter() - start, "base": str(base or "")}
    save_manifest(out, KIND, asdict(p), meta=report)
    log.info("tuned item encoder on %d pairs in %d steps (%.0fs): loss %.3f -> %.3f", len(pairs), len(batches),
             report["seconds"], report["first_loss"], report["last_loss"])
    return report


def tune_from_store(store: Any, out_dir: str | Path | None = None, base: str | None = None,
                    params: TuneParams | None = None) -> dict[str, Any]:
    """:func:`tune` on the store's catalog and events; saved where :func:`tuned_encoder_path` looks."""
    if not store.has_table("events") or store.count("events") == 0:
        raise InputError(f"the store {store.url} has no events: ingest a shop first")
    items = store.query("SELECT item_id, title, description, category, brand FROM items").to_pandas()
    events = store.query("SELECT timestamp, user_id, item_id, event, session_id, order_id FROM events").to_pandas()
    if out_dir is None:
        from ..config import get_settings

        out_dir = Path(get_settings().model_dir) / "text" / "item_encoder"
    return tune(items, events, out_dir, base, params)


def load_report(path: str | Path) -> dict[str, Any]:
    """The manifest of a tuned encoder folder (raises ModelNotFound when there is none)."""
    m = load_manifest(path, KIND)
    if not (Path(path) / "config.json").exists():
        raise ModelNotFound(f"{path} has a manifest but no model files; tune again")
    return m
