"""Real-time event intake: the same validation as a shop file, then one durable transaction.

An API batch is treated like a small events file: every record is typed and checked by
:func:`shelfwise.data.validate.validate` (the rules of SHOP_FORMAT.md), and the batch is written with
:meth:`Store.apply_load` in one transaction. Nothing of a batch is stored when any record breaks a rule:
the caller gets every reject with its record index, field and reason, fixes them and sends the batch
again. Because the store keys events by content, sending the same batch twice (a retry after a lost
acknowledgement) stores it once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..data.readers import RawTable
from ..data.schema import EVENTS
from ..data.store import Store
from ..data.validate import validate
from ..errors import InputError

SOURCE = "api"
_COLUMN = re.compile(r"column '([A-Za-z0-9_]+)'")
_FIELD_WORDS = (("event type", "event"), ("propensity", "propensity"), ("position", "position"),
                ("quantity", "quantity"))
_MAX_VALUE_CHARS = 10_000
#: what the API accepts as an id (user, item, session, order, surface): letters, digits and ``_-.:@/+~#,``,
#: at most 200 characters. Stricter than shop files on purpose: quotes, semicolons, spaces and the like
#: never occur in real ids but are the stuff of injection attempts, so they are refused with a 422.
ID_PATTERN = r"^[\w\-.:@/+~#,]{1,200}$"
ID_RE = re.compile(ID_PATTERN)  # use .fullmatch: in Python ``$`` also matches before a final newline
ID_FIELDS = ("user_id", "item_id", "session_id", "order_id")
_ALWAYS = tuple(c.name for c in EVENTS.columns if c.required)


@dataclass
class Reject:
    index: int          # 0-based position of the record in the batch
    field: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


class EventsRejected(InputError):
    """Some records of a batch break SHOP_FORMAT rules; nothing of the batch was stored."""

    def __init__(self, rejects: list[Reject], total: int) -> None:
        self.rejects = rejects
        first = rejects[0]
        super().__init__(f"{len(rejects)} of {total} events rejected, nothing stored; first: event {first.index}: "
                         f"{first.reason}", field=first.field)


@dataclass
class Accepted:
    """What was stored: ``accepted`` records, ``new`` of them not in the store before (the rest: retries)."""

    load_id: str
    accepted: int
    new: int  # new rows in the whole commit (a group commit may hold other requests' events too)
    events: list[dict[str, Any]] = field(default_factory=list)  # typed rows, for the live state

    def as_dict(self) -> dict[str, Any]:
        return {"load_id": self.load_id, "accepted": self.accepted, "new": self.new}


def _text(value: Any, index: int, name: str) -> str | None:
    """A JSON value as the text a CSV cell would hold; objects and lists are refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"event {index}: field '{name}' is true/false; give a number or text", field=name)
    if isinstance(value, (int, float, str)):
        text = str(value)
        if len(text) > _MAX_VALUE_CHARS:
            raise InputError(f"event {index}: field '{name}' is longer than {_MAX_VALUE_CHARS} characters", field=name)
        return text
    raise InputError(f"event {index}: field '{name}' must be text, a number or null, not "
                     f"{type(value).__name__}", field=name)


def normalise(records: Sequence[Any]) -> list[dict[str, str | None]]:
    """API records as rows of text cells, as a CSV reader would give them; malformed records raise."""
    if not records:
        raise InputError("no events in the request", field="events")
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(f"event {i} is not a JSON object", field="events")
        row = {}
        for name, value in rec.items():
            if not isinstance(name, str) or not name.strip() or len(name) > 100 or name.startswith("_"):
                raise InputError(f"event {i} has an invalid field name {str(name)[:40]!r}", field="events")
            row[name] = _text(value, i, name)
            if name in ID_FIELDS and row[name] is not None and row[name].strip() and not ID_RE.fullmatch(row[name]):
                raise InputError(f"event {i}: field '{name}' is not a valid id (letters, digits and _-.:@/+~#, "
                                 "only, at most 200 characters)", field=name)
        for name in _ALWAYS:  # absent means empty: the validation then names the field per record
            row.setdefault(name, None)
        out.append(row)
    return out


def to_raw(rows: Sequence[Mapping[str, str | None]]) -> RawTable:
    """Normalised rows as a raw table of text columns (row ``i`` is "line" ``i + 1``)."""
    columns: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for name in r:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    arrays = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns}
    arrays["_line"] = pa.array(range(1, len(rows) + 1), pa.int64())
    return RawTable(Path("POST /v1/events"), columns, pa.table(arrays))


def _field_of(reason: str) -> str | None:
    m = _COLUMN.search(reason)
    if m:
        return m.group(1)
    for word, name in _FIELD_WORDS:
        if word in reason:
            return name
    return None


_LIVE_COLUMNS = ["timestamp", "user_id", "item_id", "event", "quantity", "price", "session_id", "surface", "position"]


@dataclass
class Prepared:
    """A group of batches after validation, before the write: what :func:`commit` stores."""

    validated: Any                      # the Validated of the good batches' rows (None when none)
    owner: np.ndarray                   # per accepted row, the index of its batch
    sizes: list[int]
    failed: dict[int, "EventsRejected"]
    counts: list[int] = field(default_factory=list)  # per batch, its accepted records (retries included)


def prepare(batches: Sequence[Sequence[Mapping[str, str | None]]]) -> Prepared:
    """Validate several normalised batches at once (one validation for all); nothing is written."""
    rows = [r for b in batches for r in b]
    bounds = np.cumsum([0] + [len(b) for b in batches])
    v = validate(to_raw(rows), EVENTS)
    rejects: dict[int, list[Reject]] = {}
    if v.rejects.num_rows:
        for line, reason in zip(v.rejects["source_line"].to_pylist(), v.rejects["reason"].to_pylist()):
            k = int(np.searchsorted(bounds, line - 1, side="right")) - 1
            for part in str(reason).split("; "):  # one record can break several rules: name each field
                rejects.setdefault(k, []).append(Reject(int(line) - 1 - int(bounds[k]), _field_of(part), part))
    accepted = v.accepted
    owner = np.searchsorted(bounds, np.asarray(accepted["source_line"].to_numpy()) - 1, side="right") - 1
    if rejects:
        keep = ~np.isin(owner, list(rejects))
        accepted = accepted.filter(pa.array(keep))
        owner = owner[keep]
    counts = np.bincount(owner, minlength=len(batches)).tolist() if len(owner) else [0] * len(batches)
    if len(batches) > 1 and accepted.num_rows:
        keep = _once_per_batch(accepted, owner)
        if not keep.all():
            accepted = accepted.filter(pa.array(keep))
            owner = owner[keep]
    v.accepted, v.rejects, v.read = accepted, v.rejects.slice(0, 0), accepted.num_rows
    failed = {k: EventsRejected(r, len(batches[k])) for k, r in rejects.items()}
    return Prepared(v if accepted.num_rows else None, owner, [len(b) for b in batches], failed, counts)


#: the columns the store keys an event by (its content; ``Store.apply_load`` numbers equal rows)
_CONTENT = ("timestamp", "user_id", "item_id", "event", "quantity", "price", "session_id", "position", "surface",
            "propensity", "order_id", "attrs")


def _once_per_batch(accepted: pa.Table, owner: np.ndarray) -> np.ndarray:
    """Which rows of a group to write so that it stores what its batches would store one at a time.

    The store keys an event by its content and its occurrence number among equal rows of one write. A
    group commit writes several requests at once, so a retry that lands in the same group as its
    original (the client gave up waiting and sent the batch again) would otherwise be numbered on from
    the original and stored twice. Here an event that occurs ``n`` times in a batch is written ``max n``
    times over the group's batches: exactly what separate commits would have kept.
    """
    import pyarrow.compute as pc

    cols = [pc.fill_null(pc.cast(accepted[c], pa.string()), "") for c in _CONTENT if c in accepted.column_names]
    keys = pc.binary_join_element_wise(*cols, "\x1f").to_pylist()
    kept: dict[str, int] = {}       # content -> copies written so far (the most any batch holds)
    seen: dict[tuple[int, str], int] = {}  # (batch, content) -> occurrences in that batch so far
    keep = np.ones(len(keys), dtype=bool)
    for i, (k, h) in enumerate(zip(owner.tolist(), keys)):
        j = seen.get((k, h), 0)
        seen[(k, h)] = j + 1
        if j < kept.get(h, 0):
            keep[i] = False
        else:
            kept[h] = j + 1
    return keep


def commit(store: Store, prep: Prepared) -> list[Accepted | EventsRejected]:
    """Store the good batches of ``prep`` in ONE transaction; per batch, what happened to it.

    A store failure raises (then no batch was stored).
    """
    return commit_groups(store, [prep])[0]


def commit_groups(store: Store, preps: Sequence[Prepared]) -> list[list[Accepted | EventsRejected]]:
    """Several prepared groups in ONE transaction (the committer's catch-up after a slow commit)."""
    load_id = "api-" + uuid.uuid4().hex[:12]
    todo = [p.validated for p in preps if p.validated is not None]
    new = store.apply_load(load_id, SOURCE, todo).tables if todo else []
    out = []
    j = 0
    for p in preps:
        n_new = 0
        typed: list[dict[str, Any]] = []
        if p.validated is not None:
            n_new = new[j].new
            j += 1
            typed = p.validated.accepted.select(_LIVE_COLUMNS).to_pylist()
        per: list[Accepted | EventsRejected] = []
        for k, _ in enumerate(p.sizes):
            if k in p.failed:
                per.append(p.failed[k])
            else:
                mine = [typed[i] for i in np.flatnonzero(p.owner == k)]
                per.append(Accepted(load_id, p.counts[k] if p.counts else len(mine), n_new, mine))
        out.append(per)
    return out


def accept_many(store: Store, batches: Sequence[Sequence[Mapping[str, str | None]]]
                ) -> list[Accepted | EventsRejected]:
    """Validate several normalised batches at once and store the good ones in ONE transaction.

    This is the group commit of the API: requests that arrive while a commit runs are written
    together by the next one, so the fixed cost of a validation and a transaction is shared. Each
    batch stands or falls alone: a batch with a bad record gets its :class:`EventsRejected` and
    nothing of it is stored; the others are stored. Returns, per batch, what happened to it. A store
    failure raises (then no batch was stored).
    """
    return commit(store, prepare(batches))


def accept(store: Store, records: Sequence[Any]) -> Accepted:
    """Validate and store one batch in one transaction; returns only after the commit."""
    result = accept_many(store, [normalise(records)])[0]
    if isinstance(result, EventsRejected):
        raise result
    return result
