"""The shop assistant for the CLI and the API: ``ask(store, question, item_id=None)``.

Extractive only: every answer is sentences quoted from the catalog or the reviews, each with its
item and source (a catalog field, or a review id), so nothing is invented and everything can be
checked. No external model service is called; embeddings (``dense=True``) use the local encoder and
its store cache. Passages are kept per process and rebuilt when the items or reviews change.
"""

from __future__ import annotations

from typing import Any

from ..assistant.answer import AskConfig, PassageIndex, ask as _ask
from ..assistant.passages import load_passages
from ..data.store import Store, open_store
from ..errors import ConfigError, InputError
from ..logs import get_logger
from .ids import clean_id

log = get_logger(__name__)
_CACHE: dict[tuple, tuple[tuple, PassageIndex]] = {}


def _fingerprint(store: Store) -> tuple:
    out: list[Any] = []
    for t in ("items", "reviews"):
        if store.has_table(t):
            out.extend(store.query(f"SELECT count(*) AS n, max(load_id) AS l FROM {t}").to_pylist()[0].values())
    return tuple(str(x) for x in out)


def ask(store: Store | str | None, question: str, item_id: str | None = None, *, k: int = 3,
        dense: bool = False, encoder: str | None = None) -> dict[str, Any]:
    """An answer dict: question, answered (bool), answer (quoted sentences with [n] markers),
    citations (passage_id, item_id, source, ref, text, score, coverage), items, closest (when not answered)."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty", field="question")
    if k < 1:  # k = 0 used to quote every supporting sentence, a negative k to cut the list from its end
        raise InputError(f"k must be at least 1 (got {k})", field="k")
    item_id = clean_id(item_id, "item_id") if item_id is not None else None
    st, close = (store, False) if isinstance(store, Store) else (open_store(store), True)
    try:
        key = (st.url, item_id)
        fp = _fingerprint(st)
        hit = _CACHE.get(key)
        if hit and hit[0] == fp:
            passages = hit[1]
        else:
            passages = PassageIndex(load_passages(st, item_id))
            _CACHE[key] = (fp, passages)
        enc = None
        if dense:
            try:
                from ..text.encoder import Encoder

                enc = Encoder(encoder)
            except (ConfigError, ImportError, OSError) as exc:
                log.warning("answering without embeddings: %s", exc)
        return _ask(passages, question.strip(), AskConfig(k=k), encoder=enc, store=st if enc else None).as_dict()
    finally:
        if close:
            st.close()
