"""The item's extra columns, kept by ingest as the JSON text ``items.attrs``, read the same way everywhere.

One extra column has a meaning of its own: ``non_product`` (true / 1 / yes) marks lines that are not goods
(postage, fees, manual adjustments; the Online Retail adapter sets it). Such lines are not priced and are
not anybody's launch neighbour: their sales follow orders, not shoppers' taste.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np


def extra(attrs: object) -> dict[str, Any]:
    """The extra columns as a dict; empty for no attrs, for JSON that is not an object, or for bad JSON
    (attrs are written by ingest, so bad JSON means a store edited by hand: ignored, not fatal)."""
    if not isinstance(attrs, str) or not attrs:
        return {}
    try:
        value = json.loads(attrs)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def truthy(value: Any) -> bool:
    """A flag given in an extra column: true, 1, yes (any case); anything else is false."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "t", "1", "yes", "y"} if value is not None else False


def non_product(attrs: Iterable[object]) -> np.ndarray:
    """Per item, whether its extra columns mark it ``non_product``."""
    return np.array([truthy(extra(a).get("non_product")) for a in attrs], dtype=bool)


def flag_column(values: Iterable[object]) -> np.ndarray:
    """A ``non_product`` column already read (booleans, with None or NaN where an item has no row) as a mask;
    only a true boolean marks an item."""
    return np.array([isinstance(v, (bool, np.bool_)) and bool(v) for v in values], dtype=bool)
