"""Recommenders: one contract (:class:`Recommender`), candidate generators, features, the ranker."""

from .base import Recommender
from .data import Interactions

__all__ = ["Interactions", "Recommender"]
