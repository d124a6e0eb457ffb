"""Synthetic display logs with known position bias, item appeal and logging propensities."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shelfwise.experiment.logged import LoggedDisplays


def _store_of_events(root: Path, rows: list[str]) -> str:
    """A DuckDB store at ``root/x.duckdb`` holding the events CSV ``rows`` (header first); its URL."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store

    (root / "shop").mkdir()
    (root / "shop" / "events.csv").write_text("\n".join(rows) + "\n")
    url = f"duckdb:///{root / 'x.duckdb'}"
    with open_store(url) as store:
        ingest(root / "shop", store)
    return url


@pytest.fixture(scope="session")
def store_of_events():
    """``store_of_events(folder, rows)``: the URL of a store loaded from these events CSV lines."""
    return _store_of_events


@dataclass
class Synthetic:
    logged: LoggedDisplays
    theta: np.ndarray      # true examination per position (theta[0] == 1)
    gamma: np.ndarray      # true attraction per item
    logging: np.ndarray    # (K, A) logging probabilities per slot (or (n, A) per row when contextual)

    def value(self, probs: np.ndarray) -> float:
        """True mean reward per slot of a policy with per-slot probabilities ``probs`` (K, A)."""
        k = self.logged.position - 1
        return float(np.mean((probs[k] * self.gamma[None, :]).sum(axis=1) * self.theta[k]))


def make_logs(n_displays: int = 4000, theta: tuple[float, ...] = (1.0, 0.6, 0.4), n_items: int = 12,
              sharpness: float = 1.5, seed: int = 0, randomised: bool = False) -> Synthetic:
    """Displays of len(theta) slots; each slot's item is drawn independently from the logging policy,
    which favours appealing items (``sharpness``) and, unless randomised, puts them at the top."""
    rng = np.random.default_rng(seed)
    theta_a = np.asarray(theta, dtype=np.float64)
    k_n = theta_a.size
    gamma = rng.uniform(0.02, 0.4, n_items)
    if randomised:
        logging = np.full((k_n, n_items), 1.0 / n_items)
    else:
        tilt = 1.0 - 2.0 * np.arange(k_n) / max(k_n - 1, 1)  # good items on top, poor ones at the bottom
        z = sharpness * np.log(gamma)[None, :] * tilt[:, None]
        logging = np.exp(z - z.max(axis=1, keepdims=True))
        logging /= logging.sum(axis=1, keepdims=True)
    pos = np.tile(np.arange(1, k_n + 1), n_displays)
    cdf = np.cumsum(logging, axis=1)
    item = np.minimum((rng.random(pos.size)[:, None] > cdf[pos - 1]).sum(axis=1), n_items - 1)
    prop = logging[pos - 1, item]
    reward = (rng.random(pos.size) < theta_a[pos - 1] * gamma[item]).astype(np.float64)
    logged = LoggedDisplays(item=item, position=pos, propensity=prop, reward=reward,
                            surface=np.zeros(pos.size, dtype=np.int64),
                            cluster=np.repeat(np.arange(n_displays), k_n),
                            item_ids=np.array([f"i{a:02d}" for a in range(n_items)]), surfaces=["home"],
                            actions=np.ones((1, n_items), dtype=bool))
    return Synthetic(logged, theta_a, gamma, logging)


@pytest.fixture
def synthetic():
    return make_logs


def write_shop(folder: Path, logged: LoggedDisplays, policy: str = "bandit") -> Path:
    """The logs as a shop folder (impressions and clicks in events.csv), to go through ingest."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2024, 3, 1)
    with open(folder / "events.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "user_id", "session_id", "item_id", "event", "position", "surface", "propensity",
                    "policy"])
        for j in range(logged.n):
            ts = t0 + timedelta(seconds=int(logged.cluster[j]))
            row = [ts.isoformat(), "", f"s{logged.cluster[j]}", logged.item_ids[logged.item[j]], "impression",
                   int(logged.position[j]), logged.surfaces[logged.surface[j]], repr(float(logged.propensity[j])), policy]
            w.writerow(row)
            if logged.reward[j] > 0:
                w.writerow([(ts + timedelta(seconds=5)).isoformat()] + row[1:4] + ["click"] + row[5:])
    return folder


@pytest.fixture
def shop_writer():
    return write_shop


@pytest.fixture(params=["duckdb", "postgresql"])
def both_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh store of each backend, for the experiment SQL that must run on both."""
    from shelfwise.data.store import open_store

    url = (f"duckdb:///{tmp_path / 'exp.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_store_url"))
    s = open_store(url)
    yield s
    s.close()
