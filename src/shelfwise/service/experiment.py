"""Experiment operations for the CLI and the API: position bias, slot placement, off-policy evaluation and
learning, A/B analysis, and running experiments (create, assign, exposures, outcomes).

Every function takes plain values (a store URL, file paths, lists) and returns plain data (dicts in the
shapes the CLI prints as JSON and the dashboard renders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.store import open_store
from ..errors import InputError
from ..experiment import ab, assignment
from ..experiment.logged import LoggedDisplays, Selection, load_displays
from ..experiment.ope import evaluate
from ..experiment.opl import LearnedPolicy, learn_and_evaluate, learn_policy
from ..experiment.placement import place
from ..experiment.position_bias import from_randomised, pbm_curve
from ..experiment.tables import read_table, write_table
from ..experiment.targets import BUILTIN, context_keys, policy_from_table, policy_table, uniform_policy

POSITION_METHODS = ("randomised", "pbm")


def parse_where(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["policy=random", ...]`` (or a mapping) as a dict; a term without '=' is an error."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for term in items:
        key, sep, value = term.partition("=")
        if not sep or not key.strip():
            raise InputError(f"'{term}' is not KEY=VALUE (for example policy=random)", field="where")
        out[key.strip()] = value.strip()
    return out


def selection(surfaces: Sequence[str] = (), where: Sequence[str] | Mapping[str, str] | None = None,
              since: datetime | None = None, until: datetime | None = None, reward_event: str = "click",
              window_minutes: float = 30.0) -> Selection:
    """The logs to read: surfaces, KEY=VALUE conditions (event or extra columns), time range, reward."""
    if since is not None and until is not None and since >= until:
        raise InputError(f"--since {since.isoformat()} is not before --until {until.isoformat()}: no time lies "
                         "between them (--since is the first instant kept, --until the first one left out)",
                         field="since")
    return Selection(tuple(surfaces), parse_where(where), since, until, reward_event,
                     timedelta(minutes=window_minutes))


def _load(db: str | None, sel: Selection, context: Sequence[str] = (), actions: str = "logged") -> LoggedDisplays:
    with open_store(db, read_only=True) as store:
        return load_displays(store, sel, context=context, actions=actions)


def position_bias(db: str | None = None, *, method: str = "randomised", sel: Selection | None = None,
                  max_position: int | None = None, resamples: int | None = None, seed: int = 0,
                  level: float = 0.95, prior_strength: float = 0.0) -> dict[str, Any]:
    """Relative attention per position, with intervals: from randomised logs, or by fitting the PBM with EM."""
    if method not in POSITION_METHODS:
        raise InputError(f"unknown method '{method}': use {' or '.join(POSITION_METHODS)}", field="method")
    sel = sel or Selection()
    logged = _load(db, sel)
    if method == "randomised":
        curve = from_randomised(logged, max_position=max_position,
                                resamples=2000 if resamples is None else resamples, seed=seed, level=level)
    else:
        curve = pbm_curve(logged, max_position=max_position, resamples=200 if resamples is None else resamples,
                          seed=seed, level=level, prior_strength=prior_strength)
    return {**curve.as_dict(), "selection": sel.describe(), "rows": logged.n, "displays": logged.n_clusters}


def place_items(scores: Mapping[str, float], attention: Sequence[float], *, pinned: Mapping[str, int] | None = None,
                excluded: Sequence[str] = ()) -> dict[str, Any]:
    """Scored items into slots: the best where attention is highest, pinned items kept, excluded left out."""
    return place(scores, attention, pinned=pinned, excluded=excluded).as_dict()


def _target(target: str, sel: Selection, db: str | None, context: Sequence[str],
            actions: str) -> tuple[LoggedDisplays, Any]:
    if target in BUILTIN:
        logged = _load(db, sel, context, actions)
        return logged, uniform_policy(logged)
    path = Path(target)
    if not target.strip():
        raise InputError(f"the target policy is empty: give {' or '.join(BUILTIN)} or a probability file",
                         field="target")
    if not path.exists():
        raise InputError(f"target policy '{target}' is neither a built-in ({', '.join(BUILTIN)}) nor a file",
                         field="target")
    if path.is_dir():
        raise InputError("is a folder: the target policy must be a probability file (.csv, .parquet, .jsonl)",
                         file=str(path), field="target")
    table = read_table(path)
    if table.empty:
        context_keys(table)  # a missing column is the clearer message
        raise InputError("has no rows: the target policy file needs item_id, probability rows", file=str(path),
                         field="target")
    keys = context_keys(table)
    extra = [k for k in keys if k not in ("position", "surface") and k not in context]
    try:
        logged = _load(db, sel, list(context) + extra, actions)
    except InputError as exc:
        if getattr(exc, "field", None) in extra:  # the policy file names a column the logs do not have
            raise InputError(f"the policy file's context column '{exc.field}' has no value in the selected "
                             "impressions: name an event column or an extra column of the events",
                             file=str(path), field=exc.field) from exc
        raise
    return logged, policy_from_table(table, logged, name=path.name)


def ope(db: str | None = None, target: str = "uniform", *, sel: Selection | None = None, context: Sequence[str] = (),
        actions: str = "logged", clip: float | None = None, folds: int = 2, regularisation: float = 1.0,
        resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """IPW, SNIPW, DM and DR estimates of ``target``'s click rate per slot from the selected logs.

    ``target`` is ``uniform`` or a probability file (see :mod:`shelfwise.experiment.targets`).
    """
    sel = sel or Selection()
    logged, policy = _target(target, sel, db, context, actions)
    result = evaluate(logged, policy, context=context, folds=folds, regularisation=regularisation, clip=clip,
                      resamples=resamples, seed=seed, level=level)
    return {**result.as_dict(), "target": target, "selection": sel.describe(), "context": list(context)}


def learn(db: str | None = None, *, sel: Selection | None = None, context: Sequence[str] = (), epsilon: float = 0.1,
          regularisation: float = 1.0, max_weight: float | None = None, greedy: bool = False, test_share: float = 0.5,
          model_dir: str | Path | None = None, probabilities_out: str | Path | None = None, resamples: int = 2000,
          seed: int = 0) -> dict[str, Any]:
    """Learn a display policy from the logs (IPW), estimate it on held-out displays against the logged and
    uniform policies, then refit on all logs and save it (``model_dir``) and its probabilities as a target
    file for ``shelfwise ope --target`` (``probabilities_out``)."""
    sel = sel or Selection()
    logged = _load(db, sel, context)
    result = learn_and_evaluate(logged, context=context, epsilon=epsilon, regularisation=regularisation,
                                max_weight=max_weight, greedy=greedy, test_share=test_share, resamples=resamples,
                                seed=seed)
    out: dict[str, Any] = {**result.as_dict(), "selection": sel.describe()}
    if model_dir or probabilities_out:
        final = learn_policy(logged, context=context, epsilon=epsilon, regularisation=regularisation,
                             max_weight=max_weight, greedy=greedy)
        if model_dir:
            final.save(model_dir)
            out["model_dir"] = str(model_dir)
        if probabilities_out:
            keys = ["surface", "position", *context]
            write_table(policy_table(final.as_target(logged), logged, keys), probabilities_out)
            out["probabilities"] = str(probabilities_out)
    return out


def load_learned(model_dir: str | Path) -> LearnedPolicy:
    return LearnedPolicy.load(model_dir)


# --- A/B analysis -----------------------------------------------------------------------------------------


def parse_split(text: str | None) -> dict[str, float] | list[float] | None:
    """``"50,50"`` (in arm order: control first, then the others sorted) or ``"A=0.5,B=0.5"``."""
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if all("=" in p for p in parts):
            return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in parts)}
        return [float(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"'{text}' is not a split: give shares like 50,50 or control=0.5,treat=0.5",
                         field="expected_split") from exc


def analyze(file: str | Path | pd.DataFrame, arm_col: str, control: str, metrics: Sequence[str], *,
            covariate: str | None = None, expected_split: str | Mapping[str, float] | Sequence[float] | None = None,
            correction: str = "holm", level: float = 0.95) -> dict[str, Any]:
    """Per-arm means, lifts with intervals, p-values (adjusted), SRM and CUPED for an experiment table."""
    df = file if isinstance(file, pd.DataFrame) else read_table(file)
    split = parse_split(expected_split) if isinstance(expected_split, str) else expected_split
    result = ab.analyze(df, arm_col, control, list(metrics), covariate=covariate, expected_split=split,
                        level=level, correction=correction)
    out = result.as_dict()
    if not isinstance(file, pd.DataFrame):
        out["file"] = str(file)
    return out


# --- running experiments ----------------------------------------------------------------------------------


def create_experiment(db: str | None, name: str, arms: Sequence[str], *, weights: Sequence[float] | None = None,
                      control: str | None = None, salt: str | None = None, description: str = "") -> dict[str, Any]:
    with open_store(db) as store:
        return assignment.create_experiment(store, name, arms, weights=weights, control=control, salt=salt,
                                            description=description).as_dict()


def list_experiments(db: str | None = None) -> list[dict[str, Any]]:
    """Every experiment with its arms, split, status and how many units each arm has been exposed."""
    with open_store(db) as store:
        exps = assignment.list_experiments(store)
        counts: dict[tuple[str, str], int] = {}
        if store.has_table(assignment.EXPOSURES):
            rows = store.query(f"SELECT experiment, arm, count(DISTINCT unit_id) AS n FROM {assignment.EXPOSURES} "
                               "GROUP BY experiment, arm")
            counts = {(r["experiment"], r["arm"]): r["n"] for r in rows.to_pylist()}
    return [{**e.as_dict(), "exposed": {a: counts.get((e.name, a), 0) for a in e.arms}} for e in exps]


def set_experiment_status(db: str | None, name: str, status: str) -> dict[str, Any]:
    with open_store(db) as store:
        return assignment.set_status(store, name, status).as_dict()


def assign(db: str | None, name: str, units: Sequence[str], *, log_exposure: bool = True,
           surface: str | None = None) -> dict[str, str]:
    """Each unit's arm (deterministic); with ``log_exposure`` the first exposure of each unit is recorded."""
    with open_store(db) as store:
        exp = assignment.get_experiment(store, name)
        if exp.status != "running":
            return {u: exp.control for u in units}
        arms = {u: assignment.assign_arm(u, exp) for u in units}
        if log_exposure:
            assignment.log_exposures(store, name, list(arms), list(arms.values()), surface=surface)
    return arms


def outcomes(db: str | None, name: str, out: str | Path, *, pre_days: int = 28,
             until: datetime | None = None) -> dict[str, Any]:
    """Write the per-unit outcome table of an experiment (for ``experiment analyze``); returns its summary."""
    with open_store(db, read_only=True) as store:
        exp = assignment.get_experiment(store, name)
        table = assignment.outcome_table(store, name, pre_days=pre_days, until=until)
    write_table(table.to_pandas(), out)
    return {"experiment": name, "file": str(out), "units": table.num_rows, "arms": list(exp.arms),
            "control": exp.control, "split": exp.split(),
            "expected_split": _analysis_split(exp, set(table.column("arm").to_pylist())),
            "metrics": ["clicked", "clicks", "purchased", "purchases", "revenue", "impressions"],
            "covariates": ["pre_clicks", "pre_purchases", "pre_revenue"]}


def _analysis_split(exp: assignment.Experiment, present: set[str]) -> str | None:
    """The ``--expected-split`` for ``analyze`` of this experiment's outcome file (None when equal).

    Positional (control first, then the other arms sorted, as ``analyze`` orders them), over the arms that
    have units in the file, so arm names with commas or '=' cannot break it. Without it, an experiment
    with unequal weights would fail the sample-ratio check against the default equal split.
    """
    split = exp.split()
    order = [a for a in [exp.control, *sorted(a for a in exp.arms if a != exp.control)] if a in present]
    shares = [split[a] for a in order]
    if len(order) < 2 or max(shares) - min(shares) < 1e-12:
        return None
    return ",".join(f"{v:.6g}" for v in shares)
