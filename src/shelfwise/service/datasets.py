"""Public datasets: list the adapters, convert a dataset's files into a shop folder.

The CLI (``shelfwise datasets``) and any other caller go through these two functions, which take plain
values and return plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from ..data.adapters import ADAPTERS, ConversionReport, ShopWriter, get_adapter
from ..errors import SchemaError

DEFAULT_SHARED_DIR = Path("../shared/data")


def list_datasets(shared_dir: str | Path = DEFAULT_SHARED_DIR) -> list[dict[str, Any]]:
    """Every adapter with what the dataset is, where it comes from, and where its files are expected.

    ``found`` tells whether the expected source folder exists under ``shared_dir`` (relative paths are
    taken from the current folder, as the repository's layout puts the datasets at ``../shared/data``).
    """
    root = Path(shared_dir)
    out = []
    for name, adapter in ADAPTERS.items():
        info = adapter.info
        path = root / info.source_dir
        out.append({
            "name": name, "title": info.title, "summary": info.summary, "origin": info.origin,
            "licence": info.licence, "source_path": str(path), "found": path.exists(),
            "src": info.src_hint, "tables": list(info.tables), "options": dict(info.options),
        })
    return out


def convert_dataset(name: str, src: str | Path, out_dir: str | Path, *, options: Mapping[str, str | None] | None = None,
                    fmt: str = "parquet", overwrite: bool = False) -> ConversionReport:
    """Convert the files of dataset ``name`` at ``src`` into a shop folder at ``out_dir``.

    ``options`` are the adapter's own (e.g. ``{"category": "Gift_Cards"}`` for amazon-2018); an option
    the adapter does not take is an error, not ignored. Nothing is left in ``out_dir`` when it fails.
    """
    adapter = get_adapter(name)
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    src = Path(src)
    with ShopWriter(out_dir, dataset=name, source=src, fmt=fmt, overwrite=overwrite,
                    expected_tables=len(adapter.info.tables)) as writer:
        try:
            adapter.convert(src, writer, opts)
        except duckdb.Error as exc:
            # a corrupt or foreign source file: DuckDB's reader fails (not gzip, not this CSV's shape, not
            # UTF-8). Its first line says what; the rest is a list of reader settings, not for users.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SchemaError(f"cannot be read as the '{name}' dataset ({first}); is it the right file, "
                              "complete and not corrupt? (see: shelfwise datasets list)", file=str(src)) from None
    return writer.report
