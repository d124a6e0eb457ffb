"""Load a shop folder into a store, exactly as SHOP_FORMAT.md says.

Every file is read and validated before anything is written, so a fatal problem in any file (missing
required column, unreadable file, wrong encoding) stops the load with the store as it was. Then all
tables are written in one transaction.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow.compute as pc

from ..errors import InputError, SchemaError
from ..logs import get_logger
from ..progress import task
from .readers import read_file
from .schema import TABLES, table_of
from .store.base import LoadResult, Store
from .validate import Validated, validate

log = get_logger(__name__)

# items before events so that a catalog is in place when events arrive; the order does not change results
_ORDER = ("items", "users", "events", "reviews", "stock")


def shop_files(shop_dir: Path) -> dict[str, Path]:
    """The table files of a shop folder, one per table; unknown files are listed in the log, not loaded."""
    if not shop_dir.exists():
        raise InputError(f"the shop folder {shop_dir} does not exist")
    if not shop_dir.is_dir():
        raise InputError(f"{shop_dir} is not a folder: give the folder that holds items.csv, events.csv, ...")
    found: dict[str, Path] = {}
    for path in sorted(shop_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        parsed = table_of(path.name)
        if parsed is None or parsed[0] not in TABLES:
            meant = table_of(path.name.lower())
            if meant is not None and meant[0] in TABLES:
                # 'Items.csv', 'events.CSV': names are case-sensitive, and such a file used to be skipped
                # with an info line only, so a table the user meant to load silently went missing
                log.warning("skipping %s: file names are case-sensitive; rename it to %s to load it as the "
                            "'%s' table", path, "".join(meant), meant[0])
            elif parsed is None:
                log.info("skipping %s: not a table file", path)
            else:
                log.warning("skipping %s: '%s' is not a shop table (%s)", path, parsed[0], ", ".join(TABLES))
            continue
        stem, _ = parsed
        if stem in found:
            raise SchemaError(f"holds two files for table '{stem}' ({found[stem].name} and {path.name}); "
                              "keep one", file=str(shop_dir))
        found[stem] = path
    if "events" not in found and "items" not in found:
        raise InputError(f"the shop folder {shop_dir} has neither an items nor an events table "
                         "(items.csv, events.csv, ... see SHOP_FORMAT.md)")
    return found


def _warn_duplicate_keys(path: Path, v: Validated) -> None:
    """Say when one key has several rows in a file: the last one is kept (SHOP_FORMAT), the rest replaced."""
    key = v.spec.key
    if len(key) != 1 or key[0] not in v.accepted.column_names or v.accepted.num_rows < 2:
        return
    if pc.count_distinct(v.accepted.column(key[0])).as_py() == v.accepted.num_rows:
        return  # the usual case, without grouping
    counts = v.accepted.group_by(key[0]).aggregate([("source_line", "list")])
    lines = counts.column("source_line_list").to_pylist()
    repeated = [i for i, ls in enumerate(lines) if len(ls) > 1]
    if not repeated:
        return
    first = repeated[0]
    example = counts.column(key[0])[first].as_py()
    shown = ", ".join(str(n) for n in sorted(lines[first])[:5]) + (", ..." if len(lines[first]) > 5 else "")
    log.warning("%s: %d %s value(s) appear on more than one row (e.g. '%s' on lines %s); the last row of "
                "each is kept", path.name, len(repeated), key[0], example, shown)


def validate_shop(shop_dir: Path) -> list[Validated]:
    """Read and validate every table file; raises before any write when a file is unusable."""
    files = shop_files(shop_dir)
    out: list[Validated] = []
    total = sum(p.stat().st_size for p in files.values())
    with task(f"reading {shop_dir.name}", total=total) as bar:
        for name in _ORDER:
            path = files.get(name)
            if path is None:
                continue
            raw = read_file(path)
            v = validate(raw, TABLES[name])
            _warn_duplicate_keys(path, v)
            log.info("%s: read %d, accepted %d, rejected %d", path.name, v.read, v.accepted.num_rows,
                     v.rejects.num_rows)
            out.append(v)
            bar.advance(path.stat().st_size)
    return out


def shop_path(shop_dir: str | Path) -> Path:
    """The folder as loads name it: by its absolute path, so the same folder spelt 'shop', './shop/' or
    '/abs/shop' is one source (rejects are keyed by file, line and text, so they are stored once)."""
    return Path(shop_dir).expanduser().resolve()


def ingest(shop_dir: str | Path, store: Store) -> LoadResult:
    """Validate the folder, then write it to ``store`` in one transaction. Idempotent."""
    shop_dir = shop_path(shop_dir)
    return load_validated(shop_dir, validate_shop(shop_dir), store)


def load_validated(shop_dir: Path, batches: list[Validated], store: Store) -> LoadResult:
    """Write the batches of :func:`validate_shop` to ``store`` in one transaction.

    Apart from :func:`ingest` so that a caller can validate before it opens (and so creates) a store: a
    folder with an unusable file then leaves no new, empty store behind.
    """
    load_id = uuid.uuid4().hex[:12]
    result = store.apply_load(load_id, str(shop_dir), batches)
    for t in result.tables:
        assert t.read == t.loaded + t.rejected, t  # the invariant the format promises
    return result
