"""Per-item demand forecasts: statsforecast models chosen per item by backtest, median point forecasts.

Every candidate gives a mean path mu_h (AutoETS, Theta, simple exponential smoothing, the Croston family
for intermittent demand, moving averages). The predictive distribution of period h is taken as mu_h
times the item's recent sales divided by their mean (the shape of its own recent weeks: a lumpy item
keeps its lumps), so that

* the point forecast ``yhat`` is its median: it minimises absolute error, which is what MASE scores,
  and for intermittent items it is honest about the typical week (often zero);
* the interval ``yhat_lo .. yhat_hi`` is its central ``level`` % (never narrower than Poisson noise);
* the mean (``mean``) is kept for inventory, which needs expected units.

One more candidate, ``combined``, averages all the others (forecast combination is hard to beat when
no single model is reliably best). Per item, the candidate with the lowest backtest MASE (rolling
origin: the last ``backtest_windows`` blocks of ``horizon`` periods) wins; each item's backtest error is
shrunk toward the average of its demand class (smooth, erratic, intermittent, lumpy: Syntetos-Boylan),
strongly by default, because two windows of a lumpy series are mostly noise. Items with fewer than
``min_history`` periods get a simple window median (:func:`recent_window`, :func:`lower_median`: the
period of the first sale that brought them into the data left out, the lower middle value of an even
count); items younger than ``new_item_periods`` with enough launched neighbours start from the
launch-plan prior.

Weekly point forecasts of the long series are then blended with a global LightGBM model trained on
all items at once (``global_model.py``, weight ``global_weight``; model label ``global+<chosen>``):
it learns from every item's past what a per-item model cannot see in one short series. Means and
intervals stay the per-item model's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from ..errors import InputError
from ..logs import get_logger
from ..progress import task
from .global_model import global_forecast
from .prior import PriorForecast, prior_for_items
from .series import FREQS, SalesPanel

os.environ.setdefault("NIXTLA_ID_AS_COL", "1")  # statsforecast < 2: keep unique_id a column

log = get_logger(__name__)

#: statsforecast candidates (name -> constructor); the window medians are computed here
SF_MODELS: tuple[str, ...] = ("ets", "theta", "ses", "croston_sba", "adida", "imapa", "tsb")
WINDOWS: tuple[int, ...] = (4, 6, 8)
COMBINED = "combined"
DEMAND_CLASSES: tuple[str, ...] = ("smooth", "erratic", "intermittent", "lumpy", "short")
#: the farthest a forecast may reach (156 weeks or 1,095 days): sales history says nothing beyond it
MAX_HORIZON_DAYS = 3 * 365


@dataclass(frozen=True)
class ForecastConfig:
    """How forecasts are made; defaults are the benchmarked ones (benchmarks/lifecycle.py)."""

    horizon: int = 8
    level: float = 80.0
    backtest_windows: int = 2
    min_history: int = 8
    new_item_periods: int = 8
    shrink: float = 10.0
    ratio_window: int = 6
    interval_window: int = 26
    models: tuple[str, ...] = SF_MODELS
    windows: tuple[int, ...] = WINDOWS
    n_jobs: int = 1
    #: weight of the global LightGBM model's point forecast (global_model.py) against the chosen per-item
    #: model's; 0 turns it off. 0.75 was best on the last whole window before the forecast origin.
    global_weight: float = 0.75

    @classmethod
    def for_freq(cls, freq: str, **overrides: Any) -> "ForecastConfig":
        """Defaults for weekly (``W``) or daily (``D``) series.

        Daily item series are long and mostly zeros: the seasonal AutoETS / Theta fits cost seconds
        each there and buy nothing, so daily forecasts use the cheap intermittent-demand models and
        windows counted in days.
        """
        if freq == "D":
            daily = {"models": ("ses", "croston_sba", "adida", "imapa", "tsb"), "windows": (7, 14, 28),
                     "min_history": 28, "new_item_periods": 56, "ratio_window": 14, "interval_window": 56,
                     "global_weight": 0.0}  # the global model is built and validated on weeks only
            return cls(**{**daily, **overrides})
        return cls(**overrides)

    def check(self) -> None:
        if self.horizon < 1:
            raise InputError(f"--horizon must be at least 1, not {self.horizon}", field="horizon")
        if not 0 < self.level < 100:
            raise InputError(f"the interval level must be between 0 and 100, not {self.level}", field="level")
        if self.level < 1:
            # 0.8 is the --service-level habit (a fraction); an interval of 0.8 % is never what is meant
            raise InputError(f"--level is a percentage (80 = an 80 % interval), not a fraction: {self.level:g} "
                             f"would be a {self.level:g} % interval; did you mean {self.level * 100:g}?",
                             field="level")
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise InputError(f"--jobs must be 1 or more (or -1: every core), not {self.n_jobs}", field="n_jobs")
        if not self.windows or min(self.windows) < 1:
            raise InputError("forecasts need at least one window median (windows of 1 period or more)",
                             field="windows")
        unknown = [m for m in self.models if m not in SF_MODELS]
        if unknown:
            raise InputError(f"unknown forecast model(s) {', '.join(unknown)}: use {', '.join(SF_MODELS)}",
                             field="models")
        if not 0 <= self.global_weight <= 1:
            raise InputError(f"the global model's weight must be between 0 and 1, not {self.global_weight}",
                             field="global_weight")


def check_horizon(horizon: int, freq: str) -> None:
    """Refuse a horizon under one period or beyond :data:`MAX_HORIZON_DAYS` (an error naming --horizon).

    A horizon of a million weeks used to compute for minutes and end in an OverflowError (a date past
    the year 9999); three years is far beyond what a shop's sales can say anything about.
    """
    days = FREQS[freq][1]
    if horizon < 1:
        raise InputError(f"--horizon must be at least 1, not {horizon}", field="horizon")
    if horizon * days > MAX_HORIZON_DAYS:
        unit = FREQS[freq][0]
        raise InputError(f"--horizon {horizon} {unit}s is beyond the {MAX_HORIZON_DAYS // days} {unit}s (three "
                         f"years) a forecast may reach", field="horizon")


def season_length(freq: str) -> int:
    """Weekly data carries no usable season in under two years; daily data has the week."""
    return 7 if freq == "D" else 1


def _sf_models(names: Sequence[str], season: int) -> list[object]:
    from statsforecast.models import (ADIDA, IMAPA, TSB, AutoETS, CrostonSBA,
                                      SimpleExponentialSmoothingOptimized, Theta)

    make = {"ets": lambda: AutoETS(season_length=season, alias="ets"),
            "theta": lambda: Theta(season_length=season, alias="theta"),
            "ses": lambda: SimpleExponentialSmoothingOptimized(alias="ses"),
            "croston_sba": lambda: CrostonSBA(alias="croston_sba"),
            "adida": lambda: ADIDA(alias="adida"), "imapa": lambda: IMAPA(alias="imapa"),
            "tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1, alias="tsb")}
    return [make[n]() for n in names]


def demand_class(y: np.ndarray) -> str:
    """Syntetos-Boylan class from the average demand interval (ADI) and squared CV of non-zero sizes."""
    nz = y[y > 0]
    if len(nz) < 2:
        return "short"
    adi = len(y) / len(nz)
    cv2 = float((nz.std() / nz.mean()) ** 2)
    if adi < 1.32:
        return "smooth" if cv2 < 0.49 else "erratic"
    return "intermittent" if cv2 < 0.49 else "lumpy"


def candidate_names(cfg: ForecastConfig) -> list[str]:
    """The statsforecast models, the window medians and, when there are two or more, their average."""
    names = list(cfg.models) + [f"median{k}" for k in cfg.windows]
    return names + [COMBINED] if len(names) > 1 else names


@dataclass
class Candidates:
    """Mean and point (median) paths of every candidate for a batch of series: name -> (n, h)."""

    names: list[str]
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    point: dict[str, np.ndarray] = field(default_factory=dict)


def _median_ratio(series: Sequence[np.ndarray], k: int) -> np.ndarray:
    out = np.zeros(len(series))
    for j, y in enumerate(series):
        w = y[-k:]
        m = w.mean() if len(w) else 0.0
        out[j] = float(np.median(w)) / m if m > 0 else 0.0
    return out


def candidates(series: Sequence[np.ndarray], horizon: int, cfg: ForecastConfig, season: int) -> Candidates:
    """All candidates' paths for ``series`` (each at least ``cfg.min_history`` long, clipped at 0)."""
    names = candidate_names(cfg)
    out = Candidates(names)
    n = len(series)
    if n == 0:
        for name in names:
            out.mean[name] = out.point[name] = np.zeros((0, horizon))
        return out
    for k in cfg.windows:
        mean = np.array([np.full(horizon, y[-k:].mean()) for y in series])
        point = np.array([np.full(horizon, float(np.median(y[-k:]))) for y in series])
        out.mean[f"median{k}"], out.point[f"median{k}"] = mean, point
    if cfg.models:
        from statsforecast import StatsForecast
        from statsforecast.models import Naive

        ids = np.arange(n)
        df = pd.DataFrame({"unique_id": np.repeat(ids, [len(y) for y in series]),
                           "ds": np.concatenate([np.arange(len(y)) for y in series]),
                           "y": np.concatenate(series)})
        sf = StatsForecast(models=_sf_models(cfg.models, season), freq=1, n_jobs=cfg.n_jobs,
                           fallback_model=Naive())
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # statsforecast warns on series it then handles (zero variance, a flat tail): not news
            warnings.simplefilter("ignore", RuntimeWarning)
            fc = sf.forecast(df=df, h=horizon)
        if "unique_id" not in fc.columns:
            fc = fc.reset_index()
        fc = fc.sort_values(["unique_id", "ds"])
        ratio = _median_ratio(series, cfg.ratio_window)[:, None]
        for name in cfg.models:
            mean = np.clip(np.nan_to_num(fc[name].to_numpy(dtype=float)).reshape(n, horizon), 0, None)
            out.mean[name], out.point[name] = mean, mean * ratio
    if COMBINED in names:
        singles = [m for m in names if m != COMBINED]
        out.mean[COMBINED] = np.mean([out.mean[m] for m in singles], axis=0)
        out.point[COMBINED] = np.mean([out.point[m] for m in singles], axis=0)
    return out


def recent_window(y: np.ndarray, k: int, opens_with_sale: bool) -> np.ndarray:
    """The last (up to) ``k`` periods of a short history ``y``, without the period that opened it with the
    item's first sale when later periods exist.

    That period is in the data because the item sold (``SalesPanel.opens_with_sale``): in a history of
    two or three periods it is a third to a half of the sample and always a sale, so keeping it makes
    an item that sold once look like one that sells every other period.
    """
    if opens_with_sale and len(y) > 1:
        y = y[1:]
    return y[-k:]


def lower_median(w: np.ndarray) -> float:
    """The median of ``w`` read as a distribution: the smallest value at least half of ``w`` do not exceed.

    With an even count the textbook median averages the two middle values: one sale and one quiet
    period give 0.5, a week no shop has, although the typical period (half of them) sold nothing. Every
    value between the two middle ones fits the sample equally well under absolute error (what MASE
    scores); the lower one is the distribution's median (its 50 % quantile) and a value that occurred.
    """
    return float(np.quantile(w, 0.5, method="inverted_cdf")) if len(w) else 0.0


def _scale(y: np.ndarray) -> float:
    """MASE scale: mean absolute one-step change in the training part (0 when it never changes)."""
    return float(np.mean(np.abs(np.diff(y)))) if len(y) > 1 else 0.0


def backtest_errors(series: Sequence[np.ndarray], cfg: ForecastConfig, season: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean backtest MASE per series and candidate (n, c), and how many windows each series had (n,)."""
    h = cfg.horizon
    names = candidate_names(cfg)
    total = np.zeros((len(series), len(names)))
    count = np.zeros(len(series))
    for w in range(1, cfg.backtest_windows + 1):
        cut = h * w
        rows = [j for j, y in enumerate(series) if len(y) - cut >= cfg.min_history and _scale(y[:len(y) - cut]) > 0]
        if not rows:
            continue
        train = [series[j][:len(series[j]) - cut] for j in rows]
        cand = candidates(train, h, cfg, season)
        actual = np.array([series[j][len(series[j]) - cut:len(series[j]) - cut + h] for j in rows])
        scale = np.array([_scale(t) for t in train])[:, None]
        for c, name in enumerate(names):
            total[rows, c] += (np.abs(cand.point[name] - actual).mean(axis=1, keepdims=True) / scale)[:, 0]
        count[rows] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan), count


def choose(errors: np.ndarray, count: np.ndarray, classes: Sequence[str], shrink: float,
           default: int) -> np.ndarray:
    """Per series, the candidate with the lowest backtest error shrunk toward its demand class's mean.

    score = (windows x own error + shrink x class mean error) / (windows + shrink); a series with no
    backtest takes its class's best, and a class with no backtests takes ``default``.
    """
    classes = np.asarray(classes)
    choice = np.full(len(classes), default)
    for cls in set(classes.tolist()):
        rows = np.nonzero(classes == cls)[0]
        has = rows[count[rows] > 0]
        if len(has) == 0:
            continue
        prior = np.nanmean(errors[has], axis=0)
        prior = np.where(np.isnan(prior), np.inf, prior)
        own = np.nan_to_num(errors[rows], nan=0.0)
        c = count[rows, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(c > 0, (c * own + shrink * prior) / (c + shrink), prior)
        choice[rows] = np.argmin(score, axis=1)
    return choice


def _interval(y: np.ndarray, mean: np.ndarray, level: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` % of mean x (recent sales / their mean), widened to at least Poisson noise."""
    a = (100.0 - level) / 200.0
    w = y[-window:]
    m = w.mean() if len(w) else 0.0
    if m > 0:
        lo = mean * np.quantile(w, a, method="lower") / m
        hi = mean * np.quantile(w, 1 - a, method="higher") / m
    else:
        lo, hi = np.zeros_like(mean), np.zeros_like(mean)
    return np.minimum(lo, poisson.ppf(a, mean)), np.maximum(hi, poisson.ppf(1 - a, mean))


def forecast_panel(panel: SalesPanel, cfg: ForecastConfig | None = None,
                   neighbours: Mapping[str, Sequence[str]] | None = None,
                   items: Sequence[str] | None = None) -> pd.DataFrame:
    """Forecast ``cfg.horizon`` periods from ``panel.next_period`` for every item (or ``items``).

    ``neighbours`` (item -> similar launched items) feeds the launch-plan prior for young items;
    without it young items use the simple model. Returns one row per item and period: item_id,
    period_start, yhat, yhat_lo, yhat_hi, mean, model, demand_class, history_periods.
    """
    cfg = cfg or ForecastConfig()
    cfg.check()
    check_horizon(cfg.horizon, panel.freq)
    h = cfg.horizon
    season = season_length(panel.freq)
    skip_closed = panel.freq == "W"
    idx = panel.index()
    wanted = list(items) if items is not None else list(panel.item_ids)
    missing = [it for it in wanted if it not in idx]
    if missing:
        raise InputError(f"{len(missing)} item(s) have no sales before {panel.as_of}, e.g. {missing[0]}",
                         field="items")
    hist = {it: np.clip(panel.history(idx[it], skip_closed=skip_closed), 0, None) for it in wanted}
    long_ids = [it for it in wanted if len(hist[it]) >= cfg.min_history]
    young = [it for it in wanted if not panel.left_censored[idx[it]]
             and (panel.as_of - panel.launched[it]).days < cfg.new_item_periods * FREQS[panel.freq][1]]
    with task("forecasting", total=cfg.backtest_windows + 3) as bar:
        series = [hist[it] for it in long_ids]
        errors, count = backtest_errors(series, cfg, season)
        bar.advance(cfg.backtest_windows)
        cand = candidates(series, h, cfg, season)
        bar.advance()
        # the global model learns from every item's history (short ones too) and covers the long ones
        at = {it: k for k, it in enumerate(wanted)}
        glob = (global_forecast([hist[it] for it in wanted], h)[[at[it] for it in long_ids]]
                if cfg.global_weight > 0 and long_ids else np.full((len(long_ids), h), np.nan))
        bar.advance()
        classes = [demand_class(y) for y in series]
        default = cand.names.index(f"median{cfg.windows[0]}")
        choice = choose(errors, count, classes, cfg.shrink, default)
        priors: dict[str, PriorForecast] = (prior_for_items(panel, young, h, neighbours, cfg.level)
                                            if neighbours else {})
        bar.advance()
    starts = [panel.next_period + timedelta(days=FREQS[panel.freq][1] * k) for k in range(h)]
    pos = {it: j for j, it in enumerate(long_ids)}
    frames = []
    for it in wanted:
        y = hist[it]
        if it in priors:
            pf = priors[it]
            point, mean, lo, hi, model = pf.point, pf.mean, pf.lo, pf.hi, "launch_prior"
            # own weeks count for as much of the forecast as they cover of the young-item period
            wgt = min(len(y) / cfg.new_item_periods, 1.0)
            if len(y):
                k = min(len(y), cfg.windows[0])
                point = wgt * float(np.median(y[-k:])) + (1 - wgt) * point
                mean = wgt * float(y[-k:].mean()) + (1 - wgt) * mean
            a = (100.0 - cfg.level) / 200.0
            lo, hi = np.minimum(lo, poisson.ppf(a, mean)), np.maximum(hi, poisson.ppf(1 - a, mean))
        elif it in pos:
            j = pos[it]
            name = cand.names[choice[j]]
            point, mean, model = cand.point[name][j], cand.mean[name][j], name
            if not np.isnan(glob[j]).any():
                point, model = cfg.global_weight * glob[j] + (1 - cfg.global_weight) * point, f"global+{name}"
            lo, hi = _interval(y, mean, cfg.level, cfg.interval_window)
        else:
            # point and mean from the recent periods, the opening sale left out (recent_window); the
            # interval keeps it: it is the range the item has shown, and few periods are no reason to
            # narrow it
            w = recent_window(y, cfg.windows[0], bool(panel.opens_with_sale[idx[it]]))
            point = np.full(h, lower_median(w))
            mean = np.full(h, float(w.mean()) if len(w) else 0.0)
            model = "short_history"
            shown = y[-cfg.windows[0]:]
            lo, hi = _interval(y, np.full(h, float(shown.mean()) if len(shown) else 0.0), cfg.level,
                               cfg.interval_window)
        point = np.clip(point, 0, None)
        lo = np.minimum(np.clip(lo, 0, None), point)
        hi = np.maximum(hi, point)
        frames.append(pd.DataFrame({"item_id": it, "period_start": starts, "yhat": point, "yhat_lo": lo,
                                    "yhat_hi": hi, "mean": np.clip(mean, 0, None), "model": model,
                                    "demand_class": demand_class(y) if len(y) >= 2 else "short",
                                    "history_periods": len(y)}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["item_id", "period_start", "yhat", "yhat_lo", "yhat_hi", "mean", "model", "demand_class",
                 "history_periods"])
    log.info("forecast %d items x %d periods from %s; models: %s", len(wanted), h, panel.next_period,
             out.drop_duplicates("item_id")["model"].value_counts().to_dict() if len(out) else {})
    return out
