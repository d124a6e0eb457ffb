"""Reviews of the demo shop: who writes one, what rating they give and what the text says.

A buyer's satisfaction is the item's quality plus how well it suits them, less a penalty when they
sent it back; the rating is that satisfaction cut into five bins, and the text is composed from
sentences whose polarity follows the rating (five stars: all praise; three: one good and one bad point;
one star: all complaint). Returned items are reviewed twice as often: unhappy buyers speak up.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import vocab
from .truth import Truth
from .world import SyntheticWorld

RATING_CUTS = np.array([-1.0, -0.5, 0.0, 0.8])   # satisfaction thresholds between 1|2|3|4|5 stars
_SATISFACTION_SHIFT = 0.8
_RETURN_PENALTY = 1.5
# rating -> (opening, aspect polarities, closing); "+" positive, "-" negative, "~" mildly negative, "0" neutral
_PLAN: dict[int, tuple[str, tuple[str, ...], str]] = {
    5: ("+", ("+", "+"), "+"), 4: ("+", ("+",), "0"), 3: ("0", ("+", "-"), "0"),
    2: ("~", ("-",), "0"), 1: ("-", ("-", "-"), "-"),
}
_OPENINGS = {"+": vocab.POSITIVE_OPENINGS, "-": vocab.NEGATIVE_OPENINGS, "~": vocab.MILD_NEGATIVE_OPENINGS,
             "0": vocab.NEUTRAL_OPENINGS}
_ASPECTS = {"+": vocab.POSITIVE_ASPECTS, "-": vocab.NEGATIVE_ASPECTS}
_CLOSINGS = {"+": vocab.POSITIVE_CLOSINGS, "-": vocab.NEGATIVE_CLOSINGS, "0": vocab.NEUTRAL_CLOSINGS}


def review_text(rating: int, noun: str, aspect: str, picks: np.ndarray) -> str:
    """Compose a review for ``rating`` (1..5); ``picks`` are 4 random integers choosing the sentences."""
    opening, aspects, closing = _PLAN[int(rating)]
    parts = [_OPENINGS[opening][picks[0] % len(_OPENINGS[opening])]]
    for n, polarity in enumerate(aspects):
        pool = _ASPECTS[polarity]
        parts.append(pool[(picks[1] + n * 3) % len(pool)])
    parts.append(_CLOSINGS[closing][picks[3] % len(_CLOSINGS[closing])])
    text = " ".join(parts).format(noun=noun.lower(), Aspect=aspect[:1].upper() + aspect[1:])
    return text[0].upper() + text[1:]


def reviews_table(purchases: dict[str, np.ndarray], truth: Truth, world: SyntheticWorld, nouns: np.ndarray,
                  review_rate: float, end: int, rng: np.random.Generator) -> pa.Table:
    """Reviews of a share of the purchases, dated 2 to 25 days after them and before the period ends."""
    empty = pa.table({"review_id": pa.array([], pa.string()), "item_id": pa.array([], pa.string()),
                      "user_id": pa.array([], pa.string()), "timestamp": pa.array([], pa.string()),
                      "rating": pa.array([], pa.int32()), "text": pa.array([], pa.string())})
    if not purchases:
        return empty
    returned = purchases["returned"]
    pick = rng.random(len(returned)) < review_rate * np.where(returned, 2.0, 1.0)
    ts = purchases["ts"][pick] + rng.integers(2 * 86400, 25 * 86400, int(pick.sum()))
    pick_idx = np.flatnonzero(pick)[ts < end]
    ts = ts[ts < end]
    if len(pick_idx) == 0:
        return empty
    order = np.argsort(ts, kind="stable")
    pick_idx, ts = pick_idx[order], ts[order]
    users, items, ret = purchases["user"][pick_idx], purchases["item"][pick_idx], returned[pick_idx]
    pref = world._preference(users, items[:, None])[:, 0]
    satisfaction = (_SATISFACTION_SHIFT + truth.items.quality[items] + 0.4 * (pref - pref.mean())
                    + rng.normal(0.0, 0.9, len(items)) - _RETURN_PENALTY * ret)
    rating = 1 + np.searchsorted(RATING_CUTS, satisfaction, side="right")
    picks = rng.integers(0, 1 << 30, (len(items), 4))
    dept = truth.category_department[truth.items.category[items]]
    texts = [review_text(int(r), str(nouns[i]), vocab.DEPARTMENTS[int(d)].aspect, p)
             for r, i, d, p in zip(rating, items, dept, picks)]
    stamps = ts.astype("datetime64[s]").astype(str)
    return pa.table({
        "review_id": pa.array([f"r{j}" for j in range(len(items))], pa.string()),
        "item_id": pa.array(truth.items.ids[items], pa.string()),
        "user_id": pa.array(truth.users.ids[users], pa.string()),
        "timestamp": pa.array(stamps, pa.string()),
        "rating": pa.array(rating.astype(np.int32), pa.int32()),
        "text": pa.array(texts, pa.string()),
    })
