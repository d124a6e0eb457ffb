"""Answer a shopper's question extractively, with the passages and items it came from, or abstain.

Retrieval: BM25 over the passages (words and character trigrams, as in search, so typos and Chinese
work), optionally fused with encoder embeddings. Why abstain on *coverage*: BM25 always returns
something, and a passage that shares only "battery" with "how long does the battery last on a
plane?" is no answer. A passage supports an answer when it holds at least ``min_coverage`` of the
question's idf mass (its content words, weighted by how specific they are); with embeddings, a cosine
of at least ``min_cosine`` also counts. When no passage qualifies, the answer says plainly that the
catalog and the reviews hold no answer, and still lists the nearest passages as "closest".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..search.bm25 import BM25
from ..search.tokenize import char_ngrams, words
from .passages import Passages

NO_ANSWER = "The catalog and the reviews hold no answer to this question."

#: words that make a sentence a question but say nothing about the product
QUESTION_WORDS = frozenset("""how much many why where whether there any anyone anybody know tell please really
get come thing things need want would should shall may might ok okay hi hello thanks thank""".split())


def content_words(question: str) -> list[str]:
    return list(dict.fromkeys(w for w in words(question) if w not in QUESTION_WORDS))


@dataclass(frozen=True)
class AskConfig:
    k: int = 3                  # passages quoted in an answer
    min_coverage: float = 0.6   # share of the question's idf mass a passage must contain
    min_cosine: float = 0.6     # with embeddings: a passage this close in meaning also qualifies
    w_chars: float = 0.3


@dataclass
class Citation:
    passage_id: int
    item_id: str
    source: str
    ref: str
    text: str
    score: float
    coverage: float


@dataclass
class Answer:
    question: str
    answered: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    closest: list[Citation] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _coverage(question: str, texts: list[str], bm: BM25) -> np.ndarray:
    """Per passage: idf mass of the question's words found in it, over the question's idf mass."""
    q = content_words(question)
    if not q:
        return np.zeros(len(texts))
    top = float(bm.idf.max()) if len(bm.idf) else 1.0
    idf = np.array([float(bm.idf[bm.vocab[t]]) if t in bm.vocab else top for t in q])
    out = np.zeros(len(texts))
    for i, t in enumerate(texts):
        toks = set(words(t))
        out[i] = idf[[w in toks for w in q]].sum() / idf.sum()
    return out


class PassageIndex:
    """The passages with their word and trigram BM25 indexes, built once and reused for every question."""

    def __init__(self, passages: Passages) -> None:
        self.frame = passages.frame
        self.texts = self.frame["text"].tolist()
        self.words = BM25(words).fit(self.texts)
        self.chars = BM25(char_ngrams, b=0.5).fit(self.texts)


def ask(passages: Passages | PassageIndex, question: str, config: AskConfig | None = None,
        encoder: object | None = None, store: object | None = None) -> Answer:
    """Quote the passages that answer ``question`` (see the module docstring for when it abstains)."""
    cfg = config or AskConfig()
    index = passages if isinstance(passages, PassageIndex) else PassageIndex(passages)
    df = index.frame
    if df.empty:
        return Answer(question, False, NO_ANSWER)
    texts, bm_w, bm_c = index.texts, index.words, index.chars
    sw = bm_w.scores([question])[0]
    sc = bm_c.scores([question])[0]
    score = sw / sw.max() if sw.max() > 0 else sw
    score = score + cfg.w_chars * (sc / sc.max() if sc.max() > 0 else sc)
    cos = None
    if encoder is not None:
        vecs = encoder.encode_cached(texts, store) if store is not None else encoder.encode(texts)
        qv = encoder.encode([question])[0]
        cos = vecs @ qv
        score = score + np.clip(cos, 0, None)
    cand = np.argsort(-score, kind="stable")[: max(cfg.k * 10, 30)]
    cov = _coverage(question, [texts[i] for i in cand], bm_w)
    ok = cov >= cfg.min_coverage
    if cos is not None:
        ok |= cos[cand] >= cfg.min_cosine
    # rank supported passages by coverage first (they answer more of the question), then by score
    order = sorted(range(len(cand)), key=lambda j: (-round(cov[j], 2), -score[cand[j]]))

    def cite(j: int) -> Citation:
        r = df.iloc[cand[j]]
        return Citation(int(r.passage_id), str(r.item_id), str(r.source), str(r.ref), str(r.text),
                        round(float(score[cand[j]]), 4), round(float(cov[j]), 3))

    chosen, seen = [], set()
    for j in order:
        if ok[j] and texts[cand[j]] not in seen:
            chosen.append(cite(j))
            seen.add(texts[cand[j]])
        if len(chosen) == cfg.k:
            break
    if not chosen:
        # "closest" means sharing something with the question: a passage scoring 0 (a question of stop
        # words, or words no passage has) is just the first in the table, so it is not listed
        near = [j for j in order if score[cand[j]] > 0][: cfg.k]
        return Answer(question, False, NO_ANSWER, closest=[cite(j) for j in near])
    items = list(dict.fromkeys(c.item_id for c in chosen))
    text = " ".join(f"{c.text} [{n}]" for n, c in enumerate(chosen, 1))
    return Answer(question, True, text, chosen, items)
