"""Tokens for lexical search: words (English and Chinese) and character n-grams (typo tolerance).

Why three views of the same text: whole words give precise matches (BM25's strength), character
trigrams of each word still overlap when a shopper mistypes ("headphnes" shares "hea", "ead", "pho",
"nes" with "headphones"), and Chinese has no spaces, so its runs are cut into words by jieba plus
character bigrams (jieba's dictionary misses product names; bigrams still match them).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

#: common English function words; they carry no product meaning and only add noise to BM25
STOPWORDS = frozenset("""a an and are as at be but by for from has have i in is it its of on or so that the
this to was were will with my me we you your our they them their he she his her it's i'm im than then
very just about all also been can could do does did had if into more most not no only other out some such
too up us what when which who would""".split())


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, accents dropped."""
    text = unicodedata.normalize("NFKC", text).lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def stem(word: str) -> str:
    """A light English stemmer (plural and common verb endings), enough to match 'gifts' with 'gift'."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "sses", "zes")):
                return word[:-1]
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + repl
    return word


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _cjk_tokens(run: str) -> list[str]:
    words = [w for w in _jieba().lcut_for_search(run) if w.strip()]
    bigrams = [run[i:i + 2] for i in range(len(run) - 1)]
    return words + bigrams if len(run) > 1 else [run]


def words(text: object) -> list[str]:
    """Stemmed word tokens without stopwords; Chinese runs become jieba words plus character bigrams."""
    if not isinstance(text, str) or not text:
        return []
    out: list[str] = []
    for tok in _WORD.findall(normalise(text)):
        if _CJK.match(tok):
            out.extend(_cjk_tokens(tok))
        elif tok not in STOPWORDS:
            out.append(stem(tok.replace("'", "")))
    return out


def char_ngrams(text: object, n: int = 3) -> list[str]:
    """Character n-grams of each (unstemmed, non-stopword) Latin word, padded with word boundaries."""
    if not isinstance(text, str) or not text:
        return []
    out: list[str] = []
    for tok in _WORD.findall(normalise(text)):
        if _CJK.match(tok) or tok in STOPWORDS or len(tok) < 3:
            continue
        padded = f"^{tok}$"
        out.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return out


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text or ""))
