"""Review sentiment in English and Chinese: default models, scoring, and per-item summaries.

Each review is routed by script (``language_of``): a review whose CJK characters make at least as many
words as its words in other scripts goes to the Chinese model, every other review to the English one. The default models are trained by shelfwise
itself (``shelfwise sentiment train``) from the public review sets in ``../shared/data`` and live in
``<model_dir>/sentiment/<lang>``; any classifier folder trained with ``shelfwise finetune classify``
on labels ``positive`` / ``negative`` can take their place (``--model-en`` / ``--model-zh``).

Scoring the store writes two tables:

- ``review_sentiment``: review_key, item_id, language, label, probability (of positive), model_id;
- ``item_sentiment``: item_id, n_reviews, share_positive, mean_probability, trend (share positive in
  the later half of an item's dated reviews minus the earlier half; NULL under 4 dated reviews),
  complaint_terms (JSON list: the n-grams that the model counts as most negative, by how often they
  occur in the item's negative reviews), first_review, last_review.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError, ModelNotFound
from ..logs import get_logger
from .classify import ClassifierOptions, TextClassifier, train_classifier
from .inputs import clean_texts, has_words
from .linear import LinearParams, LinearTextModel

log = get_logger(__name__)

LANGS = ("en", "zh")
POSITIVE, NEGATIVE = "positive", "negative"
_LABEL_MAP = {"1": POSITIVE, "0": NEGATIVE, "pos": POSITIVE, "neg": NEGATIVE, "positive": POSITIVE,
              "negative": NEGATIVE, "true": POSITIVE, "false": NEGATIVE, "1.0": POSITIVE, "0.0": NEGATIVE}

#: the default method per language, chosen by measurement (see benchmarks/text.py and docs/TEXT.md)
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "en": {"method": "hybrid", "class_weight": "balanced"},
    "zh": {"method": "ensemble", "max_train_rows": 4000, "epochs": 1, "max_length": 96},
}


#: languages that are detected (so the language column is right) but have no sentiment model: not scored
UNSUPPORTED = ("ja", "ko")
_HAN = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))
_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))
_HANGUL = ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F))


def _in(c: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in ranges)


#: web addresses say nothing of a review's language and are long runs of Latin letters: left out
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
#: a run of letters or digits outside the CJK scripts; it counts as a word when it holds two letters
#: or more (single letters are mostly emoticon parts and units: "(⊙o⊙)", "Ω", "3D")
_RUN = re.compile(r"[^\W_]+")
#: about this many CJK characters make one word (Chinese words average 1.5-2 characters)
CHARS_PER_CJK_WORD = 1.5


def language_of(text: str) -> str:
    """'zh', 'en', 'ja', 'ko', or '' for a text with no letter or digit (emoji, punctuation: not scored).

    A text is CJK when its CJK characters (Han, kana, hangul), at 1.5 a word, make at least as many
    words as the letter words of other scripts, web addresses left out. Counting words rather than
    characters matters twice: "不错。。。。。。。。。" is Chinese although most of its characters are
    punctuation, and "这个 Bluetooth headset 音质不错" is Chinese although it holds more Latin letters
    than Han characters (its sentiment is in the Chinese words). Among CJK texts, hangul outweighing
    Han and kana makes it Korean, kana making up at least a fifth of those characters makes it Japanese
    (Chinese text has no kana), and anything else is Chinese (simplified or traditional). Every other
    text is 'en' (the English model also gets other languages written in Latin script).
    """
    if not has_words(text):
        return ""
    han = kana = hangul = 0
    rest: list[str] = []
    for c in _URL.sub(" ", text):
        if _in(c, _HAN):
            han += 1
        elif _in(c, _KANA):
            kana += 1
        elif _in(c, _HANGUL):
            hangul += 1
        else:
            rest.append(c)
            continue
        rest.append(" ")
    cjk = han + kana + hangul
    words = sum(1 for run in _RUN.findall("".join(rest)) if sum(ch.isalpha() for ch in run) >= 2)
    if cjk == 0 or cjk / CHARS_PER_CJK_WORD < words:
        return "en"
    if hangul > han + kana:
        return "ko"
    if kana >= 0.2 * cjk:
        return "ja"
    return "zh"


def default_model_dir(lang: str, model_dir: Path | None = None) -> Path:
    if model_dir is None:
        from ..config import get_settings

        model_dir = get_settings().model_dir
    return Path(model_dir) / "sentiment" / lang


def sentiment_label(value: object) -> str | None:
    """'positive' / 'negative' from the usual spellings (1/0, pos/neg, true/false), else None."""
    if value is None:
        return None
    return _LABEL_MAP.get(str(value).strip().lower())


def _number(value: object) -> float | None:
    try:
        v = float(str(value).strip())
    except ValueError:
        return None
    return v if v == v else None


def are_ratings(values: list[object]) -> bool:
    """Whether a label column holds star ratings: every value a whole number from 1 to 5, not only 1s.

    (A column of only 0s and 1s, or only 1s, is read as 1 = positive, 0 = negative.)
    """
    nums = [_number(v) for v in values]
    if not nums or any(v is None or v != int(v) or not 1 <= v <= 5 for v in nums):
        return False
    return any(v != 1 for v in nums)


def rating_label(value: object) -> str | None:
    """A star rating as sentiment, the rule the default English model is trained with: >= 4 positive,
    <= 2 negative, 3 neither (None)."""
    v = _number(value)
    if v is None or v == 3:
        return None
    return POSITIVE if v >= 4 else NEGATIVE


# --- training data from the shared public sets ----------------------------------------------------
def load_amazon(data_dir: Path) -> tuple[list[str], list[str]]:
    """Amazon 5-core reviews: rating >= 4 positive, <= 2 negative, 3 left out; text is ``reviewText``."""
    files = sorted((data_dir / "amazon-reviews-2018").glob("*_5.json.gz"))
    if not files:
        raise InputError(f"no Amazon 5-core review files (*_5.json.gz) under {data_dir / 'amazon-reviews-2018'}")
    texts, labels = [], []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not a JSON object: {exc}", file=str(f), line=line_no) from exc
                rating = r.get("overall")
                if rating is None or rating == 3:
                    continue
                texts.append(r.get("reviewText") or "")
                labels.append(POSITIVE if rating >= 4 else NEGATIVE)
    return texts, labels


def load_chinese(data_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """online_shopping_10_cats: (texts, labels, categories); label 1 positive, 0 negative."""
    path = data_dir / "chinese-online-shopping-10-cats" / "online_shopping_10_cats.csv.gz"
    if not path.exists():
        raise InputError(f"the Chinese review set is not at {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df["review"].tolist(), [sentiment_label(v) or "" for v in df["label"]], df["cat"].tolist()


def default_data_dir() -> Path:
    import os

    return Path(os.environ.get("SHELFWISE_SHARED_DATA", "../shared/data"))


def train_default(lang: str, data_dir: Path | None = None, out_dir: Path | None = None,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the default sentiment model of ``lang`` from the shared review sets."""
    if lang not in LANGS:
        raise InputError(f"unknown language '{lang}'; choose one of {', '.join(LANGS)}")
    data_dir = data_dir or default_data_dir()
    if not data_dir.is_dir():
        raise InputError(f"the shared data folder {data_dir} does not exist: pass --data DIR (the folder that "
                         "holds amazon-reviews-2018 and chinese-online-shopping-10-cats)")
    if lang == "en":
        raw, labels = load_amazon(data_dir)
        source = "amazon-reviews-2018 5-core"
    else:
        raw, labels, _ = load_chinese(data_dir)
        source = "chinese-online-shopping-10-cats"
    texts, stats = clean_texts(raw)
    opts = ClassifierOptions(**{**DEFAULT_OPTIONS[lang], **(overrides or {})})
    out = out_dir or default_model_dir(lang)
    report = train_classifier(texts, labels, out, opts, meta={"task": "sentiment", "language": lang,
                                                              "source": source, "text_stats": stats.as_dict()})
    report["out"] = str(out)
    return report


def train_from_file(path: Path, text_col: str, label_col: str, lang: str, out_dir: Path | None = None,
                    overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a sentiment model of ``lang`` from a labelled file (labels: positive/negative, 1/0, ...)."""
    from .inputs import read_texts

    from .inputs import check_labels

    table = read_texts(path, text_col, label_col)
    given = [lab for lab, text in zip(table.labels or [], table.texts) if text]
    ratings = are_ratings(given)
    labels = []
    neutral = 0
    for lab, line, text in zip(table.labels or [], table.lines, table.texts):
        mapped = rating_label(lab) if ratings else sentiment_label(lab)
        if text and mapped is None:
            if ratings:  # a rating of 3: neither positive nor negative, left out (counted)
                neutral += 1
                labels.append("")
                continue
            raise InputError(f"label '{lab}' is not a sentiment (positive/negative, 1/0, pos/neg, true/false, "
                             "or ratings 1-5 in every row)", file=str(path), line=line, field=label_col)
        labels.append(mapped or "")
    texts = [t if lab else "" for t, lab in zip(table.texts, labels)]
    if neutral:
        log.warning("%s: %d rows rated 3 are neither positive nor negative: left out of training", path, neutral)
    kept = [lab for t, lab in zip(texts, labels) if t]
    if kept:
        check_labels(kept, where=f"{path} (column '{label_col}')")
    opts = ClassifierOptions(**{**DEFAULT_OPTIONS.get(lang, {}), **(overrides or {})})
    out = out_dir or default_model_dir(lang)
    report = train_classifier(texts, labels, out, opts, meta={"task": "sentiment", "language": lang,
                                                              "source": str(path), "labels_from": "ratings"
                                                              if ratings else "labels"})
    report["out"] = str(out)
    report["labels_from"] = "ratings" if ratings else "labels"
    report["neutral_dropped"] = neutral
    report["empty_dropped"] = table.stats.empty
    return report


# --- scoring --------------------------------------------------------------------------------------
@dataclass
class SentimentModels:
    """The per-language classifiers, loaded on first use."""

    paths: dict[str, Path]

    def __post_init__(self) -> None:
        self._loaded: dict[str, TextClassifier] = {}

    def get(self, lang: str) -> TextClassifier:
        if lang not in self._loaded:
            path = self.paths[lang]
            if not (path / "manifest.json").exists():
                raise ModelNotFound(f"no {lang} sentiment model at {path}: build the default models with "
                                    "`shelfwise sentiment train` (from ../shared/data, or --data DIR), or point "
                                    f"--model-{lang} at a classifier trained with `shelfwise finetune classify`")
            clf = TextClassifier.load(path)
            if POSITIVE not in clf.classes:
                raise ModelNotFound(f"{path} is not a sentiment model: its labels are {clf.classes[:5]}, "
                                    f"without '{POSITIVE}'")
            self._loaded[lang] = clf
        return self._loaded[lang]

    @classmethod
    def default(cls, model_dir: Path | None = None, overrides: dict[str, Path | None] | None = None) -> "SentimentModels":
        paths = {lang: default_model_dir(lang, model_dir) for lang in LANGS}
        for lang, p in (overrides or {}).items():
            if p is not None:
                paths[lang] = Path(p)
        return cls(paths)


def share_positive(labels: pd.Series) -> float:
    """Positive labels over scored ones (empty label: not scored); NaN when nothing was scored.

    Why NaN: with no scored review the share is undefined (null in JSON, "n/a" in text); it used to
    read 0.0, which says every review was negative."""
    scored = int((labels != "").sum())
    return float((labels == POSITIVE).sum() / scored) if scored else float("nan")


def score_texts(texts: list[object], models: SentimentModels, store: Any = None) -> pd.DataFrame:
    """language, label, probability (of positive) and model per text, in input order.

    Empty texts, and texts with no letter or digit (only emoji, symbols or punctuation), get language ''
    and an empty label; Japanese and Korean texts get their language and an empty label (no model for
    them). No model sees these rows; ``attrs["unscored"]`` counts them by reason.
    """
    clean, stats = clean_texts(list(texts))
    langs = [language_of(t) if t else "" for t in clean]
    unscored = {"empty": sum(1 for t in clean if not t),
                "no_words": sum(1 for t, g in zip(clean, langs) if t and not g),
                "unsupported_language": sum(1 for g in langs if g in UNSUPPORTED)}
    if unscored["no_words"] or unscored["unsupported_language"]:
        log.warning("not scored: %d reviews with no letters or digits (emoji/punctuation only), %d in a "
                    "language without a sentiment model (%s)", unscored["no_words"],
                    unscored["unsupported_language"], ", ".join(UNSUPPORTED))
    out = pd.DataFrame({"language": langs, "label": [""] * len(clean), "probability": np.nan,
                        "model_id": [""] * len(clean)})
    # every model the texts need is loaded before any is used: a missing Chinese model used to surface
    # only after all the English rows were scored, minutes into a big file
    needed = {lang: models.get(lang) for lang in LANGS if lang in set(langs)}
    for lang, clf in needed.items():
        idx = [i for i, g in enumerate(langs) if g == lang]
        pred = clf.predict([clean[i] for i in idx], store=store)
        pos = clf.classes.index(POSITIVE)
        out.loc[idx, "label"] = pred.labels
        out.loc[idx, "probability"] = pred.proba[:, pos]
        out.loc[idx, "model_id"] = f"{lang}:{clf.manifest.get('settings_digest', '')}"
        stats.truncated_tokens += pred.truncated
        log.info("%s: %d reviews scored in %.1fs (%.0f/s)", lang, len(idx), pred.seconds,
                 len(idx) / pred.seconds if pred.seconds else 0)
    out.attrs["stats"] = stats.as_dict()
    out.attrs["unscored"] = unscored
    return out


def _trim_marks(term: str) -> str:
    """A term without the spaces, punctuation and symbols at its ends ("差，" -> "差")."""
    import unicodedata

    keep = [unicodedata.category(c)[0] in "LN" for c in term]
    if not any(keep):
        return ""
    first, last = keep.index(True), len(keep) - 1 - keep[::-1].index(True)
    return term[first:last + 1]


def complaint_terms(neg_texts: list[str], weights: dict[str, float], analyzer: Any, k: int = 5) -> list[str]:
    """The ``k`` most frequent strongly negative n-grams in an item's negative reviews (no nested repeats)."""
    counts: Counter[str] = Counter()
    for t in neg_texts:
        counts.update(g for g in set(analyzer(t)) if weights.get(g, 0.0) > 0)
    ranked = sorted(counts, key=lambda g: (-counts[g] * weights[g], g))
    picked: list[str] = []
    for g in ranked:
        shown = _trim_marks(g[2:] if g.startswith("w:") else g)  # word features of the CJK analyzer
        if len(shown) < 2 or any(shown in p or p in shown for p in picked):
            continue
        picked.append(shown)
        if len(picked) == k:
            break
    return picked


def _complaint_lexicon(clf: TextClassifier | None, texts: list[str], labels: list[str]) -> tuple[dict[str, float], Any]:
    """Term -> negativity weight (top 2,000 negative terms) and the analyzer that makes the terms.

    From the model's own n-gram part when it has one, else from a TF-IDF model fitted on the shop's
    reviews with the predicted labels (the terms that tell this shop's negative reviews apart).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    lin = clf.linear_part if clf is not None else None
    if lin is None or not lin.vocabulary:
        if len(set(labels)) < 2 or len(texts) < 4:
            return {}, None
        lin = LinearTextModel(LinearParams(min_df=1, C=1.0)).fit(texts, labels)
    w = lin.term_weights(NEGATIVE)
    top = sorted((t for t, v in w.items() if v > 0), key=lambda t: -w[t])[:2000]
    stop = ENGLISH_STOP_WORDS if lin.params.analyzer == "word" else frozenset()
    weights = {t: w[t] for t in top if not all(tok in stop for tok in t.split())}
    return weights, lin.vectorizer_.build_analyzer()


def item_summaries(reviews: pd.DataFrame, models: SentimentModels | None = None, k_terms: int = 5) -> pd.DataFrame:
    """Per item: n_reviews, share_positive, mean_probability, trend, complaint_terms, first/last review.

    ``reviews`` holds item_id, text, label, probability, language and optionally timestamp.
    """
    scored = reviews[reviews["label"] != ""].copy()
    lexicons: dict[str, tuple[dict[str, float], Any]] = {}
    for lang in LANGS:
        part = scored[scored["language"] == lang]
        if part.empty:
            continue
        clf = None
        if models is not None:
            try:
                clf = models.get(lang)
            except ModelNotFound:
                clf = None
        lexicons[lang] = _complaint_lexicon(clf, part["text"].tolist(), part["label"].tolist())
    has_time = "timestamp" in scored.columns
    rows = []
    for item_id, g in scored.groupby("item_id", sort=True):
        pos = (g["label"] == POSITIVE).to_numpy()
        trend = None
        if has_time:
            dated = g.dropna(subset=["timestamp"]).sort_values("timestamp", kind="stable")
            if len(dated) >= 4:
                half = len(dated) // 2
                lab = (dated["label"] == POSITIVE).to_numpy()
                trend = float(lab[half:].mean() - lab[:half].mean())
        terms: list[str] = []
        neg = g[g["label"] == NEGATIVE]
        for lang, part in neg.groupby("language"):
            weights, analyzer = lexicons.get(lang, ({}, None))
            if analyzer is not None:
                terms += complaint_terms(part["text"].tolist(), weights, analyzer, k_terms)
        rows.append({"item_id": item_id, "n_reviews": int(len(g)), "share_positive": float(pos.mean()),
                     "mean_probability": float(g["probability"].mean()), "trend": trend,
                     "complaint_terms": json.dumps(terms[:k_terms], ensure_ascii=False),
                     "first_review": g["timestamp"].min() if has_time else None,
                     "last_review": g["timestamp"].max() if has_time else None})
    return pd.DataFrame(rows, columns=["item_id", "n_reviews", "share_positive", "mean_probability", "trend",
                                       "complaint_terms", "first_review", "last_review"])


def score_store(store: Any, models: SentimentModels) -> dict[str, Any]:
    """Score every review in the store; write ``review_sentiment`` and ``item_sentiment`` (replaced)."""
    if not store.has_table("reviews") or store.count("reviews") == 0:
        raise InputError(f"the store {store.url} has no reviews: ingest a shop with a reviews table first")
    reviews = store.query("SELECT review_key, item_id, text, timestamp FROM reviews ORDER BY review_key").to_pandas()
    scored = score_texts(reviews["text"].tolist(), models, store=store)
    reviews = pd.concat([reviews.reset_index(drop=True), scored], axis=1)
    review_table = pa.Table.from_pandas(
        reviews[["review_key", "item_id", "language", "label", "probability", "model_id"]], preserve_index=False)
    store.write("review_sentiment", review_table, mode="replace")
    items = item_summaries(reviews, models)
    store.write("item_sentiment", pa.Table.from_pandas(items, preserve_index=False), mode="replace")
    by_lang = reviews["language"].replace("", "none").value_counts().to_dict()
    return {"reviews": int(len(reviews)), "scored": int((reviews["label"] != "").sum()),
            "by_language": by_lang, "items": int(len(items)),
            "share_positive": share_positive(reviews["label"]),
            "text_stats": scored.attrs.get("stats", {}), "unscored": scored.attrs.get("unscored", {})}
