"""Product search for the CLI and the API: ``search`` (one query) and ``search_file`` (a queries CSV).

The index is built from the store on first use and kept per process, keyed by the store's URL and a
fingerprint of its items, reviews and events (row counts and latest timestamps), so the API answers
from memory and rebuilds only when the shop changed. Item embeddings come from the store's cache
(``text_embeddings``), so a rebuild re-encodes only new or changed items. With no encoder installed
(or ``dense=False``), search is lexical plus behaviour.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.store import Store, open_store
from ..errors import ConfigError, InputError
from ..experiment.tables import check_writable, write_table
from ..logs import get_logger
from ..search.behaviour import item_behaviour
from ..search.catalog import load_catalog
from ..search.index import SearchConfig, SearchIndex
from ..search.tokenize import char_ngrams, words

log = get_logger(__name__)

RESULT_COLUMNS = ["query_id", "rank", "item_id", "score"]
_INDEXES: dict[tuple, tuple[tuple, SearchIndex, dict[str, str]]] = {}


@dataclass
class SearchResult:
    """One hit: rank from 1, the fused score, its parts (how much each signal added) and the title."""

    rank: int
    item_id: str
    score: float
    title: str
    parts: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fingerprint(store: Store) -> tuple:
    parts: list[Any] = []
    for table, ts in (("items", None), ("reviews", "timestamp"), ("events", "timestamp")):
        if store.has_table(table):
            sel = f"count(*), max({ts})" if ts else "count(*), max(load_id)"
            parts.extend(store.query(f"SELECT {sel} FROM {table}").to_pylist()[0].values())
    return tuple(str(p) for p in parts)


def build_index(store: Store, *, dense: bool = True, encoder: str | None = None, with_reviews: bool = True,
                config: SearchConfig | None = None) -> tuple[SearchIndex, dict[str, str]]:
    """The search index over the store's catalog and the item titles (cached per process)."""
    key = (store.url, dense, encoder, with_reviews, config)
    fp = _fingerprint(store)
    cached = _INDEXES.get(key)
    if cached and cached[0] == fp:
        return cached[1], cached[2]
    cat = load_catalog(store, with_reviews=with_reviews)
    if not cat.item_ids:
        raise InputError("the store's items table is empty: nothing to search")
    enc, vectors = None, None
    if dense:
        try:
            from ..text.encoder import Encoder

            enc = Encoder(encoder)
            vectors = enc.encode_cached(cat.semantic, store, prompt_name=enc.prompt_for("passage"))
        except (ConfigError, ImportError, OSError) as exc:
            if encoder is not None:
                # an encoder the caller named (--encoder) is a request, not a preference: a typo used to
                # give lexical-only results with exit 0 and a warning in the log
                raise InputError(f"the encoder asked for cannot be used: {exc}", field="encoder") from exc
            log.warning("search without embeddings (lexical + behaviour only): %s", exc)
            enc, vectors = None, None
    index = SearchIndex(cat.item_ids, cat.lexical, encoder=enc, vectors=vectors,
                        behaviour=item_behaviour(store, cat.item_ids), config=config)
    titles = dict(zip(cat.item_ids, cat.titles))
    _INDEXES[key] = (fp, index, titles)
    return index, titles


def _store(store: Store | str | None) -> tuple[Store, bool]:
    return (store, False) if isinstance(store, Store) else (open_store(store), True)


def search(store: Store | str | None, query: str, k: int = 10, *, exclude: list[str] | None = None,
           boosts: dict[str, float] | None = None, dense: bool = True,
           encoder: str | None = None, with_reviews: bool = True) -> list[dict[str, Any]]:
    """The top ``k`` items for ``query`` as dicts: rank, item_id, score, title, parts.

    ``exclude`` (item ids never shown, e.g. blocked by an exposure policy or out of stock) and
    ``boosts`` (item id -> amount added to the fused score) are how exposure policies apply.

    A store with no catalogue yet answers no hits (with a warning in the log), as recommendations and
    questions do on an empty shop: the query is not at fault, so it is not refused as bad input."""
    if not isinstance(query, str) or not query.strip():
        raise InputError("the search query is empty: give some words to search for", field="q")
    _check_k(k)
    st, close = _store(store)
    try:
        if not st.has_table("items") or st.count("items") == 0:
            log.warning("search for %r: the store %s has no items yet (load a catalogue: shelfwise ingest)",
                        query, st.url)
            return []
        if not words(query) and not char_ngrams(query):
            # nothing for BM25 to match: the hits are the behaviour prior (and embeddings), which looks
            # like an answer to the query unless someone says so
            log.warning("search for %r: no searchable words (only stop words, punctuation or very short "
                        "words); hits are ordered by popularity%s", query, " and embeddings" if dense else "")
        index, titles = build_index(st, dense=dense, encoder=encoder, with_reviews=with_reviews)
        hits = index.search([query], k, exclude=set(exclude or ()), boosts=boosts)[0]
    finally:
        if close:
            st.close()
    return [SearchResult(r, h.item_id, round(h.score, 6), titles.get(h.item_id, ""),
                         {n: round(v, 6) for n, v in h.parts.items()}).as_dict() for r, h in enumerate(hits, 1)]


def write_results(df: pd.DataFrame, out: str | Path) -> Path:
    """Write ``query_id,rank,item_id,score`` rows by ``out``'s name (parent folders are created)."""
    path = write_table(df, out)
    log.info("wrote %d search result rows to %s", len(df), path)
    return path


def _check_k(k: int) -> None:
    if k < 1:
        raise InputError(f"k must be at least 1 (got {k})", field="k")


def read_queries(path: str | Path) -> pd.DataFrame:
    """A CSV with columns ``query_id,query``; names the line of any row without a query.

    A folder or a file that is not UTF-8 text is refused with the file named (not a traceback)."""
    p = Path(path)
    if not p.exists():
        raise InputError("queries file not found", file=str(p))
    if not p.is_file():
        raise InputError("is not a file: give a CSV with the header query_id,query", file=str(p))
    try:
        return _read_queries(p)
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text ({exc.reason}); save the queries as UTF-8 CSV",
                         file=str(p)) from None


def _read_queries(p: Path) -> pd.DataFrame:
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in ("query_id", "query") if c not in cols]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}; the header must be query_id,query "
                             f"(found: {', '.join(cols) or 'nothing'})", file=str(p), line=1)
        rows = []
        first_line: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            qid, q = (row.get("query_id") or "").strip(), (row.get("query") or "").strip()
            if not qid:
                raise InputError("empty query_id", file=str(p), line=line, field="query_id")
            if not q:
                raise InputError(f"query {qid!r} has no text", file=str(p), line=line, field="query")
            if qid in first_line:  # the output is keyed by query_id: two queries would merge into one list
                raise InputError(f"query_id {qid!r} already used on line {first_line[qid]}; each query needs "
                                 "its own id", file=str(p), line=line, field="query_id")
            first_line[qid] = line
            rows.append((qid, q))
    if not rows:
        raise InputError("no queries: the file has a header but no rows", file=str(p))
    return pd.DataFrame(rows, columns=["query_id", "query"])


def search_many(store: Store | str | None, queries: pd.DataFrame, k: int = 10, *, dense: bool = True,
                encoder: str | None = None, with_reviews: bool = True) -> pd.DataFrame:
    """``query_id,rank,item_id,score`` for every query (rank from 1)."""
    _check_k(k)  # as for one query: k = 0 used to answer every query with nothing, silently
    st, close = _store(store)
    try:
        index, _ = build_index(st, dense=dense, encoder=encoder, with_reviews=with_reviews)
        hits = index.search(queries["query"].tolist(), k)
    finally:
        if close:
            st.close()
    rows = [(qid, r, h.item_id, round(h.score, 6))
            for qid, hs in zip(queries["query_id"], hits) for r, h in enumerate(hs, 1)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def search_file(db: str | None, queries_path: str | Path, k: int = 10, out: str | Path | None = None,
                dense: bool = True, encoder: str | None = None, with_reviews: bool = True) -> pd.DataFrame:
    """Run every query of a ``query_id,query`` CSV; write ``query_id,rank,item_id,score`` to ``out``
    (its type by its name, as every ``--out``; checked before the queries run)."""
    check_writable(out)
    df = search_many(db, read_queries(queries_path), k, dense=dense, encoder=encoder, with_reviews=with_reviews)
    if out:
        write_results(df, out)
    return df
