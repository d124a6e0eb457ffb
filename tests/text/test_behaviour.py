"""Behaviour tuning: baskets and pairs with known answers; tuning pulls co-bought item texts together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.errors import InputError
from shelfwise.text.behaviour import (TuneParams, _batches_without_repeats, baskets, co_pairs, item_encoder,
                                      tune, tuned_encoder_path)
from shelfwise.text.encoder import Encoder


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event", "order_id", "session_id"])


def test_baskets_by_order_then_session_then_user_day() -> None:
    ev = _events([
        ("2024-01-01 10:00", "u1", "A", "purchase", "o1", None), ("2024-01-01 10:00", "u1", "B", "purchase", "o1", None),
        ("2024-01-01 11:00", "u2", "C", "purchase", None, "s1"), ("2024-01-01 11:05", "u2", "D", "cart", None, "s1"),
        ("2024-01-02 09:00", "u3", "E", "purchase", None, None), ("2024-01-02 18:00", "u3", "F", "purchase", None, None),
        ("2024-01-03 09:00", "u3", "G", "purchase", None, None),  # alone on its day
        ("2024-01-01 10:00", "u1", "H", "view", "o1", None),  # views are not baskets
    ])
    got = sorted(sorted(b) for b in baskets(ev, ("purchase", "cart")))
    assert got == [["A", "B"], ["C", "D"], ["E", "F"]]


def test_pairs_strongest_first_with_cap() -> None:
    groups = [["A", "B"], ["A", "B"], ["A", "C"], ["B", "C"], ["A", "D"]]
    p = TuneParams(per_item_cap=2)
    assert co_pairs(groups, p, {"A", "B", "C", "D"}) == [("A", "B"), ("A", "C"), ("B", "C")]
    assert co_pairs(groups, TuneParams(), {"A", "B"}) == [("A", "B")]  # items without text are left out


def test_batches_never_repeat_an_item() -> None:
    pairs = [("A", "B"), ("A", "C"), ("B", "C"), ("D", "E"), ("F", "G"), ("H", "A")]
    for batch in _batches_without_repeats(pairs, 3, np.random.default_rng(0)):
        items = [x for i in batch for x in pairs[i]]
        assert len(items) == len(set(items))


def test_tuning_pulls_co_bought_items_together(tmp_path: Path) -> None:
    """Mugs are always bought with garden hoses, never with candles: tuning must bring mugs nearer hoses."""
    colours = ["red", "blue", "green", "yellow", "black", "white", "pink", "grey"]
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(8)] + [f"h{i}" for i in range(8)],
                          "title": [f"{c} ceramic coffee mug" for c in colours] + [f"{c} garden hose reel" for c in colours],
                          "description": None, "category": None, "brand": None})
    rows = []
    for rep in range(6):  # mug i is always bought with hose (i + 3) % 8
        for i in range(8):
            order = f"o{rep}-{i}"
            rows.append(("2024-01-01", f"u{i}", f"m{i}", "purchase", order, None))
            rows.append(("2024-01-01", f"u{i}", f"h{(i + 3) % 8}", "purchase", order, None))
    out = tmp_path / "text" / "item_encoder"
    params = TuneParams(batch_size=8, epochs=10, learning_rate=2e-4, max_length=16)
    mugs = [f"{c} ceramic coffee mug" for c in colours]
    hoses = [f"{c} garden hose reel" for c in colours]
    candles = [f"{c} scented wax candle" for c in colours]  # never bought: the control

    def margin(enc: Encoder) -> float:
        vm, vh, vc = enc.encode(mugs), enc.encode(hoses), enc.encode(candles)
        return float((vm @ vh.T).mean() - (vm @ vc.T).mean())

    m0 = margin(Encoder(None))
    report = tune(items, _events(rows), out, params=params)
    assert report["pairs"] == 8 and report["last_loss"] < report["first_loss"]
    assert tuned_encoder_path(tmp_path) == out
    m1 = margin(item_encoder(tmp_path))
    assert m1 > m0 + 0.05, (m0, m1)


def test_too_few_pairs_is_a_clear_error(tmp_path: Path) -> None:
    items = pd.DataFrame({"item_id": ["A", "B"], "title": ["mug", "cup"], "description": None, "category": None,
                          "brand": None})
    ev = _events([("2024-01-01", "u", "A", "purchase", "o", None), ("2024-01-01", "u", "B", "purchase", "o", None)])
    with pytest.raises(InputError, match="pairs of items"):
        tune(items, ev, tmp_path / "enc")
    assert tuned_encoder_path(tmp_path) is None


def test_a_retuned_encoder_in_the_same_folder_gets_a_new_cache_id(tmp_path: Path) -> None:
    """`finetune items` always writes the same folder and the weights keep their size: the embeddings
    cache was keyed by file names and sizes, so a second tuning was served the first one's vectors."""
    from shelfwise.text.encoder import _dir_digest

    folder = tmp_path / "item_encoder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\x01" * 64)
    first = _dir_digest(folder)
    (folder / "model.safetensors").write_bytes(b"\x02" * 64)  # re-tuned: same name, same size
    assert _dir_digest(folder) != first
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert _dir_digest(copy) == _dir_digest(folder)  # the same model elsewhere keeps its cache
