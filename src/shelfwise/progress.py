"""Progress reporting for long work, shown with Rich when enabled and silent otherwise.

Library code takes a :class:`Progress`-like object rather than creating bars itself, so that tests
and the API stay quiet while the CLI shows bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_enabled = False


def enable(on: bool = True) -> None:
    """Turn Rich progress bars on for this process (the CLI does, on a terminal)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


@contextmanager
def task(description: str, total: float | None = None) -> Iterator["_Task"]:
    """A progress task; ``advance`` it as work is done. Does nothing when progress is disabled."""
    if not _enabled:
        yield _Task(None, None)
        return
    from rich.progress import (BarColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=True) as bar:
        tid = bar.add_task(description, total=total)
        yield _Task(bar, tid)


class _Task:
    def __init__(self, bar: object | None, tid: object | None) -> None:
        self._bar = bar
        self._tid = tid

    def advance(self, amount: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._tid, amount)  # type: ignore[attr-defined]


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar when enabled."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total) as t:
        for item in items:
            yield item
            t.advance()
