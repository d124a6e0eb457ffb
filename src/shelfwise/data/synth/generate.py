"""Generate a seeded synthetic shop and write it as a shop folder with its ground truth beside it.

``OUT_DIR`` receives ``items.csv``, ``users.csv``, ``events.parquet`` and ``reviews.csv`` (SHOP_FORMAT.md)
and ``_truth/`` (see :mod:`.truth`). Files are staged in a hidden folder and moved into place only when
everything was generated, so a failure leaves ``OUT_DIR`` as it was. The same seed and sizes give the
same shop, byte for byte in the tables.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ...errors import InputError
from ...logs import get_logger
from .catalog import build_items, build_taxonomy, items_table
from .population import build_users, users_table
from .reviews import reviews_table
from .traffic import displays_table, events_table, simulate, start_epoch
from .truth import TRUTH_DIR, Coefficients, Truth, save_truth
from .world import SyntheticWorld

log = get_logger(__name__)

SHOP_FILES = ("items.csv", "users.csv", "events.parquet", "reviews.csv")


@dataclass(frozen=True)
class SynthConfig:
    """Sizes and knobs of a synthetic shop. Defaults are the demo's."""

    items: int = 2000
    users: int = 5000
    days: int = 60
    seed: int = 42
    start: date = date(2025, 1, 6)        # a Monday
    factors: int = 8                      # latent taste dimensions
    new_item_share: float = 0.25          # items launched during the period
    new_user_share: float = 0.2           # users who sign up during the period
    sessions_per_user_day: float = 0.08   # mean visits per signed-up user per day
    anonymous_share: float = 0.05         # sessions logged without a user id (guests)
    random_share: float = 0.05            # lists shuffled uniformly at random (exploration traffic)
    review_rate: float = 0.12             # share of kept purchases that get a review

    def check(self) -> None:
        """Refuse sizes and shares that cannot make a shop, naming the option to change."""
        for name, low in (("items", 10), ("users", 1), ("days", 1), ("factors", 1)):
            if getattr(self, name) < low:
                raise InputError(f"--{name} must be at least {low}, got {getattr(self, name)}", field=name)
        for name in ("new_item_share", "new_user_share", "anonymous_share", "random_share", "review_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {v}", field=name)
        if self.sessions_per_user_day <= 0:
            raise InputError("sessions_per_user_day must be positive", field="sessions_per_user_day")


@dataclass
class SynthShop:
    """A generated shop in memory: the four shop tables and the truth."""

    tables: dict[str, pa.Table]
    truth: Truth
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}


@dataclass
class SynthResult:
    """What :func:`write_shop` wrote: where, how many rows per table and events per type, how long."""

    out_dir: str
    files: dict[str, str]
    rows: dict[str, int]
    events_by_type: dict[str, int]
    config: dict[str, Any]
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate(config: SynthConfig) -> SynthShop:
    """Build the whole shop in memory (catalogue, customers, traffic, reviews) from ``config``."""
    config.check()
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    rng_cat, rng_users, rng_text, rng_reviews, _ = (np.random.default_rng(s) for s in seeds)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    tax = build_taxonomy(config.items, rng_cat)
    items = build_items(config.items, config.days, config.factors, config.new_item_share, tax, rng_cat)
    users = build_users(config.users, config.days, config.factors, config.sessions_per_user_day,
                        config.new_user_share, tax, rng_users)
    coef = Coefficients()
    examination = np.arange(1, 51, dtype=np.float64) ** -coef.examination_eta
    truth = Truth(seed=config.seed, start=config.start, days=config.days, coef=coef, categories=tax.categories,
                  category_department=tax.category_department, category_median_price=tax.category_median_price,
                  brands=tax.brands, brand_tier=tax.brand_tier, items=items, users=users,
                  examination=examination, extra={"config": _config_dict(config)})
    item_rows, nouns = items_table(items, tax, config.start, rng_text)
    user_rows = users_table(users, config.start)
    seconds["catalogue_and_users"] = time.perf_counter() - t

    t = time.perf_counter()
    world = SyntheticWorld(truth)
    traffic = simulate(truth, world, config.anonymous_share, config.random_share)
    seconds["traffic"] = time.perf_counter() - t

    t = time.perf_counter()
    events = events_table(traffic, truth)
    truth.displays = displays_table(traffic, truth)
    end = start_epoch(config.start) + config.days * 86400
    reviews = reviews_table(traffic.purchases, truth, world, nouns, config.review_rate, end, rng_reviews)
    seconds["tables"] = time.perf_counter() - t
    log.info("generated %d items, %d users, %d events, %d reviews", item_rows.num_rows, user_rows.num_rows,
             events.num_rows, reviews.num_rows)
    return SynthShop({"items": item_rows, "users": user_rows, "events": events, "reviews": reviews}, truth, seconds)


def _config_dict(config: SynthConfig) -> dict[str, Any]:
    d = asdict(config)
    d["start"] = config.start.isoformat()
    return d


def _prepare(out_dir: Path) -> None:
    """Make sure writing here destroys nothing that is not an earlier synthetic shop."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file; give a folder for the synthetic shop")
    if out_dir.is_dir():
        foreign = [p.name for p in out_dir.iterdir()
                   if not p.name.startswith(".") and p.name not in SHOP_FILES and p.name != TRUTH_DIR]
        if foreign and not (out_dir / TRUTH_DIR).exists():
            raise InputError(f"{out_dir} is not empty ({', '.join(sorted(foreign)[:5])}); give an empty or new "
                             "folder, or one that holds an earlier synthetic shop")
        if foreign:
            raise InputError(f"{out_dir} holds files a synthetic shop does not write ({', '.join(sorted(foreign)[:5])}); "
                             "move them away or choose another folder")


def write_shop(out_dir: str | Path, config: SynthConfig) -> SynthResult:
    """Generate a shop and write it to ``out_dir`` (replacing an earlier synthetic shop there)."""
    out = Path(out_dir)
    _prepare(out)
    shop = generate(config)
    t = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for name, table in shop.tables.items():
            if name == "events":
                pq.write_table(table, staging / "events.parquet", compression="zstd")
            else:
                pacsv.write_csv(table, staging / f"{name}.csv")
        save_truth(shop.truth, staging)
        for name in SHOP_FILES:
            (staging / name).replace(out / name)
        if (out / TRUTH_DIR).exists():
            shutil.rmtree(out / TRUTH_DIR)
        (staging / TRUTH_DIR).replace(out / TRUTH_DIR)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = dict(shop.seconds)
    seconds["write"] = time.perf_counter() - t
    counts = pc.value_counts(shop.tables["events"].column("event")).to_pylist()
    by_type = {c["values"]: c["counts"] for c in counts}
    files = {name.split(".")[0]: str(out / name) for name in SHOP_FILES}
    files["truth"] = str(out / TRUTH_DIR)
    log.info("wrote the synthetic shop to %s in %.1fs", out, sum(seconds.values()))
    return SynthResult(str(out), files, shop.counts(), by_type, _config_dict(config), seconds)
