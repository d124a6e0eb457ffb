"""One request's list: the model's candidates, what the user did seconds ago, then the exposure policy.

Sources, fused by reciprocal rank (each source's rank ``r`` adds ``w / (K + r)``):

- ``model``: the trained hybrid's list for a user it has events of (cached per model version);
- ``live``: neighbours of the items the user touched since the model was trained (the model's fused
  item similarity plus live co-occurrence), weighted by event type and recency;
- ``trending``: decayed interest of the last hours across all users (accepted events only);
- ``popular``: the last 30 days' most engaged items (for users nobody knows yet).

The fused top candidates then go through the policy chain of :mod:`shelfwise.policy` with the
request's knobs (exploration of new items, long tail, ...). Every returned item carries the reasons
that put it there. A user with no live events and a default policy costs one dictionary lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .live import LiveState
from .models import LIST_DEPTH, ModelSet

K_RRF = 10.0
WEIGHTS = {"model": 1.0, "live": 1.5, "trending": 0.3, "popular": 0.2}
_VERB = {"purchase": "bought", "cart": "added to cart", "favorite": "saved", "click": "clicked", "view": "viewed"}
_POLICY_REASON = {"exploration": "new arrival being explored", "tail": "long-tail pick",
                  "pinned": "pinned by the shop", "boosted": "boosted by the shop", "diversity": "adds variety"}
_seed = itertools.count(1)
MODEL_REASON = "ranked for you from your history"


@dataclass
class Ranked:
    items: list[dict[str, Any]]
    personal: bool
    sources: list[str]


def _live_candidates(ms: ModelSet, live: LiveState, user_id: str) -> tuple[list[tuple[str, float]], dict[str, str]]:
    """Items related to the user's live events, best first, and for each the event that led to it."""
    recent = live.recent_of(user_id)
    if not recent:
        return [], {}
    score: dict[str, float] = {}
    why: dict[str, tuple[float, str]] = {}
    touched = {r.item_id for r in recent}
    for age, r in enumerate(reversed(recent[-10:])):
        if r.weight <= 0:
            continue
        w = r.weight * 0.8 ** age
        title = ms.catalog.titles.get(r.item_id, r.item_id)
        reason = f"you {_VERB.get(r.event, r.event)} {title}"
        neigh = ms.neighbours(r.item_id, 20) + live.co_occurring(r.item_id, 10)
        for rank, (item, _) in enumerate(neigh):
            if item in touched:
                continue
            c = w / (K_RRF + rank)
            score[item] = score.get(item, 0.0) + c
            if c > why.get(item, (0.0, ""))[0]:
                why[item] = (c, reason)
    ranked = sorted(score.items(), key=lambda kv: -kv[1])
    return ranked, {k: v[1] for k, v in why.items()}


def candidates(ms: ModelSet, live: LiveState, user_id: str, base: list[tuple[str, float]] | None,
               depth: int = LIST_DEPTH) -> tuple[list[tuple[str, float]], dict[str, list[str]], bool, list[str]]:
    """Fused (item, score) candidates, reasons per item, whether personal, and the sources used."""
    base = base or []
    live_list, live_why = _live_candidates(ms, live, user_id)
    # items the user just bought are not recommended again at once (whatever the sources: also when
    # there are no live neighbours, e.g. without a trained model, where trending would offer them back)
    bought = {r.item_id for r in live.recent_of(user_id) if r.event == "purchase"}
    reasons: dict[str, list[str]] = {}
    if base and not live_list:  # the common case: the model's list as it is (reasons filled in on output)
        drop = bought | ms.catalog.non_product  # a model set trained before the flag may still list them
        if drop:
            base = [kv for kv in base if kv[0] not in drop]
        return base[:depth], reasons, True, ["model"]
    sources: dict[str, list[tuple[str, float]]] = {}
    if base:
        sources["model"] = base
    if live_list:
        sources["live"] = live_list
    sources["trending"] = live.trending(50)
    sources["popular"] = ms.catalog.popular[:100]
    fused: dict[str, float] = {}
    for name, lst in sources.items():
        w = WEIGHTS[name]
        for rank, (item, _) in enumerate(lst):
            fused[item] = fused.get(item, 0.0) + w / (K_RRF + rank)
            if name == "live":
                reasons.setdefault(item, []).append(live_why[item])
            elif name == "model":
                reasons.setdefault(item, []).append(MODEL_REASON)
            elif name == "trending" and rank < 20:
                reasons.setdefault(item, []).append("trending now")
            elif name == "popular" and rank < 20 and not base:
                reasons.setdefault(item, []).append("popular in the shop")
    for item in bought | ms.catalog.non_product:  # live neighbours and trending know no catalogue flags
        fused.pop(item, None)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])[:depth]
    for item, _ in ranked:
        reasons.setdefault(item, ["popular in the shop"])
    return ranked, reasons, bool(base or live_list), [s for s in sources if sources[s]]


def apply_policy(ranked: list[tuple[str, float]], reasons: dict[str, list[str]], k: int, user_id: str,
                 policy: Any | None, params: Any | None,
                 never: Sequence[str] = ()) -> list[tuple[str, float, list[str]]]:
    """The policy chain over the candidates (when the request asks for any re-ranking), top ``k``.

    ``never``: items exploration must not inject for this user (what was just bought, the request's
    exclusions): the candidates were filtered, but exploration draws from the whole catalog."""
    if policy is None or params is None or not params.reranks:
        return [(i, s, reasons.get(i) or [MODEL_REASON]) for i, s in ranked[:k]]
    from dataclasses import replace

    from ..policy import CandidateLists, build_chain
    from ..policy.lists import SOURCES

    ctx = policy.items
    idx = ctx.indices([i for i, _ in ranked])
    keep = idx >= 0
    scores = np.asarray([s for _, s in ranked], dtype=np.float64)[keep]
    lists = CandidateLists(np.asarray([user_id], dtype=object), idx[keep][None, :], scores[None, :])
    blocked = ctx.indices(list(never)) if never else np.zeros(0, dtype=np.int64)
    chain = build_chain(replace(params, seed=next(_seed)), ctx, policy.user_tail_share,
                        seen={user_id: blocked[blocked >= 0].tolist()})
    out = chain.apply(lists, ctx, k)
    result = []
    for j, s, src in zip(out.idx[0], out.scores[0], out.source[0]):
        if j < 0:
            continue
        item = str(ctx.item_ids[j])
        why = list(reasons.get(item) or [MODEL_REASON])
        extra = _POLICY_REASON.get(SOURCES[int(src)])
        if extra:
            why.insert(0, extra)
        result.append((item, float(s) if np.isfinite(s) else 0.0, why))
    return result


def recommend(ms: ModelSet, live: LiveState, user_id: str, k: int, base: list[tuple[str, float]] | None,
              policy: Any | None = None, params: Any | None = None,
              exclude: Sequence[str] = ()) -> Ranked:
    ranked, reasons, personal, used = candidates(ms, live, user_id, base)
    if exclude:
        drop = set(exclude)
        ranked = [kv for kv in ranked if kv[0] not in drop]
    bought = {r.item_id for r in live.recent_of(user_id) if r.event == "purchase"}
    picked = apply_policy(ranked, reasons, k, user_id, policy, params, never=sorted(bought | set(exclude)))
    titles = ms.catalog.titles
    items = [{"rank": r, "item_id": i, "title": titles.get(i), "score": round(s, 6), "reasons": why}
             for r, (i, s, why) in enumerate(picked, start=1)]
    return Ranked(items, personal, used)
