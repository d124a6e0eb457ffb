"""JSON has no NaN or infinity: what every JSON writer of shelfwise (the CLI, the API) sends instead.

A figure that cannot be computed (a relative lift over a zero control) or an unbounded interval limit is
written as ``null``, which every client can read, instead of the ``NaN``/``Infinity`` Python emits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def finite(value: Any) -> Any:
    """``value`` with every nan or infinite number, however nested in dicts, lists and tuples, as None;
    numpy scalars become plain Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def figure(value: Any, spec: str = ".4g", prefix: str = "") -> str:
    """A figure as table text; "n/a" where it is undefined (None or nan: null in the JSON beside it).

    Infinity is left to ``format`` ("inf"): only an undefined value has no number to show.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return prefix + format(value, spec)
