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
    """A figure as table text; "n/a" where the JSON beside the table has null.

    That is None, nan (a relative lift over a zero control) and infinity (a ratio over zero): a table that
    printed "inf", "+inf%" or "xinf" where the JSON says null would tell two stories.
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    return prefix + format(value, spec)


def bound(value: Any, spec: str = ".4g") -> str:
    """An interval limit as table text: "unbounded" where it is infinite (null in the JSON), which says
    more than "n/a": the data bound the estimate on one side only. Undefined limits are "n/a" as in
    :func:`figure`."""
    if isinstance(value, (int, float, np.number)) and math.isinf(value):
        return "unbounded"
    return figure(value, spec)
