"""shelfwise: an engine that turns an online shop's own data into merchandising decisions."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("shelfwise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
