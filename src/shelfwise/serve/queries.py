"""Store reads behind the item, alert and experiment endpoints: portable SQL, bound values only.

Each derived table (lifecycle stages and forecasts, sentiment, launch plans, alerts, experiments) is
read when it exists and left out when it does not, so the API answers on a freshly ingested shop and
fills in as the batch commands run.
"""

from __future__ import annotations

from typing import Any

from ..data.store import Store


def _rows(store: Store, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return store.query(sql, params).to_pylist()


def _latest(store: Store, table: str, item_id: str) -> list[dict[str, Any]] | None:
    """Rows of ``table`` for the item, from its latest ``as_of`` when it has one; None when no table."""
    if not store.has_table(table):
        return None
    rows = _rows(store, f'SELECT * FROM "{table}" WHERE item_id = ?', [item_id])
    stamps = [r["as_of"] for r in rows if r.get("as_of") is not None]
    if stamps:
        last = max(stamps)
        rows = [r for r in rows if r.get("as_of") == last]
    return rows


def item_page(store: Store, item_id: str) -> dict[str, Any] | None:
    """Catalogue row, stage, forecast (with interval), sentiment, launch plan; None for an unknown item."""
    if not store.has_table("items"):
        return None
    found = _rows(store, "SELECT item_id, title, description, category, brand, price, launched_at, image_url "
                         "FROM items WHERE item_id = ?", [item_id])
    if not found and store.has_table("events"):
        if _rows(store, "SELECT item_id FROM events WHERE item_id = ? LIMIT 1", [item_id]):
            found = [{"item_id": item_id}]
    if not found:
        return None
    out: dict[str, Any] = {"item": found[0]}
    stage = _latest(store, "lifecycle_stages", item_id)
    if stage is not None:
        out["stage"] = stage[0] if stage else None
    forecast = _latest(store, "lifecycle_forecasts", item_id)
    if forecast is not None:
        out["forecast"] = sorted(forecast, key=lambda r: str(r.get("period_start")))
    for table, key in (("item_sentiment", "sentiment"), ("inventory_advice", "inventory")):
        rows = _latest(store, table, item_id)
        if rows is not None:
            out[key] = rows[0] if rows else None
    plan = _latest(store, "launch_plans", item_id)
    if plan is not None:
        out["launch_plan"] = plan[0] if len(plan) == 1 else (plan or None)
    item_alerts = _latest(store, "lifecycle_alerts", item_id)
    if item_alerts is not None:
        out["alerts"] = item_alerts
    return out


def alerts(store: Store, limit: int = 100, kind: str | None = None) -> dict[str, Any]:
    """The latest stored alerts (``shelfwise alerts``), most severe first; empty when never computed."""
    if not store.has_table("lifecycle_alerts"):
        return {"as_of": None, "total": 0, "alerts": [], "note": "no alerts computed yet: run shelfwise alerts"}
    cols = set(store.query('SELECT * FROM "lifecycle_alerts" LIMIT 0').schema.names)
    where, params = [], []
    if "as_of" in cols:
        where.append('as_of = (SELECT max(as_of) FROM "lifecycle_alerts")')
    if kind is not None and "kind" in cols:
        where.append("kind = ?")
        params.append(kind)
    order = " ORDER BY severity DESC" if "severity" in cols else ""
    sql = 'SELECT * FROM "lifecycle_alerts"' + (" WHERE " + " AND ".join(where) if where else "")
    total = int(store.query(sql.replace("SELECT *", "SELECT count(*) AS n", 1), params).column(0)[0].as_py())
    rows = _rows(store, sql + order + " LIMIT ?", params + [int(limit)])
    as_of = rows[0].get("as_of") if rows else None
    return {"as_of": as_of, "total": total, "alerts": rows}


def experiments(store: Store) -> list[dict[str, Any]]:
    """Every experiment with its arms, split, status and the units exposed per arm."""
    from ..experiment import assignment

    exps = assignment.list_experiments(store)
    counts: dict[tuple[str, str], int] = {}
    if exps and store.has_table(assignment.EXPOSURES):
        for r in _rows(store, f"SELECT experiment, arm, count(DISTINCT unit_id) AS n FROM {assignment.EXPOSURES} "
                              "GROUP BY experiment, arm"):
            counts[(r["experiment"], r["arm"])] = int(r["n"])
    return [{**e.as_dict(), "exposed": {a: counts.get((e.name, a), 0) for a in e.arms}} for e in exps]
