"""The ground truth behind a synthetic shop, and how it is kept beside the shop folder.

A generated shop folder holds the tables a real shop would give (SHOP_FORMAT.md) and, in ``_truth/``
(ingest ignores folders), everything a real shop can never give: each user's true tastes and price
sensitivity, each item's quality, popularity and lifecycle curve, and the true position-bias curve.
Capabilities test themselves against it: does a recommender find the preferred items, does a
position-bias estimator recover the curve, does the lifecycle model see the decline.

Files (Parquet + JSON, no pickle): ``truth.json`` (sizes, seed, start date, model coefficients and the
names behind every index), ``items.parquet``, ``users.parquet``, ``position_bias.parquet`` and
``displays.parquet`` (one row per list shown: who, when, where, under which logging policy).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import InputError

TRUTH_DIR = "_truth"
FORMAT_VERSION = 1

SEGMENTS: tuple[str, ...] = ("bargain", "regular", "premium", "enthusiast")
COUNTRIES: tuple[str, ...] = ("GB", "DE", "FR", "NL", "ES", "IT", "SE", "US")
SURFACES: tuple[str, ...] = ("home", "category", "search")
POLICIES: tuple[str, ...] = ("ranker", "random")


@dataclass(frozen=True)
class Coefficients:
    """The behaviour model's constants (see :mod:`shelfwise.data.synth.world` for the formulas)."""

    click_intercept: float = -3.3
    category_weight: float = 0.6
    popularity_weight: float = 0.5
    quality_click_weight: float = 0.3
    cart_intercept: float = -2.4
    cart_preference_weight: float = 0.5
    cart_quality_weight: float = 0.6
    cart_price_weight: float = 1.0
    purchase_intercept: float = 0.0
    purchase_quality_weight: float = 0.4
    purchase_price_weight: float = 0.5
    return_intercept: float = -3.0
    return_quality_weight: float = 0.9
    examination_eta: float = 0.8      # examination(position) = position ** -eta
    launch_floor: float = 0.25        # appeal multiplier on launch day, rising to 1 over the growth phase
    lifecycle_floor: float = 0.03     # a declining item never falls below this multiplier
    launch_days: int = 7              # the first days of an item's life count as its "launch" stage


@dataclass
class ItemTruth:
    """Per-item hidden parameters; row ``j`` belongs to ``ids[j]``."""

    ids: np.ndarray                 # str
    category: np.ndarray            # int, index into Truth.categories
    brand: np.ndarray               # int, index into Truth.brands
    style: np.ndarray               # int, index into vocab.STYLES
    price: np.ndarray               # float, the listed price
    relative_price: np.ndarray      # log(price / category median price)
    quality: np.ndarray             # standard normal; drives conversion, ratings and returns
    popularity: np.ndarray          # standard normal; broad appeal and how often the shop shows it
    factors: np.ndarray             # (n_items, k) latent taste factors
    launch_day: np.ndarray          # int, days after the period start (negative: launched before)
    growth_days: np.ndarray         # days from launch to full appeal
    maturity_days: np.ndarray       # days at full appeal before the decline starts
    decline_days: np.ndarray        # e-folding time of the decline


@dataclass
class UserTruth:
    """Per-user hidden parameters; row ``u`` belongs to ``ids[u]``."""

    ids: np.ndarray                 # str
    country: np.ndarray             # int, index into COUNTRIES
    segment: np.ndarray             # int, index into SEGMENTS
    price_sensitivity: np.ndarray   # > 0; multiplies the item's relative log price
    activity: np.ndarray            # expected sessions per day while signed up
    signup_day: np.ndarray          # int, days after the period start (negative: before)
    factors: np.ndarray             # (n_users, k)
    category_pref: np.ndarray       # (n_users, n_categories), rows sum to 1
    fav_brands: np.ndarray          # (n_users, 2) brand indices
    fav_brand_affinity: np.ndarray  # (n_users, 2) utility bonus for those brands


@dataclass
class Truth:
    """Everything the generator knew. Build a :class:`~.world.SyntheticWorld` from it to sample."""

    seed: int
    start: date
    days: int
    coef: Coefficients
    categories: list[str]           # full paths, "Kitchen > Cookware"
    category_department: np.ndarray  # int per category
    category_median_price: np.ndarray
    brands: list[str]
    brand_tier: np.ndarray          # int per brand, index into vocab.BRAND_TIERS
    items: ItemTruth
    users: UserTruth
    examination: np.ndarray         # examination probability of positions 1..len
    displays: pa.Table | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items.ids)

    @property
    def n_users(self) -> int:
        return len(self.users.ids)

    @property
    def k(self) -> int:
        return int(self.items.factors.shape[1])


# ---- tables ------------------------------------------------------------------------------------

def _wide(prefix: str, matrix: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{prefix}_{j}": matrix[:, j] for j in range(matrix.shape[1])}


def truth_tables(truth: Truth) -> dict[str, pa.Table]:
    """The truth as Arrow tables (``items``, ``users``, ``position_bias``, ``displays``, ``params``).

    The same tables are written to ``_truth/*.parquet`` and, by ``shelfwise demo``, into the store as
    ``synth_<name>``.
    """
    it, us = truth.items, truth.users
    cats = np.asarray(truth.categories, dtype=object)
    brands = np.asarray(truth.brands, dtype=object)
    items = pa.table({
        "item_id": pa.array(it.ids.astype(object), pa.string()),
        "category": pa.array(cats[it.category], pa.string()),
        "category_idx": pa.array(it.category, pa.int32()),
        "brand": pa.array(brands[it.brand], pa.string()),
        "brand_idx": pa.array(it.brand, pa.int32()),
        "style_idx": pa.array(it.style, pa.int32()),
        "price": pa.array(it.price, pa.float64()),
        "relative_price": pa.array(it.relative_price, pa.float32()),
        "quality": pa.array(it.quality, pa.float32()),
        "popularity": pa.array(it.popularity, pa.float32()),
        "launch_day": pa.array(it.launch_day, pa.int32()),
        "growth_days": pa.array(it.growth_days, pa.float32()),
        "maturity_days": pa.array(it.maturity_days, pa.float32()),
        "decline_days": pa.array(it.decline_days, pa.float32()),
        **{k: pa.array(v, pa.float32()) for k, v in _wide("factor", it.factors).items()},
    })
    users = pa.table({
        "user_id": pa.array(us.ids.astype(object), pa.string()),
        "country": pa.array(np.asarray(COUNTRIES, dtype=object)[us.country], pa.string()),
        "segment": pa.array(np.asarray(SEGMENTS, dtype=object)[us.segment], pa.string()),
        "price_sensitivity": pa.array(us.price_sensitivity, pa.float32()),
        "activity": pa.array(us.activity, pa.float32()),
        "signup_day": pa.array(us.signup_day, pa.int32()),
        **{k: pa.array(v, pa.int32()) for k, v in _wide("fav_brand", us.fav_brands).items()},
        **{k: pa.array(v, pa.float32()) for k, v in _wide("fav_brand_affinity", us.fav_brand_affinity).items()},
        **{k: pa.array(v, pa.float32()) for k, v in _wide("factor", us.factors).items()},
        **{k: pa.array(v, pa.float32()) for k, v in _wide("category_pref", us.category_pref).items()},
    })
    bias = pa.table({"position": pa.array(np.arange(1, len(truth.examination) + 1), pa.int32()),
                     "examination": pa.array(truth.examination, pa.float64())})
    params = pa.table({"name": pa.array(["truth"], pa.string()),
                       "value": pa.array([json.dumps(_params(truth))], pa.string())})
    out = {"items": items, "users": users, "position_bias": bias, "params": params}
    if truth.displays is not None:
        out["displays"] = truth.displays
    return out


def _params(truth: Truth) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION, "seed": truth.seed, "start": truth.start.isoformat(),
        "days": truth.days, "n_items": truth.n_items, "n_users": truth.n_users, "k": truth.k,
        "coefficients": asdict(truth.coef), "categories": truth.categories,
        "category_department": truth.category_department.tolist(),
        "category_median_price": truth.category_median_price.tolist(),
        "brands": truth.brands, "brand_tier": truth.brand_tier.tolist(),
        "segments": list(SEGMENTS), "countries": list(COUNTRIES), "surfaces": list(SURFACES),
        "policies": list(POLICIES), "extra": truth.extra,
    }


def save_truth(truth: Truth, out_dir: str | Path) -> Path:
    """Write ``truth`` to ``out_dir/_truth/`` (Parquet + JSON); returns that folder."""
    d = Path(out_dir) / TRUTH_DIR
    d.mkdir(parents=True, exist_ok=True)
    tables = truth_tables(truth)
    for name, table in tables.items():
        if name != "params":
            pq.write_table(table, d / f"{name}.parquet")
    (d / "truth.json").write_text(json.dumps(_params(truth), indent=1))
    return d


def _matrix(table: pa.Table, prefix: str, n: int, dtype: type) -> np.ndarray:
    cols = [table.column(f"{prefix}_{j}").to_numpy() for j in range(n)]
    return np.stack(cols, axis=1).astype(dtype) if cols else np.zeros((table.num_rows, 0), dtype)


def load_truth(path: str | Path) -> Truth:
    """Read the truth written by :func:`save_truth`; ``path`` is the shop folder or its ``_truth``."""
    d = Path(path)
    if (d / TRUTH_DIR / "truth.json").exists():
        d = d / TRUTH_DIR
    meta_path = d / "truth.json"
    if not meta_path.exists():
        raise InputError(f"no synthetic ground truth in {path} (expected {TRUTH_DIR}/truth.json); "
                         "generate a shop with: shelfwise datasets synth OUT_DIR")
    p = json.loads(meta_path.read_text())
    if p.get("format_version") != FORMAT_VERSION:
        raise InputError(f"the ground truth in {d} has format version {p.get('format_version')}, this "
                         f"shelfwise reads version {FORMAT_VERSION}; generate the shop again", file=str(meta_path))
    try:
        it = pq.read_table(d / "items.parquet")
        us = pq.read_table(d / "users.parquet")
        bias = pq.read_table(d / "position_bias.parquet")
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"the ground truth in {d} is incomplete or unreadable ({exc}); generate the shop "
                         "again") from exc
    displays = pq.read_table(d / "displays.parquet") if (d / "displays.parquet").exists() else None
    k, n_cat = int(p["k"]), len(p["categories"])
    col = lambda t, name: t.column(name).to_numpy()  # noqa: E731
    items = ItemTruth(
        ids=np.asarray(it.column("item_id").to_pylist(), dtype=object),
        category=col(it, "category_idx").astype(np.int32), brand=col(it, "brand_idx").astype(np.int32),
        style=col(it, "style_idx").astype(np.int32), price=col(it, "price").astype(np.float64),
        relative_price=col(it, "relative_price"), quality=col(it, "quality"), popularity=col(it, "popularity"),
        factors=_matrix(it, "factor", k, np.float32), launch_day=col(it, "launch_day").astype(np.int32),
        growth_days=col(it, "growth_days"), maturity_days=col(it, "maturity_days"),
        decline_days=col(it, "decline_days"))
    index = {name: i for i, name in enumerate(SEGMENTS)}
    cindex = {name: i for i, name in enumerate(COUNTRIES)}
    users = UserTruth(
        ids=np.asarray(us.column("user_id").to_pylist(), dtype=object),
        country=np.asarray([cindex[c] for c in us.column("country").to_pylist()], np.int32),
        segment=np.asarray([index[s] for s in us.column("segment").to_pylist()], np.int32),
        price_sensitivity=col(us, "price_sensitivity"), activity=col(us, "activity"),
        signup_day=col(us, "signup_day").astype(np.int32), factors=_matrix(us, "factor", k, np.float32),
        category_pref=_matrix(us, "category_pref", n_cat, np.float32),
        fav_brands=_matrix(us, "fav_brand", 2, np.int32),
        fav_brand_affinity=_matrix(us, "fav_brand_affinity", 2, np.float32))
    known = {f.name for f in fields(Coefficients)}
    coef = Coefficients(**{k_: v for k_, v in p["coefficients"].items() if k_ in known})
    return Truth(seed=int(p["seed"]), start=date.fromisoformat(p["start"]), days=int(p["days"]), coef=coef,
                 categories=list(p["categories"]),
                 category_department=np.asarray(p["category_department"], np.int32),
                 category_median_price=np.asarray(p["category_median_price"], np.float64),
                 brands=list(p["brands"]), brand_tier=np.asarray(p["brand_tier"], np.int32),
                 items=items, users=users, examination=bias.column("examination").to_numpy().astype(np.float64),
                 displays=displays, extra=dict(p.get("extra", {})))
