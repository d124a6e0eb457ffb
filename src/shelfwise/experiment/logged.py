"""Logged displays read from the store: what was shown where, with what probability, and what was clicked.

Every estimator in this package (position bias, off-policy evaluation and learning) works on the same
arrays, built here from the shop's ``events`` table as SHOP_FORMAT defines it, so any shop that logs
``impression`` rows with ``position`` (and, for off-policy work, ``propensity``) can use them:

- one row per impression with a position;
- its reward is 1 when a reward event (``click`` by default) for the same item follows it in the same
  display: same ``session_id`` (or ``user_id`` when the impression has no session), same ``position``
  and ``surface`` when the reward row carries them, within ``window`` after the impression. Anonymous
  rows with neither session nor user match only a reward row with the very same timestamp;
- rows of one display (same session, else same user, surface and timestamp) form a *cluster*: bootstrap
  intervals resample clusters, because the slots of one display are not independent;
- the *action set* of a surface is the items the logs showed there (``actions="logged"``) or the
  whole catalogue (``actions="catalog"``): a uniform policy spreads its probability over it.

Rows are selected with :class:`Selection`: surfaces, ``key=value`` conditions on event columns or on
extra columns kept in ``attrs`` (for example ``policy=random``), and a time range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ..data.schema import EVENT_TYPES, EVENTS
from ..data.store.base import Store
from ..errors import InputError
from ..logs import get_logger

log = get_logger(__name__)

_EVENT_COLUMNS = frozenset(EVENTS.names) - {"timestamp"}


@dataclass(frozen=True)
class Selection:
    """Which impressions to read: by surface, by ``key=value`` on event or extra columns, by time."""

    surfaces: tuple[str, ...] = ()
    where: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    reward_event: str = "click"
    window: timedelta = timedelta(minutes=30)

    def describe(self) -> str:
        parts = [f"surface in {list(self.surfaces)}"] if self.surfaces else []
        parts += [f"{k}={v}" for k, v in self.where.items()]
        if self.since:
            parts.append(f"since {self.since.isoformat()}")
        if self.until:
            parts.append(f"until {self.until.isoformat()}")
        return ", ".join(parts) or "all impressions"


@dataclass
class LoggedDisplays:
    """Logged impressions as aligned arrays (row ``j`` is one item shown at one position)."""

    item: np.ndarray        # (n,) int: index into item_ids
    position: np.ndarray    # (n,) int: 1-based slot
    propensity: np.ndarray  # (n,) float: the logging policy's probability of this item at this slot; nan if not logged
    reward: np.ndarray      # (n,) float: 1 when the impression was clicked (or bought, see Selection.reward_event)
    surface: np.ndarray     # (n,) int: index into surfaces
    cluster: np.ndarray     # (n,) int: index of the display the row belongs to
    item_ids: np.ndarray    # (A,) str
    surfaces: list[str]
    actions: np.ndarray     # (S, A) bool: the items a policy may show on each surface
    context: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (n,) object (str or None)

    @property
    def n(self) -> int:
        return int(self.item.shape[0])

    @property
    def n_positions(self) -> int:
        return int(self.position.max()) if self.n else 0

    @property
    def n_clusters(self) -> int:
        return int(self.cluster.max()) + 1 if self.n else 0

    def subset(self, mask: np.ndarray) -> "LoggedDisplays":
        """The rows where ``mask`` holds (clusters renumbered; items, surfaces and action sets kept)."""
        _, cluster = np.unique(self.cluster[mask], return_inverse=True)
        return replace(self, item=self.item[mask], position=self.position[mask],
                       propensity=self.propensity[mask], reward=self.reward[mask], surface=self.surface[mask],
                       cluster=cluster.astype(np.int64), context={k: v[mask] for k, v in self.context.items()})

    def require_propensity(self) -> None:
        """Off-policy estimators divide by the logging propensity: every row must have one."""
        missing = int(np.isnan(self.propensity).sum())
        if missing:
            raise InputError(f"{missing:,} of {self.n:,} selected impressions have no propensity; off-policy "
                             "estimates need the logging policy's probability of every display (events column "
                             "'propensity'). Select only logs that carry it (--where / --surface).")


def _column(name: str) -> tuple[str, list[Any]]:
    """SQL for an event column or an extra column kept in ``attrs``, with its bound parameters."""
    if name in _EVENT_COLUMNS:
        return f'CAST(i."{name}" AS VARCHAR)', []
    if not name or any(c in name for c in '"\\'):
        raise InputError(f"'{name}' is not a usable column name", field=name)
    return "(CAST(i.attrs AS JSON) ->> CAST(? AS VARCHAR))", [name]  # the same on DuckDB and PostgreSQL


def load_displays(store: Store, selection: Selection | None = None, *, context: Sequence[str] = (),
                  actions: str = "logged") -> LoggedDisplays:
    """Read the selected impressions and their rewards from ``store`` (see the module docstring)."""
    sel = selection or Selection()
    if sel.reward_event not in EVENT_TYPES or sel.reward_event == "impression":
        raise InputError(f"reward event '{sel.reward_event}' is not one of "
                         f"{', '.join(e for e in EVENT_TYPES if e != 'impression')}", field="reward_event")
    if actions not in ("logged", "catalog"):
        raise InputError(f"actions must be 'logged' or 'catalog', not '{actions}'", field="actions")
    conds = ["i.event = 'impression'", "i.position IS NOT NULL"]
    params: list[Any] = []
    if sel.surfaces:
        conds.append(f"i.surface IN ({', '.join('?' for _ in sel.surfaces)})")
        params += list(sel.surfaces)
    for key, value in sel.where.items():
        sql, p = _column(key)
        conds.append(f"{sql} = ?")
        params += p + [str(value)]
    if sel.since:
        conds.append("i.timestamp >= ?")
        params.append(sel.since)
    if sel.until:
        conds.append("i.timestamp < ?")
        params.append(sel.until)
    ctx_sql: list[str] = []
    ctx_params: list[Any] = []
    for k, name in enumerate(context):
        sql, p = _column(name)
        ctx_sql.append(f"{sql} AS ctx_{k}")
        ctx_params += p
    ctx_cols = "".join(", " + c for c in ctx_sql)
    sql = f"""
        WITH imp AS (
            SELECT i.event_key, i.timestamp, i.item_id, i.position, coalesce(i.surface, '') AS surface,
                   i.propensity, coalesce(i.session_id, i.user_id) AS jkey,
                   coalesce(i.session_id, concat_ws('@', coalesce(i.user_id, ''), coalesce(i.surface, ''),
                                                    CAST(i.timestamp AS VARCHAR))) AS display
                   {ctx_cols}
            FROM events i WHERE {' AND '.join(conds)}),
        rew AS (
            SELECT timestamp, item_id, position, surface, coalesce(session_id, user_id) AS jkey
            FROM events WHERE event = ?)
        SELECT imp.*,
               EXISTS (SELECT 1 FROM rew r WHERE r.jkey = imp.jkey AND r.item_id = imp.item_id
                         AND (r.position IS NULL OR r.position = imp.position)
                         AND (r.surface IS NULL OR r.surface = imp.surface)
                         AND r.timestamp >= imp.timestamp
                         AND r.timestamp <= imp.timestamp + ?)
               OR EXISTS (SELECT 1 FROM rew r WHERE r.jkey IS NULL AND imp.jkey IS NULL
                         AND r.item_id = imp.item_id AND r.timestamp = imp.timestamp
                         AND (r.position IS NULL OR r.position = imp.position)
                         AND (r.surface IS NULL OR r.surface = imp.surface)) AS rewarded
        FROM imp ORDER BY imp.timestamp, imp.display, imp.position, imp.event_key"""
    table = store.query(sql, ctx_params + params + [sel.reward_event, sel.window])
    if table.num_rows == 0:
        raise InputError(f"no impressions with a position match the selection ({sel.describe()}) in "
                         f"{store.url}: the logs need 'impression' events with a 'position'")
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    for k, name in enumerate(context):
        if all(v is None for v in cols[f"ctx_{k}"]):  # a misspelt column would silently be no context at all
            raise InputError(f"context column '{name}' has no value in any of the {table.num_rows:,} selected "
                             "impressions: check its name (an event column or an extra column of the events)",
                             field=name)
    item_ids, item = np.unique(cols["item_id"].astype(str), return_inverse=True)
    surfaces, surface = np.unique(cols["surface"].astype(str), return_inverse=True)
    _, cluster = np.unique(cols["display"].astype(str), return_inverse=True)
    if actions == "catalog":
        catalog = store.query("SELECT DISTINCT item_id FROM all_items").column(0).to_numpy(zero_copy_only=False)
        item_ids = np.unique(np.concatenate([item_ids, catalog.astype(str)]))
        item = np.searchsorted(item_ids, cols["item_id"].astype(str))
        allowed = np.ones((len(surfaces), len(item_ids)), dtype=bool)
    else:
        allowed = np.zeros((len(surfaces), len(item_ids)), dtype=bool)
        allowed[surface, item] = True
    propensity = np.array([np.nan if p is None else p for p in cols["propensity"]], dtype=np.float64) \
        if cols["propensity"].dtype == object else cols["propensity"].astype(np.float64)
    out = LoggedDisplays(
        item=item.astype(np.int64), position=cols["position"].astype(np.int64), propensity=propensity,
        reward=cols["rewarded"].astype(np.float64), surface=surface.astype(np.int64),
        cluster=cluster.astype(np.int64), item_ids=item_ids, surfaces=[str(s) for s in surfaces], actions=allowed,
        context={name: cols[f"ctx_{k}"].astype(object) for k, name in enumerate(context)})
    log.info("read %d impressions (%d displays, %d items, %d surfaces; %s), reward rate %.5f",
             out.n, out.n_clusters, len(item_ids), len(surfaces), sel.describe(), out.reward.mean())
    return out
