"""Reading and writing plain result tables: experiment inputs and outputs (A/B results, policy
probability files) and every file a command writes with ``--out`` (lifecycle stages, forecasts, advice).

Accepted: ``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl`` and ``.jsonl.gz``, like a shop table, and
``.json`` (one array of records, for people and tools that want a single JSON document). Every column
is read as text so that ids keep their spelling; callers convert the columns they use and name the file,
line and column of any value they cannot use (:func:`line_of`).

:func:`write_table` is the one writer of result files in shelfwise. It lives here, in the library,
because both the experiment code and the service layer write such files and the service layer may
import the library but not the other way round (docs: DESIGN.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError, SchemaError
from ..paths import check_folders_can_be_made

#: the file types read and written, longest first so that ``.csv.gz`` is not taken for ``.gz``
SUFFIXES = (".csv.gz", ".jsonl.gz", ".csv", ".jsonl", ".json", ".parquet")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in SUFFIXES:
        if name.endswith(s):
            return s
    raise InputError(f"unknown table format: use a {', '.join(SUFFIXES[2:])} or compressed "
                     f"{' or '.join(SUFFIXES[:2])} file name", file=str(path))


def check_writable(path: str | Path | None, formats: tuple[str, ...] = SUFFIXES, field: str = "out") -> Path | None:
    """``path`` as a Path when it names a file of one of ``formats`` (by default what :func:`write_table`
    writes); None when no file is asked for; else an input error (naming ``field``, the option's name) about
    the formats, or the file that stands where a parent folder would have to be made.

    Commands call it before any work, so a misspelt ``--out`` (or a folder) fails at once, not after
    minutes of computing (and without storing a result that was never written).
    """
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise InputError(f"is a folder: give a file name ending in {' or '.join(formats)}", file=str(p), field=field)
    if not p.name.lower().endswith(formats):
        raise InputError(f"unsupported file type '{p.suffix or '(none)'}': the output must end in "
                         f"{' or '.join(formats)}", file=str(p), field=field)
    check_folders_can_be_made(p, field)
    return p


def read_table(path: str | Path) -> pd.DataFrame:
    """The whole file as strings (missing values as None), in file order."""
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", file=str(p))
    suffix = _suffix(p)
    try:
        if suffix.startswith(".csv"):
            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        elif suffix.startswith(".jsonl"):
            df = pd.read_json(p, lines=True, dtype=False).astype(object)
        elif suffix == ".json":
            df = pd.read_json(p, orient="records", dtype=False).astype(object)
        else:
            df = pd.read_parquet(p)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SchemaError(f"cannot be read as a table: {exc}", file=str(p)) from exc
    out = df.astype(object).where(df.notna(), None)
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [None if v is None else str(v) for v in out[c]]
    out.attrs["path"] = str(p)
    out.attrs["first_line"] = 2 if suffix.startswith(".csv") else 1
    return out


def line_of(df: pd.DataFrame, index: int) -> int | None:
    """The file line of row ``index`` (header counted for CSV), for error messages."""
    first = df.attrs.get("first_line")
    return None if first is None else int(index) + int(first)


def require(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
                          file=df.attrs.get("path"))


def numeric(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats; the first unparsable value raises with its file, line and column."""
    vals = pd.to_numeric(df[column], errors="coerce")
    bad = vals.isna() & df[column].notna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"'{df[column].iloc[i]}' in column '{column}' is not a number",
                         file=df.attrs.get("path"), line=line_of(df, i), field=column)
    return vals.astype(float)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` by file name: CSV (``.csv``, ``.csv.gz``), Parquet, JSON lines (``.jsonl``,
    ``.jsonl.gz``) or one JSON array of records (``.json``); returns the path.

    No index column; dates and times in JSON are ISO 8601 text (as in a shop table, and readable by
    people), not epoch milliseconds. Parent folders are created.
    """
    p = Path(path)
    suffix = _suffix(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            df.to_parquet(p, index=False)
        elif suffix.startswith(".csv"):
            df.to_csv(p, index=False)
        elif suffix.startswith(".jsonl"):
            df.to_json(p, orient="records", lines=True, date_format="iso")
        else:
            df.to_json(p, orient="records", date_format="iso", indent=1)
    except OSError as exc:  # a full disk, no permission, a read-only place: one line naming the file
        raise InputError(f"cannot write the result file: {exc.strerror or exc}", file=str(p), field="out") from None
    return p
