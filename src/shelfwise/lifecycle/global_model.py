"""One LightGBM model across all items: direct multi-horizon point forecasts in units of each item's MASE.

The per-item statsforecast models see one series at a time; a lumpy item's 40 weeks say little about
how such items behave. A global model (the approach that won M5) learns from every item and every past
forecast origin at once: one training row per (item, origin week t, horizon h), with features from the
item's own weeks before t only (lags, window means / medians / maxima, share of zero weeks, weeks since
the last sale, age, the shop's recent trend, the weeks the data starts with) and the horizon h.

Why the target is scaled: dividing an item's future week by its MASE scale (mean absolute week-to-week
change before t), and every feature in units by the same scale, puts a 2-unit-a-week item and a
500-unit one on one footing, and an L1 objective on that target minimises exactly the sum of per-item
MASE, the score the forecasts are judged by. The prediction is a median (L1), so it is the point
forecast; the mean paths for inventory stay those of the per-item models.

Why only recent origins, weighted: demand drifts with the season (Online Retail ramps up from September
towards Christmas), so training rows from the last ``span`` origins are weighted by
exp(-age / ``tau``). ``span``, ``tau`` and the rest were chosen on the last whole window before the
forecast origin (benchmarks/lifecycle.py, docs/LIFECYCLE.md), never on the weeks being forecast.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..logs import get_logger

log = get_logger(__name__)

LAGS = 8
WINDOWS: tuple[int, ...] = (4, 8, 13, 26)
FIRST_WEEKS = 4


@dataclass(frozen=True)
class GlobalConfig:
    """Training settings of the global model (defaults: chosen on the inner validation window)."""

    min_history: int = 8      # periods an item needs at an origin to be a row (as ForecastConfig.min_history)
    span: int = 10            # the most recent origins trained on, per horizon
    tau: float = 2.0          # weight of an origin k periods older than the newest: exp(-k / tau)
    rounds: int = 150         # with 0.1: as good as 300 at 0.05 on the validation window, half the time
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    seed: int = 7
    num_threads: int = 1
    min_rows: int = 1000      # fewer training rows than this: no model (too little to learn from)


def panel_matrix(series: Sequence[np.ndarray]) -> np.ndarray:
    """Histories aligned at their end (they all end the period before the forecast origin), NaN before
    each item's first period."""
    width = max((len(y) for y in series), default=0)
    out = np.full((len(series), width), np.nan)
    for i, y in enumerate(series):
        if len(y):
            out[i, width - len(y):] = y
    return out


def mase_scale(W: np.ndarray) -> np.ndarray:
    """Per row, the mean absolute one-period change over its observed (non-NaN) periods; NaN if none."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.abs(np.diff(W, axis=1)), axis=1)


def features(Y: np.ndarray, t: int, shop: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Features of every row of ``Y`` at origin ``t`` (periods ``:t`` known), the MASE scale and the
    number of observed periods. Unit-valued features are divided by the scale."""
    W = Y[:, :t]
    n = len(Y)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        observed = ~np.isnan(W)
        nh = observed.sum(axis=1)
        scale = mase_scale(W)
        s = np.where(scale > 0, scale, np.nan)
        f: dict[str, np.ndarray] = {}
        for k in range(1, LAGS + 1):
            f[f"lag{k}"] = W[:, t - k] / s if t >= k else np.full(n, np.nan)
        for k in WINDOWS:
            w = W[:, max(t - k, 0):]
            f[f"mean{k}"] = np.nanmean(w, axis=1) / s
            f[f"median{k}"] = np.nanmedian(w, axis=1) / s
            f[f"max{k}"] = np.nanmax(w, axis=1) / s
        f["mean_all"] = np.nanmean(W, axis=1) / s
        f["zero_share8"] = np.nanmean(np.where(observed[:, -8:], W[:, -8:] == 0, np.nan), axis=1)
        f["zero_share26"] = np.nanmean(np.where(observed[:, -26:], W[:, -26:] == 0, np.nan), axis=1)
        f["zero_share_all"] = np.nansum(W == 0, axis=1) / np.maximum(nh, 1)
        sold = W > 0
        last = np.where(sold.any(axis=1), t - 1 - np.argmax(sold[:, ::-1], axis=1), -1)
        f["since_sale"] = np.where(last >= 0, t - 1 - last, nh)
        f["age"] = nh.astype(float)
        f["log_scale"] = np.log1p(scale)
        recent = shop[max(t - 4, 0):t].sum()
        f["shop_4v4"] = np.full(n, recent / shop[max(t - 8, 0):max(t - 4, 0)].sum()
                                if shop[max(t - 8, 0):max(t - 4, 0)].sum() > 0 else np.nan)
        f["shop_4v13"] = np.full(n, shop[max(t - 4, 0):t].mean() / shop[max(t - 13, 0):t].mean()
                                 if shop[max(t - 13, 0):t].sum() > 0 else np.nan)
        f["shop_level"] = np.full(n, shop[max(t - 4, 0):t].mean() / shop[:t].mean() if shop[:t].sum() > 0 else np.nan)
        f["item_4v4"] = np.nansum(W[:, -4:], axis=1) / (np.nansum(W[:, -8:-4], axis=1) + 1)
        f["item_4v13"] = np.nanmean(W[:, -4:], axis=1) / (np.nanmean(W[:, -13:], axis=1) + 0.1)
        # the weeks the data starts with (for Online Retail: December) are the only memory of that season
        first = np.nanmean(W[:, :FIRST_WEEKS], axis=1)
        f["first_weeks"] = first / s
        f["first_vs_rest"] = first / (np.nanmean(W[:, FIRST_WEEKS:], axis=1) + 0.1)
        f["first_vs_recent"] = first / (np.nanmean(W[:, -4:], axis=1) + 0.1)
    return np.column_stack(list(f.values())), list(f), scale, nh


def _rows(Y: np.ndarray, shop: np.ndarray, origins: Sequence[int], h: int, cfg: GlobalConfig,
          cache: dict[int, tuple[np.ndarray, list[str], np.ndarray, np.ndarray]]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows for horizon ``h``: features, scaled target, origin of each row."""
    xs, ys, ts = [], [], []
    for t in origins:
        if t not in cache:
            cache[t] = features(Y, t, shop)
        X, _, scale, nh = cache[t]
        target = Y[:, t + h - 1] / np.where(scale > 0, scale, np.nan)
        ok = (nh >= cfg.min_history) & (scale > 0) & ~np.isnan(target)
        xs.append(np.column_stack([X[ok], np.full(ok.sum(), h)]))
        ys.append(target[ok])
        ts.append(np.full(ok.sum(), t))
    if not xs:
        return np.zeros((0, 0)), np.zeros(0), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ts)


def global_forecast(series: Sequence[np.ndarray], horizon: int, cfg: GlobalConfig | None = None) -> np.ndarray:
    """Point forecasts (n, horizon) for ``series`` (histories ending at the forecast origin, clipped at
    0); NaN rows for items the model does not cover (shorter than ``min_history`` or never changing),
    and all NaN when there are too few training rows to fit a model."""
    import lightgbm as lgb

    cfg = cfg or GlobalConfig()
    n = len(series)
    out = np.full((n, horizon), np.nan)
    Y = panel_matrix(series)
    end = Y.shape[1]
    if n == 0 or end <= cfg.min_history:
        return out
    shop = np.nansum(Y, axis=0)
    cache: dict[int, tuple[np.ndarray, list[str], np.ndarray, np.ndarray]] = {}
    xs, ys, ws = [], [], []
    for h in range(1, horizon + 1):
        newest = end - h  # the target period t + h - 1 must be before the forecast origin
        origins = range(newest, max(cfg.min_history - 1, newest - cfg.span), -1)
        X, y, ts = _rows(Y, shop, origins, h, cfg, cache)
        if len(y):
            xs.append(X)
            ys.append(y)
            ws.append(np.exp(-(newest - ts) / cfg.tau))
    rows = sum(len(y) for y in ys)
    if rows < cfg.min_rows:
        log.info("global model skipped: %d training rows (need %d)", rows, cfg.min_rows)
        return out
    params = {"objective": "l1", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
              "min_data_in_leaf": cfg.min_data_in_leaf, "feature_fraction": cfg.feature_fraction,
              "bagging_fraction": cfg.bagging_fraction, "bagging_freq": 1, "lambda_l2": cfg.lambda_l2,
              "seed": cfg.seed, "num_threads": cfg.num_threads, "verbose": -1}
    model = lgb.train(params, lgb.Dataset(np.vstack(xs), np.concatenate(ys), weight=np.concatenate(ws)),
                      cfg.rounds)
    X, _, scale, nh = features(Y, end, shop)
    ok = (nh >= cfg.min_history) & (scale > 0)
    for h in range(1, horizon + 1):
        if ok.any():
            pred = model.predict(np.column_stack([X[ok], np.full(ok.sum(), h)]))
            out[ok, h - 1] = np.clip(pred * scale[ok], 0, None)
    log.info("global model: %d training rows, %d items forecast", rows, int(ok.sum()))
    return out
