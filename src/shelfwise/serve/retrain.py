"""Retraining inside the running service: on demand or on a schedule, swapped in without a pause.

Training runs in a background thread on the shared store (it reads a consistent snapshot; intake goes
on meanwhile), saves a new model set version, loads it, warms it, and swaps it in. Requests never
wait: until the swap they are answered by the old set. One retrain at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..data.store import Store
from ..logs import get_logger
from .models import ModelHolder, ModelSet, build

log = get_logger(__name__)


class Retrainer:
    def __init__(self, holder: ModelHolder, store: Store, store_url: str, model_dir: Path | None,
                 warm: Callable[[ModelSet], list[str]] | None = None,
                 train: Callable[..., Any] | None = None) -> None:
        self.holder = holder
        self.store = store
        self.store_url = store_url
        self.model_dir = model_dir
        self.warm = warm
        self._train = train
        self._running = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> bool:
        """Start one retrain in the background; False when one is already running."""
        if self.model_dir is None or not self._running.acquire(blocking=False):
            return False
        t = threading.Thread(target=self._run, name="shelfwise-retrain", daemon=True)
        t.start()
        return True

    def run_now(self) -> None:
        """Retrain in this thread (tests, the CLI); raises what training raises."""
        with self._running:
            self._retrain()

    def _run(self) -> None:
        try:
            self._retrain()
        except Exception as exc:  # reported through the status; the old model keeps serving
            log.error("retraining failed: %s", exc)
        finally:
            self._running.release()

    def _retrain(self) -> None:
        status = self.holder.retrain_status
        started = datetime.now(timezone.utc)
        status.clear()
        status.update(state="training", started_at=started.isoformat(timespec="seconds"))
        try:
            if self._train is None:
                from ..service import recommend as rec_service

                result = rec_service.train(db=self.store_url, model_dir=self.model_dir)
                version = result.version
            else:
                version = self._train(self.store_url, self.model_dir)
            status.update(state="loading", version=version)
            new = build(self.store, self.model_dir, version)
            self.holder.swap(new, self.warm(new) if self.warm else None)
            status.update(state="done", finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          seconds=round((datetime.now(timezone.utc) - started).total_seconds(), 1))
        except Exception as exc:
            status.update(state="failed", error=str(exc))
            raise

    # --- background schedules -----------------------------------------------------------------------
    def schedule(self, every_s: float) -> None:
        """Retrain every ``every_s`` seconds (counted from the end of the previous one)."""
        self._loop(every_s, lambda: self.start(), "shelfwise-retrain-schedule")

    def watch(self, every_s: float) -> None:
        """Every ``every_s`` seconds, swap in the version that the model folder's ``current`` names when it
        changed (another process trained), so several service processes follow one model folder."""
        self._loop(every_s, lambda: self.holder.reload(self.store, self.warm), "shelfwise-model-watch")

    def _loop(self, every_s: float, fn: Callable[[], Any], name: str) -> None:
        def run() -> None:
            while not self._stop.wait(every_s):
                try:
                    fn()
                except Exception as exc:
                    log.warning("%s: %s", name, exc)

        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(1.0)
        # a running retrain is a daemon thread: it ends with the process
