"""Load a shop folder into a store, exactly as SHOP_FORMAT.md says.

Every file is read and validated before anything is written, so a fatal problem in any file (missing
required column, unreadable file, wrong encoding) stops the load with the store as it was. Then all
tables are written in one transaction.
"""

from __future__ import annotations

import uuid
from pathlib import Path

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
        if parsed is None:
            log.info("skipping %s: not a table file", path)
            continue
        stem, _ = parsed
        if stem not in TABLES:
            log.warning("skipping %s: '%s' is not a shop table (%s)", path, stem, ", ".join(TABLES))
            continue
        if stem in found:
            raise SchemaError(f"holds two files for table '{stem}' ({found[stem].name} and {path.name}); "
                              "keep one", file=str(shop_dir))
        found[stem] = path
    if "events" not in found and "items" not in found:
        raise InputError(f"the shop folder {shop_dir} has neither an items nor an events table "
                         "(items.csv, events.csv, ... see SHOP_FORMAT.md)")
    return found


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
            log.info("%s: read %d, accepted %d, rejected %d", path.name, v.read, v.accepted.num_rows,
                     v.rejects.num_rows)
            out.append(v)
            bar.advance(path.stat().st_size)
    return out


def ingest(shop_dir: str | Path, store: Store) -> LoadResult:
    """Validate the folder, then write it to ``store`` in one transaction. Idempotent."""
    shop_dir = Path(shop_dir)
    batches = validate_shop(shop_dir)
    load_id = uuid.uuid4().hex[:12]
    result = store.apply_load(load_id, str(shop_dir.resolve()), batches)
    for t in result.tables:
        assert t.read == t.loaded + t.rejected, t  # the invariant the format promises
    return result
