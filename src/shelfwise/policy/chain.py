"""Policies composed in a fixed, documented order, built from plain per-request parameters.

Order: filters (stock, attributes, exclusions) -> xQuAD long tail -> category caps -> MMR ->
exploration -> tail-share target -> boost / bury -> pins. Filters come first so no later step spends
a slot on a dropped item. The re-selecting steps (xQuAD, caps, MMR choose from the whole candidate
list) come before the steps that make promises about slots: exploration's share of slots, then the
tail target (which never swaps out an exploration or pinned slot, and counts new items, mostly tail,
towards the target), then boosts (a stable re-sort that moves only boosted and buried items) and pins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import InputError
from .diversity import MMR, CategoryCap
from .exploration import Exploration
from .lists import CandidateLists, ItemContext
from .longtail import LongTail
from .rules import BoostBury, Filter, Pin


class Policy(Protocol):
    name: str

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists: ...


@dataclass
class Chain:
    """Policies applied one after the other; :meth:`apply` returns the first ``k`` slots."""

    policies: list[Any] = field(default_factory=list)

    def apply(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        for policy in self.policies:
            lists = policy.rerank(lists, ctx, k)
        return lists.head(k)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]


@dataclass
class PolicyParams:
    """Everything a request or a surface may set. Defaults change nothing but the stock filter."""

    exploration_weight: float = 0.0
    item_age_cutoff_days: float = 30.0
    long_tail_weight: float = 0.0
    tail_share_target: float = 0.0
    head_share: float = 0.8
    mmr_relevance: float | None = None
    category_cap: int | None = None
    exclude_out_of_stock: bool = True
    keep_where: Mapping[str, Sequence[object]] = field(default_factory=dict)
    drop_where: Mapping[str, Sequence[object]] = field(default_factory=dict)
    exclude: Sequence[str] = ()
    boost: Mapping[str, float] = field(default_factory=dict)
    bury: Sequence[str] = ()
    pin: Mapping[str, int] = field(default_factory=dict)
    personal_tail: bool = False
    prior_strength: float = 20.0
    exploration_placement: str = "spread"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, lo, hi in (("exploration_weight", 0, 1), ("long_tail_weight", 0, 1), ("tail_share_target", 0, 1),
                             ("head_share", 0, 1)):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise InputError(f"{name} must be between {lo} and {hi} (got {v})", field=name)
        if not self.item_age_cutoff_days >= 0:  # also refuses NaN, which would silently make nothing new
            raise InputError(f"item_age_cutoff_days must be at least 0 (got {self.item_age_cutoff_days})",
                             field="item_age_cutoff_days")
        if self.mmr_relevance is not None and not 0 <= self.mmr_relevance <= 1:
            raise InputError(f"mmr_relevance must be between 0 and 1 (got {self.mmr_relevance})", field="mmr_relevance")
        if self.exploration_placement not in ("spread", "bottom"):
            raise InputError(f"exploration_placement must be 'spread' or 'bottom' (got '{self.exploration_placement}')",
                             field="exploration_placement")
        if not (np.isfinite(self.prior_strength) and self.prior_strength > 0):
            raise InputError(f"prior_strength must be a positive number (got {self.prior_strength})",
                             field="prior_strength")
        if self.category_cap is not None and self.category_cap < 1:
            raise InputError(f"category_cap must be at least 1 (got {self.category_cap})", field="category_cap")

    @property
    def reranks(self) -> bool:
        """Whether any policy beyond the stock filter would change a list."""
        return bool(self.exploration_weight > 0 or self.long_tail_weight > 0 or self.tail_share_target > 0
                    or self.mmr_relevance is not None or self.category_cap or self.keep_where or self.drop_where
                    or len(self.exclude) or self.boost or len(self.bury) or self.pin)

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> "PolicyParams":
        """The settings' knobs (``exploration_weight``, ``item_age_cutoff_days``, ``long_tail_weight``),
        then any non-None override."""
        base: dict[str, Any] = {}
        if settings is not None:
            base = {"exploration_weight": settings.exploration_weight,
                    "item_age_cutoff_days": settings.item_age_cutoff_days,
                    "long_tail_weight": settings.long_tail_weight, "seed": settings.seed}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in asdict(self).items()}


def build_chain(params: PolicyParams, ctx: ItemContext, user_tail_share: Mapping[str, float] | None = None,
                allowed: np.ndarray | None = None, seen: Mapping[str, Sequence[int]] | None = None) -> Chain:
    """The chain ``params`` ask for. ``allowed`` (catalog mask) limits what exploration may inject;
    ``seen`` (user id -> catalog indices, e.g. what each user bought) is never injected for that user.

    ``user_tail_share`` (P(tail | user) from their history) is used by xQuAD only with
    ``params.personal_tail``; by default every user gets 0.5, which on Online Retail lifts the tail
    about twice as far for the same accuracy cost (benchmarks/policies.py).
    """
    policies: list[Any] = []
    rules = Filter(params.exclude_out_of_stock, params.keep_where, params.drop_where, params.exclude)
    policies.append(rules)
    if params.long_tail_weight > 0:
        policies.append(LongTail(params.long_tail_weight, 0.0, user_tail_share if params.personal_tail else None,
                                 head_share=params.head_share))
    if params.category_cap:
        policies.append(CategoryCap(params.category_cap))
    if params.mmr_relevance is not None:
        policies.append(MMR(params.mmr_relevance))
    if params.exploration_weight > 0:
        ok = rules.allowed(ctx)
        if allowed is not None:
            ok &= allowed
        policies.append(Exploration(params.exploration_weight, params.item_age_cutoff_days, params.prior_strength,
                                    seed=params.seed, allowed=ok, placement=params.exploration_placement,
                                    seen=seen))
    if params.tail_share_target > 0:
        policies.append(LongTail(0.0, params.tail_share_target, head_share=params.head_share, name="tail_target"))
    if params.boost or len(params.bury):
        policies.append(BoostBury(params.boost, params.bury))
    if params.pin:
        policies.append(Pin(params.pin))
    return Chain(policies)
