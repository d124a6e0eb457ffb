"""The shop store: one interface, backends chosen by URL (``duckdb:///path``; more plug in here)."""

from .base import LoadResult, Store, TableCounts, open_store, register_backend

__all__ = ["LoadResult", "Store", "TableCounts", "open_store", "register_backend"]
