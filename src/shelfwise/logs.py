"""Named loggers. Library code logs through :func:`get_logger`, never prints."""

from __future__ import annotations

import logging

ROOT = "shelfwise"


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``shelfwise`` namespace (``shelfwise.data.ingest`` and so on)."""
    if not name.startswith(ROOT):
        name = f"{ROOT}.{name}"
    return logging.getLogger(name)


def configure(level: str = "INFO") -> None:
    """Send shelfwise's logs to stderr through Rich; called by the CLI and the server only."""
    from rich.console import Console
    from rich.logging import RichHandler

    root = logging.getLogger(ROOT)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
