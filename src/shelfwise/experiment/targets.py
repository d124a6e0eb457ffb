"""Target policies for off-policy evaluation: each states its probability of every item at every slot.

A policy is held as probability vectors over the items (``probs``, one row per *group*) and, for each
logged row, the group that applies to it (``group``). Built-in:

- :func:`uniform_policy`: each item of the surface's action set equally likely at each position
  (one group per surface).
- :func:`policy_from_table`: a file of per-context action probabilities. Columns ``item_id`` and
  ``probability`` are required; every other column is a *context key* matched against the logged row:
  ``position`` (1-based slot), ``surface``, ``session_id``, ``user_id``, or any extra event column kept in
  ``attrs`` (for example ``user_feature_0``). A file with only ``item_id, probability`` is one policy for
  every row; with ``position, item_id, probability`` it can differ per slot. Within one context the
  probabilities must not exceed 1 in total; mass short of 1 means "show nothing" (reward 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from ..logs import get_logger
from .logged import LoggedDisplays
from .tables import line_of, numeric, require

log = get_logger(__name__)

TOLERANCE = 1e-6
BUILTIN = ("uniform",)


@dataclass
class TargetPolicy:
    """Probabilities of a policy for the logged rows: ``probs[group[j]]`` is row ``j``'s distribution over items."""

    name: str
    group: np.ndarray        # (n,) int
    probs: sp.csr_matrix     # (G, A)

    def prob_of_logged(self, logged: LoggedDisplays) -> np.ndarray:
        """pi(a_j | x_j, k_j): the target's probability of what the log actually shows."""
        return np.asarray(self.probs[self.group, logged.item]).ravel()

    def support_share(self, logged: LoggedDisplays) -> float:
        """Share of the target's probability on items the logs showed on the row's surface (1 = full support).

        Mass on items the logging policy never showed there is invisible to IPW: it reads as reward 0.
        "Showed" is what these rows show, not the action set: with ``actions="catalog"`` the action set is
        every item, and a target spread over it has support only on the items the logs did show.
        """
        s_count = len(logged.surfaces)
        shown = np.zeros((s_count, len(logged.item_ids)), dtype=np.float64)
        shown[logged.surface, logged.item] = 1.0
        pair, inv = np.unique(self.group * s_count + logged.surface, return_inverse=True)
        g, s = pair // s_count, pair % s_count
        rows = self.probs[g]
        mass = np.asarray(rows.multiply(sp.csr_matrix(shown[s])).sum(axis=1)).ravel()
        total = np.asarray(rows.sum(axis=1)).ravel()
        count = np.bincount(inv.ravel(), minlength=len(pair))
        return float((mass * count).sum() / max((total * count).sum(), 1e-300))


def uniform_policy(logged: LoggedDisplays) -> TargetPolicy:
    """Every item of the surface's action set equally likely at every position."""
    a = logged.actions.astype(np.float64)
    probs = sp.csr_matrix(a / a.sum(axis=1, keepdims=True))
    return TargetPolicy("uniform", logged.surface.copy(), probs)


def context_keys(table: pd.DataFrame) -> list[str]:
    """The context columns of a probability table: every column but ``item_id`` and ``probability``."""
    require(table, ["item_id", "probability"])
    return [str(c) for c in table.columns if c not in ("item_id", "probability")]


def _row_keys(logged: LoggedDisplays, keys: list[str]) -> list[np.ndarray]:
    out = []
    for k in keys:
        if k == "position":
            out.append(logged.position.astype(str))
        elif k == "surface":
            out.append(np.asarray(logged.surfaces, dtype=object)[logged.surface])
        elif k in logged.context:
            out.append(np.asarray([("" if v is None else str(v)) for v in logged.context[k]], dtype=object))
        else:
            raise InputError(f"context column '{k}' of the policy file was not read from the logs; "
                             "load the logs with it as context", field=k)
    return out


def _joined(parts: list[np.ndarray], n: int) -> np.ndarray:
    if not parts:
        return np.full(n, "", dtype=object)
    out = parts[0].astype(str)
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, "\x1f"), p.astype(str))
    return out


def policy_from_table(table: pd.DataFrame, logged: LoggedDisplays, name: str = "file") -> TargetPolicy:
    """A target policy from a probability table (see the module docstring for its format)."""
    keys = context_keys(table)
    path = table.attrs.get("path")
    prob = numeric(table, "probability").to_numpy()
    bad = np.flatnonzero((prob < 0) | (prob > 1 + TOLERANCE) | ~np.isfinite(prob))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"probability {prob[i]} is outside [0, 1]", file=path, line=line_of(table, i),
                         field="probability")
    if table["item_id"].isna().any():
        i = int(np.flatnonzero(table["item_id"].isna().to_numpy())[0])
        raise InputError("empty item_id", file=path, line=line_of(table, i), field="item_id")
    if "position" in keys:
        pos = numeric(table, "position").to_numpy()
        if np.any((pos < 1) | (pos != np.round(pos))):
            i = int(np.flatnonzero((pos < 1) | (pos != np.round(pos)))[0])
            raise InputError(f"position {table['position'].iloc[i]} is not a 1-based slot number", file=path,
                             line=line_of(table, i), field="position")
        table = table.assign(position=pos.astype(np.int64).astype(str))
    key_vals = _joined([table[k].fillna("").astype(str).to_numpy(dtype=object) for k in keys], len(table))
    dup = pd.Series(list(zip(key_vals, table["item_id"]))).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"item '{table['item_id'].iloc[i]}' appears twice for the same context", file=path,
                         line=line_of(table, i))
    item_index = {v: i for i, v in enumerate(logged.item_ids)}
    items = np.array([item_index.get(v, -1) for v in table["item_id"]], dtype=np.int64)
    unknown = items < 0
    if unknown.any():
        lost = prob[unknown].sum()
        sample = ", ".join(sorted(set(table["item_id"][unknown]))[:5])
        raise InputError(f"{int(unknown.sum()):,} rows name items never shown in the selected logs ({sample}; "
                         f"probability mass {lost:.4g}); their value cannot be estimated from these logs. "
                         "Drop them, or use the catalogue as the action set (--actions catalog)", file=path)
    groups, g = np.unique(key_vals, return_inverse=True)
    probs = sp.csr_matrix((prob, (g, items)), shape=(len(groups), len(logged.item_ids)))
    totals = np.asarray(probs.sum(axis=1)).ravel()
    if np.any(totals > 1 + TOLERANCE):
        worst = int(np.argmax(totals))
        label = str(groups[worst]).replace(chr(31), ", ") or "every row"
        raise InputError(f"probabilities of context '{label}' add up to "
                         f"{totals[worst]:.6g} > 1", file=path)
    if np.any(totals < 1 - TOLERANCE):
        log.warning("%d of %d contexts in %s have probabilities adding up to less than 1; the rest means "
                    "'show nothing' (reward 0)", int((totals < 1 - TOLERANCE).sum()), len(groups), path)
    row_keys = _joined(_row_keys(logged, keys), logged.n)
    pos = np.searchsorted(groups, row_keys)
    pos = np.clip(pos, 0, len(groups) - 1)
    found = groups[pos] == row_keys
    if not found.all():
        j = int(np.flatnonzero(~found)[0])
        example = ", ".join(f"{k}={v[j]}" for k, v in zip(keys, _row_keys(logged, keys)))
        raise InputError(f"{int((~found).sum()):,} of {logged.n:,} logged impressions have a context the policy "
                         f"file does not cover (for example {example}); give probabilities for every context",
                         file=path)
    return TargetPolicy(name, pos.astype(np.int64), probs)


def policy_table(target: TargetPolicy, logged: LoggedDisplays, keys: list[str]) -> pd.DataFrame:
    """The inverse of :func:`policy_from_table`: one row per (context, item) with non-zero probability."""
    first_row = np.full(target.probs.shape[0], -1, dtype=np.int64)
    order = np.arange(logged.n)[::-1]
    first_row[target.group[order]] = order
    used = np.flatnonzero(first_row >= 0)
    key_vals = _row_keys(logged, keys)
    coo = target.probs[used].tocoo()
    rows = first_row[used][coo.row]
    data = {k: v[rows] for k, v in zip(keys, key_vals)}
    data["item_id"] = logged.item_ids[coo.col]
    data["probability"] = coo.data
    return pd.DataFrame(data)
