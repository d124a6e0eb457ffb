"""Exposure policies: re-rankers that sit on top of any recommender's candidate lists.

A policy takes :class:`~.lists.CandidateLists` (per user: catalog indices and scores, longer than the
``k`` finally shown) and an :class:`~.lists.ItemContext` (what is known about every item: age, tail
membership, category, content vectors, stock, live exploration statistics) and returns reordered
lists. Policies compose in a :class:`~.chain.Chain`; :func:`~.chain.build_chain` makes the chain a
request or a surface asks for from plain parameters (:class:`~.chain.PolicyParams`).
"""

from .chain import Chain, PolicyParams, build_chain
from .lists import CandidateLists, ItemContext

__all__ = ["CandidateLists", "Chain", "ItemContext", "PolicyParams", "build_chain"]
