"""Reading labelled or unlabelled text tables, and making text safe for models.

Every text model reads its input here so that bad input is handled once, the same way:

- a file that is not valid UTF-8, or not a table, stops with the file and line (from the shop readers);
- a missing text or label column names the columns the file does have;
- empty or whitespace-only text is never sent to a model: training drops such rows (counted), scoring
  keeps the row and writes an empty label and score (counted), so output rows still match input rows;
- lone surrogates and control characters are replaced, so no tokenizer ever sees undecodable text;
- HTML character references (``&amp;``, ``&#34;``) are decoded and HTML tags (``<br/>``, ``<p>``) become
  spaces, as scraped reviews often carry them (``<3`` and ``a < b`` are not tags and stay);
- very long text is cut to ``max_chars`` characters before tokenizing (counted), and tokenizers cut
  again at ``max_length`` tokens (counted by the model that does it).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..data.readers import read_file
from ..errors import InputError
from ..logs import get_logger

log = get_logger(__name__)

#: texts longer than this many characters are cut before any model sees them (counted in stats)
MAX_CHARS = 5000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]{0,500})?/?>")


def has_words(text: str) -> bool:
    """Whether a text holds any letter or digit (any script); emoji, symbols and punctuation do not count."""
    return any(unicodedata.category(c)[0] in "LN" for c in text)


@dataclass
class TextStats:
    """What cleaning did to a batch of texts: reported with every fit and every scoring run."""

    rows: int = 0
    empty: int = 0
    truncated_chars: int = 0
    truncated_tokens: int = 0
    repaired: int = 0  # texts that held undecodable characters (lone surrogates), replaced by U+FFFD

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "empty": self.empty, "truncated_chars": self.truncated_chars,
                "truncated_tokens": self.truncated_tokens, "repaired": self.repaired}


def clean_text(value: object, max_chars: int = MAX_CHARS, stats: TextStats | None = None) -> str:
    """One text made safe: a string, valid UTF-8, no control characters, at most ``max_chars`` long.

    Returns ``""`` for missing, non-string or whitespace-only values, which callers treat as empty.
    """
    if stats is not None:
        stats.rows += 1
    if not isinstance(value, str):
        if stats is not None:
            stats.empty += 1
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
        if stats is not None:
            stats.repaired += 1
    text = _CONTROL.sub(" ", value)
    if "&" in text and _ENTITY.search(text):
        text = _CONTROL.sub(" ", html.unescape(text))
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = text.strip()
    if not text:
        if stats is not None:
            stats.empty += 1
        return ""
    if len(text) > max_chars:
        text = text[:max_chars]
        if stats is not None:
            stats.truncated_chars += 1
    return text


def clean_texts(values: list[object], max_chars: int = MAX_CHARS) -> tuple[list[str], TextStats]:
    """:func:`clean_text` over a list, with the counts of what was done."""
    stats = TextStats()
    return [clean_text(v, max_chars, stats) for v in values], stats


@dataclass
class TextTable:
    """Texts (and labels, when asked for) from one file, in file order, with their line numbers."""

    path: Path
    texts: list[str]
    lines: list[int]
    labels: list[str] | None = None
    stats: TextStats = field(default_factory=TextStats)
    extra: dict[str, list[str | None]] = field(default_factory=dict)


def read_texts(path: str | Path, text_col: str, label_col: str | None = None,
               keep_cols: tuple[str, ...] = (), max_chars: int = MAX_CHARS) -> TextTable:
    """Read a .csv / .csv.gz / .jsonl(.gz) / .parquet file's text (and label) column.

    Rows are kept in file order, including rows whose text is empty (see the module notes); a row
    with text but no label is an error when labels are asked for, naming its line.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("the file does not exist", file=str(p))
    raw = read_file(p)
    if raw.rejects:
        first = raw.rejects[0]
        raise InputError(f"{len(raw.rejects)} records cannot be read as table rows "
                         f"(first: line {first.line}: {first.reason})", file=str(p), line=first.line)
    for col, what in ((text_col, "text"), (label_col, "label")):
        if col is not None and col not in raw.columns:
            raise InputError(f"has no {what} column '{col}'; its columns are: {', '.join(raw.columns)}",
                             file=str(p), field=col)
    for col in keep_cols:
        if col not in raw.columns:
            raise InputError(f"has no column '{col}'; its columns are: {', '.join(raw.columns)}",
                             file=str(p), field=col)
    lines = raw.data.column(raw.data.num_columns - 1).to_pylist()  # last: a file column may be "_line" too
    texts, stats = clean_texts(raw.data.column(text_col).to_pylist(), max_chars)
    labels = None
    if label_col is not None:
        labels = []
        for text, value, line in zip(texts, raw.data.column(label_col).to_pylist(), lines):
            label = value.strip() if isinstance(value, str) else ""
            if text and not label:
                raise InputError(f"has text but no label in column '{label_col}'; label every row or "
                                 "remove it", file=str(p), line=line, field=label_col)
            labels.append(label)
    extra = {c: raw.data.column(c).to_pylist() for c in keep_cols}
    if stats.empty:
        log.warning("%s: %d of %d rows have empty or whitespace-only text", p, stats.empty, stats.rows)
    return TextTable(p, texts, lines, labels, stats, extra)


def labelled_pairs(table: TextTable) -> tuple[list[str], list[str], int]:
    """The (texts, labels) of rows with text, and how many empty rows were dropped."""
    assert table.labels is not None
    keep = [(t, lab) for t, lab in zip(table.texts, table.labels) if t]
    dropped = len(table.texts) - len(keep)
    return [t for t, _ in keep], [lab for _, lab in keep], dropped


def check_labels(train_labels: list[str], valid_labels: list[str] | None = None,
                 where: str = "the training data") -> list[str]:
    """The sorted label set; refuses a single class, and validation labels never seen in training."""
    counts = Counter(train_labels)
    if len(counts) < 2:
        only = next(iter(counts), None)
        raise InputError(f"{where} has a single class ({only!r}, {sum(counts.values())} rows): a classifier "
                         "needs at least two labels")
    if valid_labels is not None:
        unseen = sorted(set(valid_labels) - set(counts))
        if unseen:
            raise InputError(f"the validation data has labels that the training data lacks: {unseen[:10]}; "
                             "add training rows for them or drop those validation rows")
        missing = sorted(set(counts) - set(valid_labels))
        if missing:
            log.warning("the validation data has no rows for labels %s; their scores are not validated",
                        missing[:10])
    return sorted(counts)
