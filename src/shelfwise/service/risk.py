"""Order risk for the CLI and the API: score orders, explain each score, keep alerts in the store.

``score(db, orders_since, out)`` computes every order's features from the events before it, scores
the orders at or after ``orders_since`` (default: all), writes ``order_id,score,reasons`` to ``out``
and keeps the scores in the derived table ``order_risk`` and the top ones in ``order_risk_alerts``
(score >= ``alert_threshold``), which the dashboard reads. ``check`` is the backtest: how well the
score ranks the orders that were later returned or cancelled, against a quantity-only baseline.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..data.store import Store, open_store
from ..errors import InputError
from ..evaluate.split import parse_cutoff
from ..experiment.tables import check_writable, write_table
from ..logs import get_logger
from ..risk.features import order_features
from ..risk.model import RiskConfig, average_precision, precision_at, score_orders

log = get_logger(__name__)

FILE_COLUMNS = ["order_id", "score", "reasons"]


def parse_date(value: str | date | None, field: str = "orders-since") -> pd.Timestamp | None:
    """``--orders-since`` as a naive UTC timestamp (None: every order), by the project's one date check.

    An empty value used to pass as NaT and a date with a time zone failed later against the naive
    order times; :func:`~shelfwise.evaluate.split.parse_cutoff` refuses the first and converts the second.
    """
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    return pd.Timestamp(parse_cutoff(value, what=field))


def _store(db: Store | str | None) -> tuple[Store, bool]:
    return (db, False) if isinstance(db, Store) else (open_store(db), True)


def score(db: Store | str | None = None, orders_since: str | date | None = None, out: str | Path | None = None,
          config: RiskConfig | None = None, alert_threshold: float = 0.5, keep: bool = True) -> pd.DataFrame:
    """Scored orders (``order_id, user_id, ts, score, reasons, model`` and the features), newest last."""
    since = parse_date(orders_since)
    if not 0.0 <= alert_threshold <= 1.0:  # also NaN: it used to replace the alerts with none, silently
        raise InputError(f"the alert threshold is a score, between 0 and 1 (got {alert_threshold})",
                         field="alert_threshold")
    check_writable(out)  # a wrong name or a folder fails before any work, and before anything is stored
    st, close = _store(db)
    try:
        feats = order_features(st)
        scored = score_orders(feats, config, score_from=since)
        scored = scored[scored["score"].notna()].reset_index(drop=True)
        if keep:
            _keep(st, scored, alert_threshold)
    finally:
        if close:
            st.close()
    if out:
        # the type follows the name (.csv, .csv.gz, .parquet, .json, .jsonl, .jsonl.gz); scores to 6
        # decimals, as the CSV has always had them
        write_table(scored[FILE_COLUMNS].assign(score=scored["score"].round(6)), out)
        log.info("wrote %d order scores to %s", len(scored), out)
    return scored


def _keep(st: Store, scored: pd.DataFrame, alert_threshold: float) -> None:
    """Replace ``order_risk`` and ``order_risk_alerts`` with this run's scores, even when there are none.

    Why always: the tables used to be written only when some order was scored, so a run that scored
    none (``--orders-since`` after the last order) left the previous run's alerts in place, and the
    dashboard showed them as current. Empty tables keep their columns and types.
    """
    cols = ["order_id", "user_id", "ts", "score", "reasons", "model"]
    rows = scored[cols].assign(scored_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    schema = pa.schema([("order_id", pa.string()), ("user_id", pa.string()), ("ts", pa.timestamp("us")),
                        ("score", pa.float64()), ("reasons", pa.string()), ("model", pa.string()),
                        ("scored_at", pa.timestamp("us"))])
    st.write("order_risk", _arrow(rows, schema), mode="replace")
    alerts = rows[rows["score"] >= alert_threshold].sort_values("score", ascending=False)[cols]
    st.write("order_risk_alerts", _arrow(alerts, pa.schema(list(schema)[:-1])), mode="replace")


def _arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``df`` as Arrow; an empty frame (whose columns pandas types as object) takes ``schema``."""
    if len(df):
        return pa.Table.from_pandas(df, preserve_index=False)
    return pa.Table.from_pylist([], schema=schema)


def _ratio(a: float, b: float) -> float:
    """``a / b`` rounded, NaN when either is undefined or the baseline ``b`` is 0.

    Why: the baseline's 0 used to be replaced by 1e-9, so a single hit read as "1,000,000,000 x the
    baseline"; a ratio to nothing is undefined (null in JSON)."""
    return round(a / b, 3) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def alerts(db: Store | str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The stored high-risk orders (from the last ``score`` run), highest first, for the dashboard."""
    st, close = _store(db)
    try:
        if not st.has_table("order_risk_alerts"):
            return []
        df = st.query("SELECT * FROM order_risk_alerts ORDER BY score DESC LIMIT ?", [limit]).to_pandas()
    finally:
        if close:
            st.close()
    return [{k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()} for r in df.to_dict("records")]


def check(scored: pd.DataFrame, since: str | date | None = None, top_share: float = 0.01) -> dict[str, Any]:
    """Precision at the top ``top_share`` and average precision of the score against the orders that
    were later returned/cancelled, with the quantity-only baselines (units in the order, largest line)."""
    df = scored if since is None else scored[pd.to_datetime(scored["ts"]) >= parse_date(since)]
    y = df["returned"].to_numpy(dtype=bool)
    peers = {"shelfwise": df["score"].to_numpy(), "quantity (units in order)": df["qty"].to_numpy(dtype=float),
             "quantity (largest line vs item's usual)": df["max_qty_ratio"].to_numpy(dtype=float)}
    res = {name: {"precision_at_top": round(precision_at(y, s, top_share), 4),
                  "average_precision": round(average_precision(y, s), 4)} for name, s in peers.items()}
    base = res["quantity (units in order)"]
    return {"orders": int(len(df)), "returned": int(y.sum()),
            "base_rate": round(float(y.mean()), 4) if len(y) else float("nan"),  # no orders: undefined
            "top_share": top_share, "peers": res,
            "ratio_precision_at_top": _ratio(res["shelfwise"]["precision_at_top"], base["precision_at_top"]),
            "ratio_average_precision": _ratio(res["shelfwise"]["average_precision"], base["average_precision"])}
