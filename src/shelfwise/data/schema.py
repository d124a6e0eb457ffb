"""SHOP_FORMAT.md as code: the tables of a shop folder, their columns, types and rules.

The store keeps one table per shop table with the typed columns below, plus ``attrs`` (a JSON object
of every extra column of the input, so nothing is dropped silently) and provenance columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    """How a column's text is validated and typed."""

    ID = "id"                # non-empty string, kept as given
    TEXT = "text"            # free text, may be empty
    TIMESTAMP = "timestamp"  # ISO 8601 (naive means UTC) or Unix epoch seconds
    NUMBER = "number"        # a finite number
    PRICE = "price"          # a finite number >= 0
    QUANTITY = "quantity"    # a finite number > 0 (a return is its own event type, never a negative sale)
    POSITION = "position"    # an integer >= 1 (1-based display slot)
    PROBABILITY = "probability"  # a number in (0, 1]
    RATING = "rating"        # a number in [1, 5]
    EVENT = "event"          # one of EVENT_TYPES


EVENT_TYPES: tuple[str, ...] = ("impression", "view", "click", "cart", "favorite", "purchase", "return")

#: each item's catalogue price (its lowest listed ``price``): a purchase row without a price counts at
#: it in revenue (sales series, dashboard, experiment outcomes, demo report), and 0 only when neither is
#: known. The batch engines spell the same rule over their ``it`` view (engines/sql.LIST_PRICE).
LIST_PRICE_SQL = "SELECT item_id, min(price) AS list_price FROM items GROUP BY item_id"

SQL_TYPES: dict[Kind, str] = {
    Kind.ID: "VARCHAR", Kind.TEXT: "VARCHAR", Kind.TIMESTAMP: "TIMESTAMP", Kind.NUMBER: "DOUBLE",
    Kind.PRICE: "DOUBLE", Kind.QUANTITY: "DOUBLE", Kind.POSITION: "INTEGER", Kind.PROBABILITY: "DOUBLE", Kind.RATING: "DOUBLE",
    Kind.EVENT: "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    # a required column whose value may be empty (events.user_id: anonymous traffic)
    nullable: bool = False
    default: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    # columns that identify a row: a reload replaces the row with the same key instead of adding one.
    # Empty for events, which have no natural key: they are keyed by content (see ingest).
    key: tuple[str, ...] = ()
    optional_table: bool = False
    notes: str = ""
    extension: bool = False  # a shelfwise addition to SHOP_FORMAT
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


ITEMS = TableSpec(
    "items",
    (
        Column("item_id", Kind.ID, required=True),
        Column("title", Kind.TEXT),
        Column("description", Kind.TEXT),
        Column("category", Kind.TEXT),
        Column("brand", Kind.TEXT),
        Column("price", Kind.PRICE),
        Column("launched_at", Kind.TIMESTAMP),
        Column("image_url", Kind.TEXT),
    ),
    key=("item_id",),
    notes="category is a path with '>' separators; an item seen only in events is still an item.",
)

USERS = TableSpec(
    "users",
    (Column("user_id", Kind.ID, required=True),),
    key=("user_id",),
    optional_table=True,
)

EVENTS = TableSpec(
    "events",
    (
        Column("timestamp", Kind.TIMESTAMP, required=True),
        Column("user_id", Kind.ID, required=True, nullable=True),
        Column("item_id", Kind.ID, required=True),
        Column("event", Kind.EVENT, required=True),
        Column("quantity", Kind.QUANTITY, default="1"),
        Column("price", Kind.PRICE),
        Column("session_id", Kind.ID),
        Column("position", Kind.POSITION),
        Column("surface", Kind.TEXT),
        Column("propensity", Kind.PROBABILITY),
        Column("order_id", Kind.ID),
    ),
)

REVIEWS = TableSpec(
    "reviews",
    (
        Column("item_id", Kind.ID, required=True),
        Column("text", Kind.TEXT, required=True),
        Column("review_id", Kind.ID),
        Column("user_id", Kind.ID),
        Column("timestamp", Kind.TIMESTAMP),
        Column("rating", Kind.RATING),
        Column("label", Kind.TEXT),
    ),
    key=("review_key",),
    optional_table=True,
    notes="review_key is review_id when given, else a hash of item, user, timestamp and text.",
)

STOCK = TableSpec(
    "stock",
    (
        Column("item_id", Kind.ID, required=True),
        Column("stock", Kind.NUMBER, required=True),
        Column("lead_time_days", Kind.NUMBER),
        Column("unit_cost", Kind.PRICE),
    ),
    key=("item_id",),
    optional_table=True,
    extension=True,
    notes="shelfwise extension: current stock per item, used by inventory advice.",
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (ITEMS, USERS, EVENTS, REVIEWS, STOCK)}

# Columns every stored shop table carries besides its own.
PROVENANCE = (("attrs", "VARCHAR"), ("load_id", "VARCHAR"), ("source_file", "VARCHAR"), ("source_line", "BIGINT"))

SUFFIXES: tuple[str, ...] = (".csv.gz", ".jsonl.gz", ".csv", ".jsonl", ".parquet")


def table_of(filename: str) -> tuple[str, str] | None:
    """The (table stem, suffix) a file name stands for, or None when it is not a shop table file."""
    for suffix in SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)], suffix
    return None
