"""``shelfwise simulate``: two exposure policies served to the demo shop's synthetic users, compared.

A policy is named on the command line as a preset, optionally followed by settings:
``explore``, ``explore:exploration_weight=0.2``, ``none``, ``exploration_weight=0.1,long_tail_weight=0.3``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from ..config import get_settings
from ..data.store import open_store
from ..errors import InputError
from ..policy import PolicyParams
from ..simulate import SimConfig, Simulator
from ..simulate.compare import Comparison, compare_results
from .checks import check_seed

#: named policies; settings after a colon override them
PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    "explore": {"exploration_weight": 0.05, "item_age_cutoff_days": 14},
    "explore-bottom": {"exploration_weight": 0.1, "item_age_cutoff_days": 14, "exploration_placement": "bottom"},
    "longtail": {"long_tail_weight": 0.5},
    "diverse": {"mmr_relevance": 0.7, "category_cap": 3},
}
_FLOATS = {"exploration_weight", "item_age_cutoff_days", "long_tail_weight", "tail_share_target", "head_share",
           "mmr_relevance", "prior_strength"}
_INTS = {"category_cap", "seed"}
_BOOLS = {"personal_tail", "exclude_out_of_stock"}
_WORDS = {"exploration_placement"}
#: the settings a policy spec may give (lists and maps, e.g. pins or attribute filters, are Python / API only)
SETTINGS = _FLOATS | _INTS | _BOOLS | _WORDS
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_policy(spec: str) -> tuple[str, PolicyParams]:
    """``preset[:key=value,...]`` or ``key=value,...`` -> (a display name, the parameters)."""
    spec = spec.strip()
    name, _, rest = spec.partition(":") if ":" in spec or "=" not in spec else ("", "", spec)
    if name and name not in PRESETS:
        raise InputError(f"unknown policy '{name}': choose from {', '.join(PRESETS)} or give key=value settings",
                         field="policy")
    params: dict[str, Any] = dict(PRESETS.get(name, {}))
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in SETTINGS:
            raise InputError(f"bad policy setting '{part}' in '{spec}': expected key=value with key one of "
                             f"{', '.join(sorted(SETTINGS))}", field="policy")
        value = value.strip()
        if key in _BOOLS:
            if value.lower() not in _TRUE | _FALSE:
                raise InputError(f"policy setting {key} needs true or false, got '{value}'", field="policy")
            params[key] = value.lower() in _TRUE
            continue
        try:
            params[key] = float(value) if key in _FLOATS else int(value) if key in _INTS else value
        except ValueError as exc:
            kind = "a whole number" if key in _INTS else "a number"
            raise InputError(f"policy setting {key} needs {kind}, got '{value}'", field="policy") from exc
        if key in _FLOATS and params[key] != params[key]:
            raise InputError(f"policy setting {key} needs a number, got '{value}'", field="policy")
    try:
        return (spec or "none"), PolicyParams(**params)
    except InputError as exc:  # a value out of range: name the spec it came from (and so --policy / --vs)
        raise InputError(f"{exc} in policy '{spec}'", field="policy") from exc


def default_shop() -> Path:
    return Path(get_settings().out_dir) / "demo" / "shop"


def simulate(policy: str, vs: str, days: int = 14, shop_dir: str | Path | None = None, k: int = 10,
             max_sessions: int = 2000, seed: int = 0, db: str | None = None) -> Comparison:
    """Simulate ``vs`` (A, the reference) and ``policy`` (B) for ``days`` and compare B against A.

    With ``db`` the logged events of both runs go to the table ``simulated_events`` (replaced).
    """
    name_b, b = parse_policy(policy)  # the settings first: a bad spec fails before any file is read
    try:
        name_a, a = parse_policy(vs)
    except InputError as exc:
        raise InputError(exc.detail.replace("--policy", "--vs"), field="vs") from exc
    shop = Path(shop_dir) if shop_dir is not None else default_shop()
    if not (shop / "_truth").is_dir():
        raise InputError(f"{shop} is not a synthetic shop folder (no _truth/); run `shelfwise demo` or "
                         "`shelfwise datasets synth DIR` and pass --shop DIR", field="shop")
    if days < 1:
        raise InputError(f"--days must be at least 1 (got {days})", field="days")
    check_seed(seed)
    if k > SimConfig.candidates:  # the base recommender proposes this many items per visitor: no slot beyond
        raise InputError(f"-k can be at most {SimConfig.candidates} (the simulator's candidate list per visitor), "
                         f"not {k}", field="k")
    sim = Simulator(shop, SimConfig(days=days, k=k, max_sessions=max_sessions, seed=seed))
    store = open_store(db) if db is not None else None  # a --db that cannot be opened fails before the work
    try:
        ra = sim.run(a, name_a, keep_log=store is not None)
        rb = sim.run(b, name_b, keep_log=store is not None)
        result = compare_results(ra, rb, seed=seed)
        if store is not None:
            import pandas as pd

            logged = pd.concat([ra.log, rb.log], ignore_index=True)
            logged["item_id"] = logged["item_id"].astype(str)
            logged["user_id"] = logged["user_id"].astype(str)
            store.write("simulated_events", pa.Table.from_pandas(logged, preserve_index=False), mode="replace")
    finally:
        if store is not None:
            store.close()
    return result
