"""The demo shop's catalogue: categories, brands, items with text, prices, launches and hidden traits.

Everything a later capability might learn is wired to something observable: titles share nouns within
a category and style words within a style (and styles move items in latent taste space), premium
brands cost more and are a little better, new items keep arriving until the last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa

from .truth import ItemTruth
from .vocab import BRAND_TIERS, COLOURS, DEPARTMENTS, STYLES, brand_names

# how far back the launches of the items already on sale at the start reach
_OLD_LAUNCH_DAYS = 365
_EVERGREEN_SHARE = 0.3
_EVERGREEN_MATURITY = 5000.0


@dataclass
class Taxonomy:
    """Categories and brands, with the department of each."""

    categories: list[str]
    category_department: np.ndarray
    category_nouns: list[tuple[str, ...]]
    category_median_price: np.ndarray
    category_weight: np.ndarray     # share of the catalogue
    brands: list[str]
    brand_department: np.ndarray
    brand_tier: np.ndarray


def build_taxonomy(n_items: int, rng: np.random.Generator) -> Taxonomy:
    """All leaf categories of :data:`DEPARTMENTS`, and enough brands for ``n_items`` (3 to 50 per department)."""
    cats, dept, nouns, median = [], [], [], []
    for d_idx, d in enumerate(DEPARTMENTS):
        for sub, sub_nouns in d.subcategories.items():
            cats.append(f"{d.name} > {sub}")
            dept.append(d_idx)
            nouns.append(sub_nouns)
            median.append(d.median_price)
    median_arr = np.round(np.asarray(median) * rng.lognormal(0.0, 0.35, len(cats)), 2)
    weight = rng.lognormal(0.0, 0.4, len(cats))
    per_dept = int(np.clip(n_items // (25 * len(DEPARTMENTS)), 3, 50))
    names = brand_names(per_dept * len(DEPARTMENTS))
    brand_dept = np.repeat(np.arange(len(DEPARTMENTS)), per_dept)
    tier = rng.choice(len(BRAND_TIERS), size=len(names), p=[0.35, 0.45, 0.2])
    return Taxonomy(cats, np.asarray(dept, np.int32), nouns, median_arr, weight / weight.sum(), names,
                    brand_dept.astype(np.int32), tier.astype(np.int32))


def build_items(n_items: int, days: int, k: int, new_share: float, tax: Taxonomy,
                rng: np.random.Generator) -> ItemTruth:
    """Hidden per-item traits; ids are ``i`` + a zero-padded number, in no particular category order."""
    n_cat = len(tax.categories)
    category = rng.choice(n_cat, size=n_items, p=tax.category_weight).astype(np.int32)
    dept = tax.category_department[category]
    # brands of the item's department, a few big ones and a long tail (Zipf weights)
    per_dept = np.bincount(tax.brand_department, minlength=len(DEPARTMENTS))
    first = np.concatenate([[0], np.cumsum(per_dept)[:-1]])
    size = int(per_dept.max())
    zipf = 1.0 / np.arange(1, size + 1)
    rank = np.minimum(rng.choice(size, n_items, p=zipf / zipf.sum()), per_dept[dept] - 1)
    brand = (first[dept] + rank).astype(np.int32)  # rank 0 is the department's biggest brand
    tier = tax.brand_tier[brand]
    style = rng.choice(len(STYLES), size=n_items).astype(np.int32)
    luxury = np.asarray([name == "Luxury" for name, _ in STYLES])[style]
    quality = (rng.normal(0.0, 1.0, n_items) + 0.3 * (tier - 1)).astype(np.float32)
    log_price = (np.log(tax.category_median_price[category]) + 0.35 * (tier - 1) + 0.25 * luxury
                 + 0.15 * quality + rng.normal(0.0, 0.4, n_items))
    price = np.maximum(np.floor(np.exp(log_price)) + 0.99, 0.99)
    relative = np.log(price / tax.category_median_price[category]).astype(np.float32)
    popularity = rng.normal(0.0, 1.0, n_items).astype(np.float32)
    cat_vec = rng.normal(0.0, 0.5, (n_cat, k))
    style_vec = rng.normal(0.0, 0.5, (len(STYLES), k))
    factors = (cat_vec[category] + style_vec[style] + rng.normal(0.0, 0.35, (n_items, k))).astype(np.float32)
    is_new = rng.random(n_items) < new_share
    launch = np.where(is_new, rng.integers(0, max(days, 1), n_items),
                      -rng.integers(1, _OLD_LAUNCH_DAYS + 1, n_items)).astype(np.int32)
    growth = rng.uniform(7.0, 40.0, n_items).astype(np.float32)
    evergreen = rng.random(n_items) < _EVERGREEN_SHARE
    maturity = np.where(evergreen, _EVERGREEN_MATURITY, rng.lognormal(np.log(120.0), 0.6, n_items)).astype(np.float32)
    decline = rng.lognormal(np.log(60.0), 0.5, n_items).astype(np.float32)
    width = len(str(n_items - 1))
    ids = np.asarray([f"i{j:0{width}d}" for j in range(n_items)], dtype=object)
    return ItemTruth(ids=ids, category=category, brand=brand, style=style, price=price, relative_price=relative,
                     quality=quality, popularity=popularity, factors=factors, launch_day=launch,
                     growth_days=growth, maturity_days=maturity, decline_days=decline)


def items_table(items: ItemTruth, tax: Taxonomy, start: date,
                rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """The shop's ``items`` table (titles and descriptions composed from the category's vocabulary),
    and each item's product noun (reviews mention it)."""
    n = len(items.ids)
    material_pick = rng.integers(0, 1 << 30, n)
    noun_pick = rng.integers(0, 1 << 30, n)
    variant_pick = rng.integers(0, 1 << 30, n)
    use_pick = rng.integers(0, 1 << 30, n)
    feat_pick = rng.integers(0, 1 << 30, (n, 2))
    colour = rng.integers(0, len(COLOURS), n)
    hour = rng.integers(6, 22, n)
    titles, descriptions, launched, nouns = [], [], [], []
    t0 = datetime(start.year, start.month, start.day)
    for j in range(n):
        c = int(items.category[j])
        d = DEPARTMENTS[int(tax.category_department[c])]
        noun = tax.category_nouns[c][noun_pick[j] % len(tax.category_nouns[c])]
        nouns.append(noun)
        material = d.materials[material_pick[j] % len(d.materials)]
        style, style_sentence = STYLES[int(items.style[j])]
        variant = d.variants[variant_pick[j] % len(d.variants)]
        titles.append(f"{tax.brands[int(items.brand[j])]} {style} {material} {noun}, {variant}")
        f1 = d.features[feat_pick[j, 0] % len(d.features)]
        f2 = d.features[(feat_pick[j, 0] + 1 + feat_pick[j, 1] % (len(d.features) - 1)) % len(d.features)]
        descriptions.append(f"{style_sentence} This {material.lower()} {noun.lower()} is ideal for "
                            f"{d.uses[use_pick[j] % len(d.uses)]}. {f1} {f2}")
        launched.append((t0 + timedelta(days=int(items.launch_day[j]), hours=int(hour[j]))).isoformat())
    cats = np.asarray(tax.categories, dtype=object)
    brands = np.asarray(tax.brands, dtype=object)
    table = pa.table({
        "item_id": pa.array(items.ids, pa.string()),
        "title": pa.array(titles, pa.string()),
        "description": pa.array(descriptions, pa.string()),
        "category": pa.array(cats[items.category], pa.string()),
        "brand": pa.array(brands[items.brand], pa.string()),
        "price": pa.array(np.round(items.price, 2), pa.float64()),
        "launched_at": pa.array(launched, pa.string()),
        "colour": pa.array(np.asarray(COLOURS, dtype=object)[colour], pa.string()),
    })
    return table, np.asarray(nouns, dtype=object)
