"""Ids given by hand (command-line arguments, API fields) read the way ingest reads them.

Ingest strips the spaces around every id, so " A1 " on the command line named no stored item and the
user got "unknown item" for an item the shop has. Every service that takes ids from a person passes
them through here.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InputError


def clean_id(value: object, field: str) -> str:
    """One id, stripped; an empty one is refused with the field named."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise InputError(f"{field} is empty: give an id", field=field)
    return text


def clean_ids(values: Iterable[object], field: str) -> list[str]:
    """Every id stripped, in the order given; an empty one is refused with the field named."""
    return [clean_id(v, field) for v in values]
