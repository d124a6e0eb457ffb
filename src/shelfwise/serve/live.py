"""What moves at once when an event is accepted: recent history, trending, co-occurrence, exploration.

The trained models change only at a retrain; this in-memory state changes with every committed event,
so a user's next request reflects what they just did. It is per process: with several service
processes on one PostgreSQL store, each process sees the events it accepted itself at once and
everything else at the next model swap (the events themselves are all in the shared store).

Trending uses an exponential decay in wall-clock time (half-life ``trend_half_life_s``), kept as
growing weights against a fixed origin so that an update touches one counter. Co-occurrence pairs
each new event's item with the user's last ``pair_window`` items, both ways.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# how much each event type says about interest (same order as the recommenders' event weights)
EVENT_WEIGHT = {"purchase": 4.0, "cart": 3.0, "favorite": 2.5, "click": 1.5, "view": 1.0,
                "impression": 0.0, "return": -2.0}


@dataclass(frozen=True)
class Recent:
    at: float          # arrival time (epoch seconds)
    item_id: str
    event: str
    weight: float


class LiveState:
    """Per-process live signals, updated by the intake thread and read by requests."""

    def __init__(self, history: int = 50, pair_window: int = 20, trend_half_life_s: float = 3600.0,
                 max_users: int = 200_000) -> None:
        self.history = history
        self.pair_window = pair_window
        self.half_life = trend_half_life_s
        self.max_users = max_users
        self._lock = threading.Lock()
        self._origin: float | None = None  # set by the first event: weights grow from there
        self.recent: dict[str, deque[Recent]] = {}
        self.trend: dict[str, float] = {}
        self.cooc: dict[str, Counter[str]] = {}
        self.impressions: Counter[str] = Counter()
        self.clicks: Counter[str] = Counter()
        self.accepted = 0
        self.user_version: dict[str, int] = {}  # bumps on each event of a user: invalidates cached lists

    # --- updates --------------------------------------------------------------------------------
    def _growth(self, now: float) -> float:
        if self._origin is None:
            self._origin = now
        return math.pow(2.0, max(now - self._origin, -60.0 * self.half_life) / self.half_life)

    def add(self, events: Iterable[Mapping[str, Any]], now: float | None = None) -> int:
        """Absorb committed events (typed rows: user_id, item_id, event, quantity)."""
        now = time.time() if now is None else now
        n = 0
        with self._lock:
            g = self._growth(now)
            if g > 1e12:  # renormalise before the weights overflow (after ~40 half-lives)
                self._rebase(now)
                g = 1.0
            for e in events:
                n += 1
                item, kind, user = str(e["item_id"]), str(e["event"]), e.get("user_id")
                w = EVENT_WEIGHT.get(kind, 0.0) * float(e.get("quantity") or 1.0 if kind == "purchase" else 1.0)
                if kind == "impression":
                    self.impressions[item] += 1
                elif kind == "click":
                    self.clicks[item] += 1
                if w > 0:
                    self.trend[item] = self.trend.get(item, 0.0) + w * g
                if not user:
                    continue
                user = str(user)
                if w == 0:
                    continue
                hist = self.recent.get(user)
                if hist is None:
                    if len(self.recent) >= self.max_users:
                        self.recent.pop(next(iter(self.recent)))  # oldest user first (insertion order)
                    hist = self.recent[user] = deque(maxlen=self.history)
                if w > 0:
                    for other in list(hist)[-self.pair_window:]:
                        if other.item_id != item and other.weight > 0:
                            self.cooc.setdefault(item, Counter())[other.item_id] += 1.0
                            self.cooc.setdefault(other.item_id, Counter())[item] += 1.0
                hist.append(Recent(now, item, kind, w))
                self.user_version[user] = self.user_version.get(user, 0) + 1
            self.accepted += n
        return n

    def _rebase(self, now: float) -> None:
        g = self._growth(now)
        self.trend = {k: v / g for k, v in self.trend.items() if v / g > 1e-6}
        self._origin = now

    def seed_exploration(self, counts: Iterable[tuple[str, int, int]]) -> None:
        """Start the exploration counters from the store's (item, impressions, clicks)."""
        with self._lock:
            for item, imp, clk in counts:
                self.impressions[item] += int(imp)
                self.clicks[item] += int(clk)

    # --- reads ----------------------------------------------------------------------------------
    def recent_of(self, user_id: str) -> list[Recent]:
        hist = self.recent.get(user_id)
        return list(hist) if hist else []

    def version_of(self, user_id: str) -> int:
        return self.user_version.get(user_id, 0)

    def trending(self, n: int = 50, now: float | None = None) -> list[tuple[str, float]]:
        """Items by decayed interest in the last few half-lives, as (item, weight now)."""
        now = time.time() if now is None else now
        with self._lock:
            g = self._growth(now)
            top = sorted(self.trend.items(), key=lambda kv: -kv[1])[:n]
        return [(k, v / g) for k, v in top]

    def co_occurring(self, item_id: str, n: int = 20) -> list[tuple[str, float]]:
        c = self.cooc.get(item_id)
        return c.most_common(n) if c else []

    def exploration_counts(self, item_id: str) -> tuple[int, int]:
        """(impressions, clicks) seen live for an item."""
        return self.impressions.get(item_id, 0), self.clicks.get(item_id, 0)

    def summary(self) -> dict[str, Any]:
        return {"accepted_events": self.accepted, "users_with_live_history": len(self.recent),
                "trending_items": len(self.trend), "as_of": datetime.now().isoformat(timespec="seconds")}
