"""Search on a tiny shop with known answers (no encoder: lexical + behaviour, plus a toy encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.search.bm25 import BM25
from shelfwise.search.index import SearchConfig, SearchIndex
from shelfwise.search.tokenize import char_ngrams, stem, words
from shelfwise.service import search as svc

ITEMS = [
    ("i1", "Wireless headphones with noise cancelling", "Electronics > Audio"),
    ("i2", "Wired headphones for kids", "Electronics > Audio"),
    ("i3", "Ceramic coffee mug", "Home > Kitchen"),
    ("i4", "Stainless steel coffee mug", "Home > Kitchen"),
    ("i5", "蓝牙耳机 无线 降噪", "电子 > 音频"),
    ("i6", "Garden hose 20m", "Garden"),
]


@pytest.fixture()
def shop_store(tmp_path: Path, store):
    shop = tmp_path / "shop"
    shop.mkdir()
    pd.DataFrame(ITEMS, columns=["item_id", "title", "category"]).to_csv(shop / "items.csv", index=False)
    # i4 sells far more than i3: it must win the "coffee mug" tie
    ev = [("2024-01-01T10:00:00", f"u{n}", "i4", "purchase") for n in range(30)]
    ev += [("2024-01-01T10:00:00", "u1", "i3", "view")]
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event"]).to_csv(shop / "events.csv", index=False)
    ingest(shop, store)
    return store


def test_tokenize_stems_and_segments_chinese():
    assert stem("headphones") == "headphone" and stem("mugs") == "mug" and stem("glass") == "glass"
    assert "coffee" in words("The Coffee MUGS") and "the" not in words("The Coffee MUGS")
    zh = words("无线蓝牙耳机")
    assert "耳机" in zh and "蓝牙" in zh
    assert "^he" in char_ngrams("headphones") and "es$" in char_ngrams("headphones")


def test_bm25_prefers_rare_terms_and_short_docs():
    bm = BM25(words).fit(["red shoe", "red red red hat with a long description of red things", "blue shoe"])
    s = bm.scores(["red shoe"])[0]
    assert s.argmax() == 0 and s[1] > 0 and s[2] > 0
    assert bm.coverage(["red shoe"])[0] == pytest.approx(1.0)
    assert bm.coverage(["rde shoe"])[0] < 0.5  # a typo'd rare word: the word view understands little


def test_exact_typo_and_chinese_queries(shop_store):
    top = lambda q: svc.search(shop_store, q, k=3, dense=False)[0]["item_id"]  # noqa: E731
    assert top("wireless headphones") == "i1"
    assert top("wireles hedphones") == "i1"           # typos: trigrams still match
    assert top("garden hoze") == "i6"
    assert top("降噪耳机") == "i5"                     # Chinese, no spaces
    assert top("headphones for kids") == "i2"


def test_behaviour_breaks_ties_and_exclude_applies(shop_store):
    hits = svc.search(shop_store, "coffee mug", k=2, dense=False)
    assert [h["item_id"] for h in hits] == ["i4", "i3"]
    assert hits[0]["parts"]["popularity"] > hits[1]["parts"]["popularity"]
    hits = svc.search(shop_store, "coffee mug", k=2, dense=False, exclude=["i4"])
    assert hits[0]["item_id"] == "i3"
    hits = svc.search(shop_store, "coffee mug", k=1, dense=False, boosts={"i3": 5.0})
    assert hits[0]["item_id"] == "i3"


def test_dense_part_finds_synonyms():
    # a toy "encoder": vectors chosen so the query means item 1 although no word is shared
    vecs = np.eye(3, dtype=np.float32)
    idx = SearchIndex(["a", "b", "c"], ["alpha", "beta", "gamma"], vectors=vecs, config=SearchConfig())
    hits = idx.search(["zzz"], 3, query_vectors=np.array([[0.0, 1.0, 0.0]], dtype=np.float32))[0]
    assert hits[0].item_id == "b" and hits[0].parts["dense"] > 0


def test_queries_file_and_errors(shop_store, tmp_path: Path):
    q = tmp_path / "q.csv"
    q.write_text("query_id,query\nq1,coffee mug\nq2,garden hose\n")
    out = tmp_path / "out.csv"
    df = svc.search_many(shop_store, svc.read_queries(q), k=2, dense=False)
    df.to_csv(out, index=False)
    got = pd.read_csv(out)
    assert list(got.columns) == ["query_id", "rank", "item_id", "score"]
    assert got[got.query_id == "q2"].iloc[0]["item_id"] == "i6" and got["rank"].min() == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,query\nq1,mug\nq2,\n")
    with pytest.raises(InputError, match="line 3"):
        svc.read_queries(bad)
    with pytest.raises(InputError, match="query_id,query"):
        (tmp_path / "nohdr.csv").write_text("id,text\n1,a\n")
        svc.read_queries(tmp_path / "nohdr.csv")
    with pytest.raises(InputError):
        svc.search(shop_store, "   ", dense=False)


def test_english_only_encoder_gets_no_vote_on_chinese_queries():
    class English:
        name = "all-MiniLM-L6-v2"

    vecs = np.eye(2, dtype=np.float32)
    idx = SearchIndex(["en", "zh"], ["wireless headphones", "蓝牙耳机"], encoder=English(), vectors=vecs)
    qv = np.array([[1.0, 0.0]], dtype=np.float32)   # the encoder (wrongly) points the query at "en"
    hit = idx.search(["蓝牙耳机"], 2, query_vectors=qv)[0]
    assert hit[0].item_id == "zh"
    assert hit[0].parts.get("dense", 0.0) == 0.0
