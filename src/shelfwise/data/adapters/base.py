"""What every public-dataset adapter shares: its description, the writer of the shop folder, the report.

An adapter turns one public dataset into a shop folder (SHOP_FORMAT.md) so that every capability of
shelfwise can be tried on real data through the same door a shop uses: ``shelfwise ingest``. Adapters
therefore write only what the format defines, keep the rest of the source as extra columns (which the
format keeps as attributes), and account for every source row: each is either written or counted under
a reason in :attr:`ConversionReport.dropped`.

The writer stages every file in a hidden folder inside ``OUT_DIR`` and moves them into place only when
the whole conversion succeeded, so a failed conversion leaves ``OUT_DIR`` as it was.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import InputError, SchemaError
from ...logs import get_logger
from ...progress import task
from ..schema import TABLES, table_of

log = get_logger(__name__)

FORMATS = ("parquet", "csv")

DuckDB = duckdb.DuckDBPyConnection  # the connection type the adapters pass around


@dataclass(frozen=True)
class DatasetInfo:
    """What ``shelfwise datasets list`` shows about one adapter; facts taken from the dataset's SOURCE.md."""

    name: str
    title: str
    summary: str
    origin: str
    licence: str
    source_dir: str  # folder name under ../shared/data where the real files live
    src_hint: str  # what SRC may be
    tables: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)  # option name -> help text


@dataclass
class ConversionReport:
    """What one conversion read, wrote and dropped (with why), for the CLI and the tests."""

    dataset: str
    source: str
    out_dir: str
    format: str
    source_rows: dict[str, int] = field(default_factory=dict)  # source file -> data rows read
    written: dict[str, int] = field(default_factory=dict)  # shop table -> rows written
    files: dict[str, str] = field(default_factory=dict)  # shop table -> file written
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> source rows not written
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_dropped"] = self.total_dropped
        return out


@dataclass(frozen=True)
class Adapter:
    """One dataset: its description and the function that converts its files."""

    info: DatasetInfo
    convert: Callable[[Path, "ShopWriter", Mapping[str, str]], None]


class ShopWriter:
    """Writes shop tables into a staging folder and moves them into ``out_dir`` on success.

    Use as a context manager; adapters call :meth:`write`, :meth:`read_rows`, :meth:`drop` and
    :meth:`note`. ``overwrite`` allows replacing shop table files already in ``out_dir``; other files
    there are never touched.
    """

    def __init__(self, out_dir: str | Path, *, dataset: str, source: str | Path, fmt: str = "parquet",
                 overwrite: bool = False, expected_tables: int = 1) -> None:
        if fmt not in FORMATS:
            raise InputError(f"unknown output format '{fmt}': use one of {', '.join(FORMATS)}")
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.overwrite = overwrite
        self.report = ConversionReport(dataset, str(source), str(self.out_dir), fmt)
        self._expected = expected_tables
        self._stage: Path | None = None
        self._started = 0.0
        self._bar: Any = None
        self._bar_cm: Any = None
        self._created = False

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "ShopWriter":
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError(f"the output {self.out_dir} exists and is not a folder: give a folder for the shop")
        self._check_existing()
        self._created = not self.out_dir.exists()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._stage = self.out_dir / f".shelfwise-convert-{uuid.uuid4().hex[:8]}"
        self._stage.mkdir()
        self._started = time.perf_counter()
        self._bar_cm = task(f"converting {self.report.dataset}", total=self._expected)
        self._bar = self._bar_cm.__enter__()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self._bar_cm is not None:
                self._bar_cm.__exit__(None, None, None)
            if self._stage is not None and self._stage.exists():
                shutil.rmtree(self._stage, ignore_errors=True)
            if exc_type is not None and self._created and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()  # a failed conversion leaves no trace, not even the folder it made
        self.report.seconds = round(time.perf_counter() - self._started, 3)

    def _existing_tables(self) -> list[Path]:
        if not self.out_dir.is_dir():
            return []
        out = []
        for p in sorted(self.out_dir.iterdir()):
            parsed = table_of(p.name)
            if p.is_file() and parsed is not None and parsed[0] in TABLES:
                out.append(p)
        return out

    def _check_existing(self) -> None:
        existing = self._existing_tables()
        if existing and not self.overwrite:
            names = ", ".join(p.name for p in existing)
            raise InputError(f"the folder {self.out_dir} already holds shop tables ({names}); "
                             "choose an empty folder or pass --force to replace them")

    def _commit(self) -> None:
        assert self._stage is not None
        self._check_existing()
        for old in self._existing_tables():
            old.unlink()
        for table, staged in list(self.report.files.items()):
            final = self.out_dir / Path(staged).name
            Path(staged).replace(final)
            self.report.files[table] = str(final)
        log.info("wrote %s to %s", ", ".join(f"{t} ({n:,} rows)" for t, n in self.report.written.items()),
                 self.out_dir)

    # --- what adapters call -------------------------------------------------------------------
    def read_rows(self, source_file: str | Path, rows: int) -> None:
        """Record how many data rows a source file held (the total every row is accounted against)."""
        self.report.source_rows[Path(source_file).name] = int(rows)

    def drop(self, reason: str, rows: int) -> None:
        """Record ``rows`` source rows that were not written, and why (zero counts are not recorded)."""
        if rows:
            self.report.dropped[reason] = self.report.dropped.get(reason, 0) + int(rows)
            log.debug("%s: dropped %d rows: %s", self.report.dataset, rows, reason)

    def drop_counts(self, counts: Iterable[tuple[str, int]]) -> None:
        for reason, n in counts:
            self.drop(reason, n)

    def note(self, text: str) -> None:
        """A fact about the conversion a user should know (a choice made, a quirk of the source)."""
        self.report.notes.append(text)

    def write(self, table: str, data: pa.Table) -> Path:
        """Write one shop table (Arrow) to the staging folder in the chosen format."""
        if table not in TABLES:
            raise ValueError(f"'{table}' is not a shop table")
        missing = [c for c in TABLES[table].required if c not in data.column_names]
        if missing:
            raise ValueError(f"adapter bug: table '{table}' lacks required columns {missing}")
        if table in self.report.files:
            raise ValueError(f"adapter bug: table '{table}' written twice")
        assert self._stage is not None, "use ShopWriter as a context manager"
        if self.fmt == "parquet":
            path = self._stage / f"{table}.parquet"
            pq.write_table(_plain_strings(data), path, compression="zstd")
        else:
            path = self._stage / f"{table}.csv.gz"
            _write_csv_gz(data, path)
        self.report.written[table] = data.num_rows
        self.report.files[table] = str(path)
        if self._bar is not None:
            self._bar.advance()
        return path


def _plain_strings(data: pa.Table) -> pa.Table:
    """Cast string views / large strings to plain strings so that every Parquet reader takes the file."""
    fields = []
    for f in data.schema:
        t = f.type
        if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return data.cast(pa.schema(fields))


def _write_csv_gz(data: pa.Table, path: Path) -> None:
    """CSV with a header, gzip; nested values (lists, structs) written as JSON text."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("out_tbl", data)
        cols = []
        for f in data.schema:
            q = '"' + f.name.replace('"', '""') + '"'
            nested = pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_struct(f.type) \
                or pa.types.is_map(f.type)
            cols.append(f"to_json({q})::VARCHAR AS {q}" if nested else q)
        target = str(path).replace("'", "''")
        con.execute(f"COPY (SELECT {', '.join(cols)} FROM out_tbl) TO '{target}' "
                    "(FORMAT csv, HEADER true, COMPRESSION gzip)")
    finally:
        con.close()


# --- helpers the adapters share -----------------------------------------------------------------

def connect() -> DuckDB:
    """An in-memory DuckDB connection with UTC as its time zone (timestamps are naive UTC)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


def sql_path(path: Path) -> str:
    """A file path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def require_columns(path: Path, found: Iterable[str], expected: Iterable[str]) -> None:
    """Stop with one clear message when a source file lacks columns the adapter needs."""
    have = set(found)
    missing = [c for c in expected if c not in have]
    if missing:
        raise SchemaError(f"is missing the column(s) {', '.join(missing)} this dataset's adapter needs "
                          f"(found: {', '.join(sorted(have)) or 'none'}); is it the right file?", file=str(path))


def find_files(src: Path, patterns: tuple[str, ...], what: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    """``src`` itself when it is a file, else the files in the folder ``src`` matching ``patterns``."""
    if not src.exists():
        raise InputError(f"the source {src} does not exist: give the {what}")
    if src.is_file():
        return [src]
    found = sorted({p for pat in patterns for p in src.glob(pat)
                    if p.is_file() and p.name not in exclude and not p.name.startswith(".")})
    if not found:
        raise InputError(f"no {what} ({' or '.join(patterns)}) found in the folder {src}")
    return found


def check_options(name: str, options: Mapping[str, str | None], allowed: Iterable[str]) -> None:
    """Refuse options an adapter does not take, rather than ignoring them."""
    allowed = set(allowed)
    extra = [k for k, v in options.items() if v is not None and k not in allowed]
    if extra:
        takes = ", ".join(f"--{a}" for a in sorted(allowed)) or "no options"
        raise InputError(f"the '{name}' adapter does not take --{extra[0]} (it takes {takes})")


def drop_counts(con: DuckDB, table: str, column: str = "_drop") -> list[tuple[str, int]]:
    """(reason, rows) for the rows of ``table`` whose ``column`` holds a drop reason."""
    return [(r, int(n)) for r, n in con.execute(
        f"SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()]
