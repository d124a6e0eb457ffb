"""Tiny labelled review sets with known answers, made here (no download, no shared data)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

POS_EN = ["great", "excellent", "love it", "works perfectly", "very happy", "fantastic", "highly recommend"]
NEG_EN = ["terrible", "broken", "waste of money", "stopped working", "very disappointed", "awful", "refund"]
NOUNS_EN = ["the mug", "this card", "the magazine", "my order", "the charger", "the lamp", "this gift"]
POS_ZH = ["很好", "非常喜欢", "质量不错", "物美价廉", "很满意", "推荐购买"]
NEG_ZH = ["太差了", "质量很差", "不喜欢", "退货", "很失望", "坏了"]
NOUNS_ZH = ["这个杯子", "衣服", "手机", "酒店", "水果", "洗发水"]


def make_reviews(n: int, lang: str = "en", seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` reviews whose label is decided by one sentiment phrase among neutral words."""
    rng = np.random.default_rng(seed)
    pos, neg, nouns = (POS_EN, NEG_EN, NOUNS_EN) if lang == "en" else (POS_ZH, NEG_ZH, NOUNS_ZH)
    texts, labels = [], []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        phrase = rng.choice(pos if label == "positive" else neg)
        noun = rng.choice(nouns)
        if lang == "en":
            texts.append(f"{noun} arrived on time and {noun} is {phrase}")
        else:
            texts.append(f"{noun}收到了，{phrase}")
        labels.append(label)
    return texts, labels


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture()
def en_reviews() -> tuple[list[str], list[str]]:
    return make_reviews(240, "en")


@pytest.fixture()
def zh_reviews() -> tuple[list[str], list[str]]:
    return make_reviews(240, "zh", seed=1)
