"""Running experiments: deterministic salted assignment of units to arms, the exposure log, the outcome table.

- :func:`bucket` maps ``sha256(salt, experiment, unit)`` to a number in [0, 1); :func:`assign_arm` cuts
  [0, 1) by the arms' weights. The same unit always gets the same arm, arms get their share of units,
  and a different salt (or experiment name) reshuffles units independently of other experiments.
- Experiments are rows of the store table ``experiments``; exposures (a unit was shown what its arm
  decides) go to ``experiment_exposures``, first exposure per (experiment, unit) only.
- :func:`outcome_table` joins exposures with the events that followed them (and those before, for a
  CUPED covariate) into one row per unit, the table ``shelfwise experiment analyze`` takes.

The unit is the ``user_id`` of events; anonymous traffic can use its ``session_id`` as the unit, but then
outcomes are joined on ``user_id`` only when the session's events carry one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate

import pyarrow as pa

from ..data.schema import LIST_PRICE_SQL
from ..data.store.base import Store
from ..errors import InputError, UnknownIdError
from ..logs import get_logger

log = get_logger(__name__)

EXPERIMENTS = "experiments"
EXPOSURES = "experiment_exposures"
STATUSES = ("running", "stopped")

_EXPOSURES_DDL = f"""CREATE TABLE IF NOT EXISTS {EXPOSURES} (
    experiment VARCHAR, unit_id VARCHAR, arm VARCHAR, first_exposed_at TIMESTAMP, surface VARCHAR)"""
_EXPERIMENTS_DDL = f"""CREATE TABLE IF NOT EXISTS {EXPERIMENTS} (
    name VARCHAR, arms VARCHAR, weights VARCHAR, control VARCHAR, salt VARCHAR, status VARCHAR,
    description VARCHAR, created_at TIMESTAMP)"""


@dataclass(frozen=True)
class Experiment:
    """An experiment between arms (for example two display policies), with its assignment salt."""

    name: str
    arms: tuple[str, ...]
    weights: tuple[float, ...]
    control: str
    salt: str
    status: str = "running"
    description: str = ""
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InputError("an experiment needs a name", field="name")
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms):
            raise InputError(f"an experiment needs two or more distinct arms, got {list(self.arms)}", field="arms")
        if len(self.weights) != len(self.arms) or any(not 0 < w < float("inf") for w in self.weights):
            raise InputError(f"give one positive weight per arm, a finite number ({len(self.arms)} arms; weights "
                             f"{', '.join(f'{w:g}' for w in self.weights) or 'none'})",
                             field="weights")
        if self.control not in self.arms:
            raise InputError(f"control '{self.control}' is not one of the arms {list(self.arms)}", field="control")
        if self.status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}", field="status")

    def split(self) -> dict[str, float]:
        total = sum(self.weights)
        return {a: w / total for a, w in zip(self.arms, self.weights)}

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "arms": list(self.arms), "weights": list(self.weights), "control": self.control,
                "status": self.status, "description": self.description, "created_at": self.created_at,
                "split": self.split()}


def bucket(unit_id: str, experiment: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, experiment, unit); 64 bits of SHA-256."""
    digest = hashlib.sha256("\x1f".join((salt, experiment, str(unit_id))).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_arm(unit_id: str, experiment: Experiment) -> str:
    """The unit's arm: its bucket falls into the arm's share of [0, 1)."""
    if unit_id is None or str(unit_id) == "":
        raise InputError("cannot assign an empty unit id to an arm: give a user id (or a session id)", field="unit_id")
    total = sum(experiment.weights)
    edges = [w / total for w in accumulate(experiment.weights)][:-1]
    return experiment.arms[bisect_right(edges, bucket(str(unit_id), experiment.name, experiment.salt))]


# --- the experiments table ---------------------------------------------------------------------------


def _row_to_experiment(r: dict[str, object]) -> Experiment:
    return Experiment(str(r["name"]), tuple(json.loads(str(r["arms"]))), tuple(json.loads(str(r["weights"]))),
                      str(r["control"]), str(r["salt"]), str(r["status"]), str(r["description"] or ""),
                      r["created_at"])  # type: ignore[arg-type]


def create_experiment(store: Store, name: str, arms: Sequence[str], *, weights: Sequence[float] | None = None,
                      control: str | None = None, salt: str | None = None, description: str = "") -> Experiment:
    """Register a new experiment (its salt is random unless given); an existing name is an error."""
    store.execute(_EXPERIMENTS_DDL)
    if store.query(f"SELECT 1 FROM {EXPERIMENTS} WHERE name = ?", [name]).num_rows:
        raise InputError(f"experiment '{name}' already exists (names stay taken after 'experiment stop'); "
                         "pick another name", field="name")
    exp = Experiment(name, tuple(arms), tuple(float(w) for w in (weights or [1.0] * len(arms))),
                     control or arms[0], salt or secrets.token_hex(8), "running", description,
                     datetime.now(timezone.utc).replace(tzinfo=None))
    store.execute(f"INSERT INTO {EXPERIMENTS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  [exp.name, json.dumps(list(exp.arms)), json.dumps(list(exp.weights)), exp.control, exp.salt,
                   exp.status, exp.description, exp.created_at])
    log.info("created experiment %s with arms %s", name, exp.split())
    return exp


def list_experiments(store: Store) -> list[Experiment]:
    """Every experiment in the store; a stored row that is no longer valid (an infinite weight, stored
    before weights were checked) is left out with a warning, so that it does not block the others."""
    if not store.has_table(EXPERIMENTS):
        return []
    rows = store.query(f"SELECT * FROM {EXPERIMENTS} ORDER BY created_at, name").to_pylist()
    out = []
    for r in rows:
        try:
            out.append(_row_to_experiment(r))
        except InputError as exc:
            log.warning("experiment '%s' in %s is not valid and is left out: %s", r["name"], store.url, exc)
    return out


def get_experiment(store: Store, name: str) -> Experiment:
    if store.has_table(EXPERIMENTS):
        rows = store.query(f"SELECT * FROM {EXPERIMENTS} WHERE name = ?", [name]).to_pylist()
        if rows:
            return _row_to_experiment(rows[0])
    raise UnknownIdError(f"no experiment named '{name}' in {store.url}; create it with: shelfwise experiment create")


def set_status(store: Store, name: str, status: str) -> Experiment:
    exp = get_experiment(store, name)
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}", field="status")
    store.execute(f"UPDATE {EXPERIMENTS} SET status = ? WHERE name = ?", [status, name])
    return Experiment(exp.name, exp.arms, exp.weights, exp.control, exp.salt, status, exp.description, exp.created_at)


# --- exposures ----------------------------------------------------------------------------------------


def log_exposures(store: Store, experiment: str, units: Sequence[str], arms: Sequence[str],
                  at: datetime | Sequence[datetime] | None = None, surface: str | None = None) -> int:
    """Record that ``units`` were exposed to ``arms``; only a unit's first exposure is kept. Returns rows added."""
    if len(units) != len(arms):
        raise InputError(f"{len(units)} units but {len(arms)} arms")
    if not units:
        return 0
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    times = [at or now] * len(units) if at is None or isinstance(at, datetime) else list(at)
    times = [t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t for t in times]
    if not store.has_table(EXPOSURES):
        store.execute(_EXPOSURES_DDL)
    if len(units) == 1:  # the live path: one statement, no staging table
        added = store.query(f"""INSERT INTO {EXPOSURES} SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS
                                (SELECT 1 FROM {EXPOSURES} WHERE experiment = ? AND unit_id = ?) RETURNING 1""",
                            [experiment, str(units[0]), str(arms[0]), times[0], surface, experiment, str(units[0])])
        return added.num_rows
    staging = f"_exposures_in_{uuid.uuid4().hex[:12]}"
    store.write(staging, pa.table({"experiment": [experiment] * len(units), "unit_id": [str(u) for u in units],
                                   "arm": [str(a) for a in arms],
                                   "first_exposed_at": pa.array(times, pa.timestamp("us")),
                                   "surface": [surface] * len(units)}))
    try:
        before = store.count(EXPOSURES)
        store.execute(f"""
            INSERT INTO {EXPOSURES}
            SELECT experiment, unit_id, (array_agg(arm ORDER BY first_exposed_at, arm))[1], min(first_exposed_at),
                   (array_agg(surface ORDER BY first_exposed_at, arm))[1]
            FROM {staging} s
            WHERE NOT EXISTS (SELECT 1 FROM {EXPOSURES} e WHERE e.experiment = s.experiment AND e.unit_id = s.unit_id)
            GROUP BY experiment, unit_id""")
        return store.count(EXPOSURES) - before
    finally:
        store.execute(f"DROP TABLE IF EXISTS {staging}")


class Assigner:
    """Assignment for the live service: experiments read once, each call hashes and logs the first exposure."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.experiments = {e.name: e for e in list_experiments(store)}

    def assign(self, unit_id: str, experiment: str, *, log_exposure: bool = True, surface: str | None = None,
               at: datetime | None = None) -> str:
        """The unit's arm; a stopped experiment gives every unit the control arm and logs nothing."""
        exp = self.experiments.get(experiment)
        if exp is None:
            raise UnknownIdError(f"no experiment named '{experiment}'; known: {', '.join(self.experiments) or 'none'}")
        if exp.status != "running":
            return exp.control
        arm = assign_arm(unit_id, exp)
        if log_exposure:
            log_exposures(self.store, experiment, [unit_id], [arm], at, surface)
        return arm


# --- the outcome table --------------------------------------------------------------------------------


def outcome_table(store: Store, experiment: str, *, pre_days: int = 28, until: datetime | None = None) -> pa.Table:
    """One row per exposed unit: arm, outcomes after its first exposure, covariates from before it.

    Outcomes (from events with the unit as ``user_id``, at or after the first exposure, before ``until``):
    ``impressions``, ``clicks``, ``clicked`` (0/1), ``purchases``, ``purchased`` (0/1), ``revenue`` (sum of
    price x quantity of purchases; a purchase row without a price takes the item's catalogue price, and
    counts 0 only when neither is known). Covariates over the ``pre_days`` before exposure: ``pre_clicks``,
    ``pre_purchases``, ``pre_revenue`` (use one as ``--covariate`` for CUPED).
    """
    get_experiment(store, experiment)
    # one row per unit even if two first exposures raced into the table (two requests for a new unit at
    # once): the earliest counts, as log_exposures would have kept it
    if pre_days < 0:
        raise InputError(f"the pre-period must be 0 or more days, not {pre_days}", field="pre_days")
    if not store.has_table(EXPOSURES):
        raise InputError(f"experiment '{experiment}' has no exposures yet: nothing to analyse")
    until_sql = " AND e.timestamp < ?" if until else ""
    params: list[object] = [experiment] + ([until] if until else []) + [timedelta(days=pre_days)]

    def n(what: str, when: str) -> str:
        return f"count(*) FILTER (WHERE {when} AND event = '{what}')"

    def value(when: str) -> str:
        return f"coalesce(sum(value) FILTER (WHERE {when} AND event = 'purchase'), 0)"

    return store.query(f"""
        WITH x AS (SELECT unit_id, (array_agg(arm ORDER BY first_exposed_at, arm))[1] AS arm,
                          min(first_exposed_at) AS first_exposed_at
                   FROM {EXPOSURES} WHERE experiment = ? GROUP BY unit_id),
        catalogue AS ({LIST_PRICE_SQL}),
        j AS (SELECT x.unit_id, x.arm, x.first_exposed_at, e.event,
                     coalesce(e.price, c.list_price, 0) * coalesce(e.quantity, 1) AS value,
                     e.timestamp >= x.first_exposed_at{until_sql} AS post,
                     e.timestamp < x.first_exposed_at
                        AND e.timestamp >= x.first_exposed_at - ? AS pre
              FROM x LEFT JOIN events e ON e.user_id = x.unit_id
                     LEFT JOIN catalogue c ON c.item_id = e.item_id)
        SELECT unit_id AS user_id, arm, first_exposed_at,
               {n('impression', 'post')} AS impressions, {n('click', 'post')} AS clicks,
               CAST({n('click', 'post')} > 0 AS INTEGER) AS clicked,
               {n('purchase', 'post')} AS purchases, CAST({n('purchase', 'post')} > 0 AS INTEGER) AS purchased,
               {value('post')} AS revenue,
               {n('click', 'pre')} AS pre_clicks, {n('purchase', 'pre')} AS pre_purchases,
               {value('pre')} AS pre_revenue
        FROM j GROUP BY unit_id, arm, first_exposed_at ORDER BY user_id""", params)
