"""Lifecycle operations for the CLI and the API: sales series, stages, forecasts, inventory, alerts.

Each operation opens the store, works as of a date (only events strictly before it count; default: the
day after the last sale), keeps its result in the store as a derived table (``lifecycle_stages``,
``lifecycle_forecasts``, ``inventory_advice``, ``lifecycle_alerts``, each stamped with its ``as_of``)
so the dashboard can show it without recomputing, and optionally writes a file (.csv, .csv.gz,
.parquet, .json, .jsonl or .jsonl.gz by extension) through the one result-file writer,
:func:`shelfwise.experiment.tables.write_table`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..data.store import Store, open_store
from ..errors import InputError
from ..experiment.tables import check_writable, write_table
from ..lifecycle.alerts import AlertRules, all_alerts
from ..lifecycle.forecast import ForecastConfig, check_horizon, forecast_panel
from ..lifecycle.inventory import InventoryPolicy, advise, horizon_needed, valid_lead_time
from ..lifecycle.prior import default_neighbours
from ..lifecycle.series import FREQS, check_freq, default_as_of, load_panel, refresh_sales_series
from ..lifecycle.stages import STAGES, classify
from ..logs import get_logger

log = get_logger(__name__)

#: what ``lifecycle-report --out`` may be: one HTML page
REPORT_FORMATS = (".html", ".htm")
#: the columns of the forecast file, in order (the format other tools read)
FORECAST_COLUMNS = ["item_id", "period_start", "yhat", "yhat_lo", "yhat_hi"]


def parse_as_of(value: str | date | None) -> date | None:
    """A date from ``YYYY-MM-DD`` (a datetime keeps its date), or None for "all data".

    Text must be a date, or a date and time at midnight (UTC or no zone): ``--as-of`` cuts at the start
    of a day, so "2024-05-15T10:00" would silently leave out the morning the user asked for, and
    "2024-05-15xyz" is a typo, not a date. Both are refused with the value quoted.
    """
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    text = str(value).strip()
    try:
        if len(text) <= 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of '{value}' is not a date: use YYYY-MM-DD", field="as_of") from None
    offset = moment.utcoffset()
    if moment.time() != datetime.min.time() or (offset is not None and offset.total_seconds() != 0):
        raise InputError(f"--as-of '{value}' has a time of day or a zone: --as-of uses the events strictly "
                         f"before a day (UTC), so give the day alone, e.g. {moment.date().isoformat()} or "
                         f"{(moment.date() + timedelta(days=1)).isoformat()}", field="as_of")
    return moment.date()


def _keep(store: Store, name: str, df: pd.DataFrame, as_of: date) -> None:
    """Store a result as a derived table stamped with its as_of date (replacing the previous run)."""
    out = df.copy()
    out.insert(0, "as_of", as_of)
    for col in out.columns:  # mixed object columns (dates and None) must reach Arrow with one type
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col].dropna()}
            if len(kinds) > 1:
                out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                        else (v.isoformat() if isinstance(v, (date, datetime)) else str(v)))
    table = pa.Table.from_pandas(out, preserve_index=False)
    for i, f in enumerate(table.schema):  # an all-empty column (no categories) is text, not "null"
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    store.write(name, table)


def _item_attrs(store: Store) -> tuple[dict[str, str | None], dict[str, float | None]]:
    """Category and price per item; price falls back to the median purchase price when the catalog has none."""
    rows = store.query("""
        SELECT a.item_id, min(a.category) AS category,
               coalesce(min(a.price), min(e.price)) AS price
        FROM all_items a LEFT JOIN (SELECT item_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS price
                                    FROM events WHERE event = 'purchase' AND price > 0 GROUP BY 1) e USING (item_id)
        GROUP BY a.item_id""").to_pylist()
    return ({r["item_id"]: r["category"] for r in rows}, {r["item_id"]: r["price"] for r in rows})


def refresh_series(db: str | None = None) -> dict[str, int]:
    """Rebuild the stored sales series (sales_daily, sales_weekly, per category) from the events."""
    with open_store(db) as store:
        return refresh_sales_series(store)


def stages(db: str | None = None, as_of: str | date | None = None, out: str | Path | None = None) -> pd.DataFrame:
    """Every item's lifecycle stage, confidence and evidence as of ``as_of``."""
    check_writable(out)
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        panel = load_panel(store, day, "W")
        category, _ = _item_attrs(store)
        df = classify(panel, categories=category)
        _keep(store, "lifecycle_stages", df, day)
    if out:
        write_table(df, out)
    return df


def stage_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Items per stage, overall and per category (top level of the category path), as a wide table."""
    top = df["category"].fillna("(none)").astype(str).str.split(">").str[0].str.strip()
    table = pd.crosstab(top.rename("category"), df["stage"]).reindex(columns=list(STAGES), fill_value=0)
    table.loc["(all)"] = table.sum()
    table["items"] = table.sum(axis=1)
    return table.reset_index()


def forecast(db: str | None = None, freq: str = "W", horizon: int = 8, as_of: str | date | None = None,
             out: str | Path | None = None, level: float = 80.0,
             neighbours: Mapping[str, Sequence[str]] | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Forecast every item ``horizon`` periods ahead with an interval at ``level`` %.

    Young items start from the launch-plan prior: ``neighbours`` (item -> similar items) when a launch
    plan gives them, else items of the same category with the closest price. The file at ``out`` holds
    exactly ``item_id, period_start, yhat, yhat_lo, yhat_hi``; the store keeps every column.
    """
    check_writable(out)
    freq = check_freq(freq)
    check_horizon(horizon, freq)
    cfg = ForecastConfig.for_freq(freq, horizon=horizon, level=level, n_jobs=n_jobs)
    cfg.check()
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        panel = load_panel(store, day, freq)
        if neighbours is None:
            category, price = _item_attrs(store)
            launched = [it for i, it in enumerate(panel.item_ids) if not panel.left_censored[i]]
            neighbours = default_neighbours(panel.item_ids, launched, category, price)
        df = forecast_panel(panel, cfg, neighbours=neighbours)
        _keep(store, "lifecycle_forecasts", df.assign(freq=freq), day)
    if out:
        write_table(_file_view(df), out)
    return df


def _file_view(df: pd.DataFrame) -> pd.DataFrame:
    view = df[FORECAST_COLUMNS].copy()
    view["period_start"] = pd.to_datetime(view["period_start"]).dt.strftime("%Y-%m-%d")
    for c in ("yhat", "yhat_lo", "yhat_hi"):
        view[c] = view[c].round(4)
    return view


def _stock(store: Store) -> pd.DataFrame | None:
    if not (store.has_table("stock") and store.count("stock")):
        return None
    return store.read_pandas("stock", columns=["item_id", "stock", "lead_time_days", "unit_cost"])


def _inventory_horizon(policy: InventoryPolicy, stock: pd.DataFrame | None) -> int:
    """Weeks of forecast the advice needs: the longest lead time plus a review period, at least 8."""
    max_lead = None
    if stock is not None:  # only usable lead times: a broken one falls back to the default (advise warns)
        leads = [d for d in map(valid_lead_time, stock["lead_time_days"]) if d is not None]
        max_lead = max(leads) if leads else None
    return max(horizon_needed(policy, FREQS["W"][1], max_lead), 8)


def launch_prior(neighbours: Sequence[str], db: str | None = None, horizon: int = 8,
                 as_of: str | date | None = None, own_sales: Sequence[float] = (), level: float = 80.0) -> pd.DataFrame:
    """Forecast a new (even not yet launched) item from the early curves of ``neighbours``.

    For launch plans: weekly rows for ages ``len(own_sales) .. + horizon - 1`` since launch with
    yhat (median across neighbours), yhat_lo / yhat_hi (their ``level`` % spread) and mean. Neighbours
    whose launch is not in the data or whose curve is too short are skipped; fewer than 3 usable is an
    error naming how many there were.
    """
    from ..lifecycle.prior import launch_curves, prior_forecast

    check_horizon(horizon, "W")
    ForecastConfig(horizon=horizon, level=level).check()
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        panel = load_panel(store, day, "W")
    curves = launch_curves(panel)
    ids = [n for n in neighbours if n in curves]
    own = np.clip(np.asarray(list(own_sales), dtype=float), 0, None)
    pf = prior_forecast(own, [curves[n] for n in ids], horizon, level, neighbour_ids=ids)
    if pf is None:
        raise InputError(f"only {sum(len(curves[n]) >= len(own) + horizon for n in ids)} of {len(neighbours)} "
                         f"neighbours have an observed launch and {len(own) + horizon} weeks of sales before {day}; "
                         "the launch prior needs 3", field="neighbours")
    age = np.arange(len(own), len(own) + horizon)
    return pd.DataFrame({"age_weeks": age, "yhat": pf.point, "yhat_lo": np.minimum(pf.lo, pf.point),
                         "yhat_hi": np.maximum(pf.hi, pf.point), "mean": pf.mean,
                         "neighbours_used": len(pf.neighbours)})


def inventory(db: str | None = None, as_of: str | date | None = None, out: str | Path | None = None,
              policy: InventoryPolicy | None = None, level: float = 80.0,
              forecast_df: pd.DataFrame | None = None, stages_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reorder point, safety stock, order-up-to level and markdown / clearance flags for every item.

    Uses a weekly forecast as far ahead as the longest lead time plus a review period and the stages,
    both as of the same date (computed here unless given), and the optional ``stock`` table for stock
    on hand, lead times and unit costs.
    """
    check_writable(out)
    policy = policy or InventoryPolicy()
    policy.check()
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        stock = _stock(store)
        if forecast_df is None or stages_df is None:
            panel = load_panel(store, day, "W")
            category, price = _item_attrs(store)
            if forecast_df is None:
                launched = [it for i, it in enumerate(panel.item_ids) if not panel.left_censored[i]]
                forecast_df = forecast_panel(panel, ForecastConfig(horizon=_inventory_horizon(policy, stock), level=level),
                                             neighbours=default_neighbours(panel.item_ids, launched, category, price))
            if stages_df is None:
                stages_df = classify(panel, categories=category)
        df = advise(forecast_df, FREQS["W"][1], level, policy, stages=stages_df, stock=stock)
        _keep(store, "inventory_advice", df, day)
    if out:
        write_table(df, out)
    return df


def alerts(db: str | None = None, as_of: str | date | None = None, days: int = 28,
           out: str | Path | None = None, rules: AlertRules | None = None) -> pd.DataFrame:
    """Spikes and drops against the forecast interval, bulk purchases, return rates, price anomalies."""
    check_writable(out)
    rules = replace(rules or AlertRules(), days=days)
    rules.check()
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        panel = load_panel(store, day, "W")
        df = all_alerts(store, panel, rules)
        _keep(store, "lifecycle_alerts", df, day)
    if out:
        write_table(df, out)
    return df


def report(db: str | None = None, as_of: str | date | None = None, out: str | Path = "lifecycle_report.html",
           policy: InventoryPolicy | None = None, max_item_rows: int | None = None) -> Path:
    """Compute stages, forecasts, inventory advice and alerts as of one date and write the HTML report.

    All four are kept in the store as well, as if each command had been run for that date.
    """
    from ..evaluate.report import Report
    from ..lifecycle.report import add_lifecycle_sections

    out = check_writable(out, REPORT_FORMATS) or Path("lifecycle_report.html")
    if max_item_rows is not None and max_item_rows < 0:
        raise InputError(f"--max-items must be 0 or more (or left out for every item), not {max_item_rows}",
                         field="max_items")
    policy = policy or InventoryPolicy()
    policy.check()
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        url = store.url
        h = _inventory_horizon(policy, _stock(store))
        titles = {r["item_id"]: r["title"] for r in store.query(
            "SELECT item_id, any_value(title) AS title FROM all_items WHERE title IS NOT NULL GROUP BY 1").to_pylist()}
    st = stages(db, day)
    fc = forecast(db, "W", h, day)
    adv = inventory(db, day, policy=policy, forecast_df=fc, stages_df=st)
    al = alerts(db, day)
    with open_store(db) as store:
        panel = load_panel(store, day, "W")
    rep = Report("Product lifecycle", f"{url}, as of {day}")
    add_lifecycle_sections(rep, panel, st, fc, adv, al, max_item_rows=max_item_rows, titles=titles)
    try:
        return rep.write(out)
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror or exc}", file=str(out), field="out") from None


def _latest(store: Store, table: str, item_id: str) -> list[dict[str, Any]]:
    if not store.has_table(table):
        return []
    return store.query(f'SELECT * FROM "{table}" WHERE item_id = ?', [item_id]).to_pylist()


def item_lifecycle(item_id: str, db: str | None = None, as_of: str | date | None = None) -> dict[str, Any]:
    """One item for the dashboard: its weekly curve, and its stored stage, forecast and advice.

    The curve is computed now; stage, forecast and advice come from the last ``shelfwise lifecycle``,
    ``forecast`` and ``inventory`` runs (empty when not run yet).
    """
    day = parse_as_of(as_of)
    with open_store(db) as store:
        day = day or default_as_of(store)
        panel = load_panel(store, day, "W")
        idx = panel.index()
        if item_id not in idx:
            from ..errors import UnknownIdError
            raise UnknownIdError(f"item '{item_id}' has no sales or launch before {day} in {store.url}")
        i = idx[item_id]
        periods = panel.periods[panel.start[i]:]
        curve = [{"period_start": p, "units": float(u), "returned": float(r), "net_units": float(n),
                  "orders": float(o)}
                 for p, u, r, n, o in zip(periods, panel.units[i, panel.start[i]:], panel.returned[i, panel.start[i]:],
                                          panel.net[i, panel.start[i]:], panel.lines[i, panel.start[i]:])]
        stage = _latest(store, "lifecycle_stages", item_id)
        fc = _latest(store, "lifecycle_forecasts", item_id)
        advice = _latest(store, "inventory_advice", item_id)
        alerts_ = _latest(store, "lifecycle_alerts", item_id)
    return {"item_id": item_id, "as_of": day, "launched": panel.launched[item_id], "curve": curve,
            "stage": stage[0] if stage else None, "forecast": sorted(fc, key=lambda r: str(r["period_start"])),
            "advice": advice[0] if advice else None, "alerts": alerts_}


def stored_stage_counts(db: str | None = None) -> pd.DataFrame:
    """Stage counts per category from the last stored stages (run ``shelfwise lifecycle`` first)."""
    with open_store(db) as store:
        if not store.has_table("lifecycle_stages"):
            raise InputError("no stages in the store yet: run shelfwise lifecycle first")
        df = store.read_pandas("lifecycle_stages", columns=["item_id", "category", "stage"])
    return stage_counts(df)
