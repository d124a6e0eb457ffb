"""Checks of values a person gives that several services share, so the rule and its message are written once."""

from __future__ import annotations

from ..errors import InputError


def check_seed(seed: int) -> None:
    """Refuse a negative random seed before any work: numpy's generators take 0 or more, and a negative one
    ended in numpy's traceback ("expected non-negative integer") after files had been read."""
    if seed < 0:
        raise InputError(f"--seed must be 0 or more (got {seed})", field="seed")
