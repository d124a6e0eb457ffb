"""The intake: a two-stage pipeline that group-commits event batches and acknowledges each after commit.

Requests hand their (already normalised) batch to :meth:`Intake.submit` and wait on a future.

1. The *validator* thread takes everything queued (up to ``max_group_events``) and validates it in one
   go (:func:`shelfwise.service.live.prepare`); a batch with a bad record is answered at once (nothing
   of it will be stored).
2. The *committer* thread takes every validated group waiting and stores them in ONE transaction
   (:func:`shelfwise.service.live.commit`), then updates the live state, then resolves the futures.

So an acknowledged event is committed; the fixed cost of a validation and of a transaction is shared
by all requests that arrived meanwhile; and the next group is validated while the previous one is
written (both mostly run inside DuckDB, outside the GIL). Exploration statistics are recorded in the
store by a third thread, at most every five seconds, off the commit path (the in-memory
counters the policies read move at once).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from ..data.store import Store
from ..logs import get_logger
from ..service import live as live_service

log = get_logger(__name__)

_STOP = object()


class Intake:
    def __init__(self, store: Store, on_commit: Callable[[list[dict[str, Any]]], None] | None = None,
                 after_ack: Callable[[list[dict[str, Any]]], None] | None = None,
                 max_group_events: int = 20_000, stats_interval_s: float = 5.0) -> None:
        self.store = store
        self.on_commit = on_commit      # fast, in memory: runs before the acknowledgement
        self.after_ack = after_ack      # slower bookkeeping (exploration statistics in the store)
        self.max_group_events = max_group_events
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._commit_q: queue.Queue[Any] = queue.Queue()
        self._commit_thread: threading.Thread | None = None
        self.stats_interval_s = stats_interval_s
        self._later: list[dict[str, Any]] = []          # events waiting for ``after_ack``, coalesced
        self._later_cv = threading.Condition()
        self._later_thread: threading.Thread | None = None
        self._stopping = False
        self.committed_events = 0
        self.commits = 0

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="shelfwise-intake-validate", daemon=True)
            self._thread.start()
            self._commit_thread = threading.Thread(target=self._run_commits, name="shelfwise-intake-commit",
                                                   daemon=True)
            self._commit_thread.start()
            self._later_thread = threading.Thread(target=self._run_later, name="shelfwise-intake-stats",
                                                  daemon=True)
            self._later_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        if self._commit_thread is not None:
            self._commit_thread.join(timeout)
            self._commit_thread = None
        if self._later_thread is not None:
            with self._later_cv:
                self._stopping = True
                self._later_cv.notify()
            self._later_thread.join(timeout)
            self._later_thread = None

    def _run_later(self) -> None:
        """``after_ack`` off the commit path: whatever piled up meanwhile goes in one call."""
        while True:
            with self._later_cv:
                while not self._later and not self._stopping:
                    self._later_cv.wait()
                todo, self._later = self._later, []
                stopping = self._stopping
            self._hook(self.after_ack, todo)
            if stopping:
                return
            deadline = time.monotonic() + self.stats_interval_s  # rate limit; a stop ends the wait early
            with self._later_cv:
                while not self._stopping and (left := deadline - time.monotonic()) > 0:
                    self._later_cv.wait(left)

    def submit(self, rows: Sequence[Mapping[str, str | None]]) -> Future:
        """Queue a normalised batch; the future resolves to :class:`Accepted` or raises its rejection."""
        fut: Future = Future()
        if self._thread is None:
            self.start()
        self._q.put((rows, fut))
        return fut

    def _take(self) -> tuple[list[tuple[Sequence[Any], Future]], bool]:
        first = self._q.get()
        if first is _STOP:
            return [], True
        group, size, stop = [first], len(first[0]), False
        while size < self.max_group_events:
            try:
                nxt = self._q.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                stop = True
                break
            group.append(nxt)
            size += len(nxt[0])
        return group, stop

    def _run(self) -> None:
        """Stage 1: validate each group; refused batches are answered here, the rest go to the committer."""
        while True:
            group, stop = self._take()
            if group:
                try:
                    prep = live_service.prepare([rows for rows, _ in group])
                except BaseException as exc:  # not even validation ran: every request learns it
                    log.error("event validation failed for %d batches: %s", len(group), exc)
                    for _, fut in group:
                        fut.set_exception(exc)
                else:
                    for k, rejected in prep.failed.items():
                        group[k][1].set_exception(rejected)
                    self._commit_q.put((group, prep))
            if stop:
                self._commit_q.put(_STOP)
                return

    def _run_commits(self) -> None:
        """Stage 2: everything validated so far, in one transaction, then the acknowledgements."""
        while True:
            first = self._commit_q.get()
            if first is _STOP:
                return
            work, stop = [first], False
            while True:
                try:
                    nxt = self._commit_q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                work.append(nxt)
            self._commit(work)
            if stop:
                return

    def _commit(self, work: list[tuple[list[tuple[Sequence[Any], Future]], Any]]) -> None:
        try:
            results = live_service.commit_groups(self.store, [prep for _, prep in work])
        except BaseException as exc:  # nothing of these groups was stored: every request learns it
            log.error("event intake failed, %d groups not stored: %s", len(work), exc)
            for group, prep in work:
                for k, (_, fut) in enumerate(group):
                    if k not in prep.failed:
                        fut.set_exception(exc)
            return
        stored: list[dict[str, Any]] = []
        answers: list[tuple[Future, Any]] = []
        for (group, prep), per_batch in zip(work, results):
            for k, ((_, fut), res) in enumerate(zip(group, per_batch)):
                if k in prep.failed:
                    continue  # answered by the validator
                stored.extend(res.events)
                answers.append((fut, res))
        self.commits += 1
        self.committed_events += len(stored)
        # the live state first, so that a client's next request after the acknowledgement sees its events
        self._hook(self.on_commit, stored)
        for fut, res in answers:  # acknowledge: committed
            fut.set_result(res)
        if self.after_ack is not None and stored:
            with self._later_cv:
                self._later.extend(stored)
                self._later_cv.notify()

    @staticmethod
    def _hook(fn: Callable[[list[dict[str, Any]]], None] | None, stored: list[dict[str, Any]]) -> None:
        if not stored or fn is None:
            return
        try:
            fn(stored)
        except Exception as exc:  # live signals are best effort; the events themselves are stored
            log.warning("updating the live state after a commit failed: %s", exc)
