"""The dashboard's pages: server-rendered HTML with inline SVG charts, on the service's own store.

Thin on purpose: each handler reads ``request.app.state.store`` (and ``app.state.models`` when the
app has loaded a model set), calls :mod:`shelfwise.service.dashboard` for the data, draws the charts
and renders a Jinja2 template with autoescaping on, so every value that came from the shop is escaped
and only the chart SVG (escaped by the chart code) is inserted as markup. Nothing is fetched from the
network: the stylesheet is served from the package.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from ... import __version__
from ...data.store import Store
from ...evaluate.charts import fmt_number
from ...logs import get_logger
from ...service import dashboard as data
from . import charts

log = get_logger(__name__)

HERE = Path(__file__).parent
MAX_ID = 200  # longest user or item id a page accepts
MAX_K = 100    # most recommendations a user page shows

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt_number(v) if isinstance(v, (int, float)) else str(v)


def _pct(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{100 * float(v):.{digits}f}%"


def _when(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return "–" if v is None else str(v)


_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True, trim_blocks=True,
                   lstrip_blocks=True)
_env.filters.update(num=_num, pct=_pct, when=_when, q=lambda s: quote(str(s), safe=""))
_env.globals.update(version=__version__)


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)


def _store(request: Request) -> Store:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise HTTPException(503, "the service has no store open")
    return store


# --- access: the same read keys as the API --------------------------------------------------------------

COOKIE = "shelfwise_key"


def _key_of(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or None


def _key_ok(request: Request, key: str | None) -> bool:
    cache = getattr(request.app.state, "keys", None)
    info = cache.lookup(key) if key and cache is not None else None
    return info is not None and info.allows("read")


def _denied(request: Request) -> Response | None:
    """None when the caller may read the pages, else the sign-in page (401).

    The pages show what the read API shows (users' histories among it), so they take the same read
    keys: as a Bearer header, or as the cookie the sign-in form sets. An app that lets keyless
    requests through (``shelfwise demo``) lets the pages through too; an app without key support (a
    bare app mounting the router) is taken to guard access itself.
    """
    state = request.app.state
    if getattr(state, "anonymous", False) or getattr(state, "keys", None) is None:
        return None
    if _key_ok(request, _key_of(request)):
        return None
    return _sign_in(request, str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
                    "a read key is required" if _key_of(request) is None else "this key is not valid for reading")


def _safe_next(path: str) -> str:
    """Only a dashboard path on this server (never another host) to return to after signing in."""
    return path if path.startswith("/dashboard") and not path.startswith("//") and "\\" not in path else "/dashboard"


def _sign_in(request: Request, next_path: str, message: str) -> HTMLResponse:
    return _render(request, "login.html", status_code=401, page=None, next_path=_safe_next(next_path), message=message)


def _invalid(request: Request, message: str, page: str | None, back: str = "/dashboard",
             back_label: str = "overview", status_code: int = 422, heading: str = "Cannot show this page") -> HTMLResponse:
    """A page (not the API's JSON error) saying what in the address is wrong; everything shown is escaped."""
    return _render(request, "invalid.html", status_code=status_code, page=page, heading=heading, message=message,
                   back=back, back_label=back_label)


def _id_too_long(ident: str | None, what: str) -> str | None:
    if ident is not None and len(ident) > MAX_ID:
        return f"This {what} id has {len(ident):,} characters; ids of at most {MAX_ID} are accepted."
    return None


def _parse_k(raw: str | None) -> int | None:
    """The user page's k, or None when it is not a whole number from 1 to MAX_K."""
    try:
        k = int(raw) if raw is not None else 10
    except ValueError:
        return None
    return k if 1 <= k <= MAX_K else None


def _svg(markup: str) -> Markup:
    return Markup(markup)  # chart code escapes every text it draws


@router.get("", response_class=HTMLResponse, response_model=None)
def overview(request: Request) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    ov = data.overview(_store(request))
    figs = {}
    if ov["totals"]:
        figs = {"traffic": _svg(charts.traffic(ov)), "rates": _svg(charts.rates(ov)),
                "exposure": _svg(charts.exposure(ov))}
    return _render(request, "overview.html", page="overview", ov=ov, charts=figs)


@router.get("/users", response_class=HTMLResponse, response_model=None)
def users(request: Request, user_id: str | None = Query(None)) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    if (problem := _id_too_long(user_id, "user")) is not None:
        return _invalid(request, problem, "users", "/dashboard/users", "users")
    if user_id and user_id.strip():
        return RedirectResponse(f"/dashboard/users/{quote(user_id.strip(), safe='')}", status_code=303)
    return _render(request, "users.html", page="users", users=data.top_users(_store(request)))


def _served(state: Any, user_id: str, k: int) -> dict[str, Any] | None:
    """What the running service answers ``/v1/recommend`` with for this user (its default policy).

    Only when the app is the full service (a model holder with ``current``, the live state and the
    ranking module); any failure there falls back to asking the model directly, with a warning.
    """
    holder, live = getattr(state, "models", None), getattr(state, "live", None)
    ms = getattr(holder, "current", None)
    if ms is None or live is None:
        return None
    try:
        from .. import rank

        base = ms.cached_list(user_id)
        if base is None and ms.has_history(user_id):
            base = ms.user_list(user_id)
        params = state.policy_params() if hasattr(state, "policy_params") else None
        policy = state.policy_for(ms) if params is not None and getattr(params, "reranks", False) else None
        out = rank.recommend(ms, live, user_id, k, base, policy, params)
        return {"items": out.items, "version": ms.version, "trained": bool(getattr(ms, "trained", True))}
    except Exception as exc:  # noqa: BLE001 - the page still shows the model's own list
        log.warning("dashboard: the service's ranking failed for %s (%s); asking the model directly", user_id, exc)
        return None


def _model_and_lock(state: Any) -> tuple[Any, Any]:
    """The fitted recommender the app holds (a model holder, a model set, or the model itself) and the
    lock its owner scores it under (the hybrid's history is not safe for concurrent scoring)."""
    held = getattr(state, "models", None)
    current = getattr(held, "current", held)
    model = getattr(current, "model", current)
    if model is None or not hasattr(model, "recommend"):
        return None, None
    return model, getattr(current, "_lock", None)


@router.get("/users/{user_id:path}", response_class=HTMLResponse, response_model=None)
def user(request: Request, user_id: str = PathParam(...),
         k_raw: str | None = Query(None, alias="k")) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    if not user_id:  # /dashboard/users/: the list
        return RedirectResponse("/dashboard/users", status_code=307)
    if (problem := _id_too_long(user_id, "user")) is not None:
        return _invalid(request, problem, "users", "/dashboard/users", "users")
    k = _parse_k(k_raw)
    if k is None:
        return _invalid(request, f"k (how many recommendations to show) must be a whole number from 1 to {MAX_K}, "
                        f"not '{k_raw}'.", "users", f"/dashboard/users/{quote(user_id, safe='')}", "user's page")
    store = _store(request)
    history = data.user_history(store, user_id, limit=200)
    served = _served(request.app.state, user_id, k)
    model, lock = (None, None) if served is not None else _model_and_lock(request.app.state)
    recs = data.recommendations(store, user_id, k=k, model=model, lock=lock, served=served, history=history)
    return _render(request, "user.html", page="users", user_id=user_id, history=history[:20], recs=recs,
                   chart=_svg(charts.user_activity(history)) if history else None)


@router.get("/items", response_class=HTMLResponse, response_model=None)
def items(request: Request, item_id: str | None = Query(None)) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    if (problem := _id_too_long(item_id, "item")) is not None:
        return _invalid(request, problem, "items", "/dashboard/items", "items")
    if item_id and item_id.strip():
        return RedirectResponse(f"/dashboard/items/{quote(item_id.strip(), safe='')}", status_code=303)
    return _render(request, "items.html", page="items", items=data.top_items(_store(request)))


@router.get("/items/{item_id:path}", response_class=HTMLResponse, response_model=None)
def item(request: Request, item_id: str = PathParam(...)) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    if not item_id:  # /dashboard/items/: the list
        return RedirectResponse("/dashboard/items", status_code=307)
    if (problem := _id_too_long(item_id, "item")) is not None:
        return _invalid(request, problem, "items", "/dashboard/items", "items")
    page = data.item_page(_store(request), item_id)
    if page is None:
        return _render(request, "missing.html", status_code=404, page="items", what="item", ident=item_id,
                       back="/dashboard/items")
    figs = {"curve": _svg(charts.item_curve(page)), "events": _svg(charts.item_events(page))}
    return _render(request, "item.html", page="items", p=page, charts=figs)


@router.get("/experiments", response_class=HTMLResponse, response_model=None)
def experiments(request: Request) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    exps = data.experiments(_store(request))
    figs = {e["name"]: _svg(charts.experiment_lifts(e)) for e in exps or [] if e["analysis"]}
    return _render(request, "experiments.html", page="experiments", experiments=exps, charts=figs)


@router.get("/alerts", response_class=HTMLResponse, response_model=None)
def alerts(request: Request) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    al = data.alerts(_store(request))
    chart = _svg(charts.alert_kinds(al)) if al and al["by_kind"] else None
    return _render(request, "alerts.html", page="alerts", al=al, chart=chart)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """The sign-in form: a valid read (or write) key becomes an HttpOnly cookie for the dashboard's paths."""
    body = await request.body()
    if len(body) > 4096:
        raise HTTPException(413, "the sign-in form is larger than 4 KiB")
    form = parse_qs(body.decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    next_path = _safe_next((form.get("next") or ["/dashboard"])[0])
    if not _key_ok(request, key):
        return _sign_in(request, next_path, "this key is not valid for reading" if key else "enter a key")
    resp = RedirectResponse(next_path, status_code=303)
    resp.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/dashboard",
                    secure=request.url.scheme == "https")
    return resp


@router.get("/logout", response_model=None)
def logout() -> Response:
    resp = RedirectResponse("/dashboard", status_code=303)
    resp.delete_cookie(COOKIE, path="/dashboard")
    return resp


@router.get("/static/dashboard.css", include_in_schema=False)
def stylesheet() -> Response:
    return Response((HERE / "static" / "dashboard.css").read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/{rest:path}", response_class=HTMLResponse, response_model=None, include_in_schema=False)
def unknown_page(request: Request, rest: str) -> Response:
    """Any other address under /dashboard: a page that says so (registered last, so it shadows nothing)."""
    if rest.endswith("/") or not rest:  # /dashboard/ or /dashboard/alerts/: the page without the slash
        return RedirectResponse(request.url.path.rstrip("/") or "/dashboard", status_code=307)
    if (denied := _denied(request)) is not None:
        return denied
    return _invalid(request, f"No page at {request.url.path}.", None, status_code=404, heading="No page here")
