"""Fine-tuning a transformer encoder for text classification: all weights ("full") or LoRA adapters.

The classifier is the encoder, mean pooling over tokens (as sentence-transformers does, so the
pre-trained sentence space is the starting point rather than an untrained pooler), dropout and one
linear layer. Training is a plain PyTorch loop: AdamW, linear warm-up and decay, evaluation on the
validation split a few times per epoch, and early stopping that keeps the best weights seen.

Saved with ``save_pretrained`` (safetensors): the whole encoder for "full", only the adapter for
"lora" (the base encoder is named in the manifest and must be present where the model is used), and
the head as ``head.safetensors``. Nothing is pickled.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotFound
from ..logs import get_logger
from ..progress import task
from .encoder import quiet_weight_loading

log = get_logger(__name__)

LORA_TARGETS = ("query", "key", "value", "dense")


@dataclass
class TransformerParams:
    """CPU-sized defaults: short sequences, two epochs, small batches."""

    method: str = "lora"  # 'full' or 'lora'
    max_length: int = 128
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 0.0  # 0: 5e-5 for full, 1e-3 for LoRA
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    evals_per_epoch: int = 2
    patience: int = 2
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = LORA_TARGETS
    # full: a token table larger than this stays as pre-trained (a multilingual model's table is most of
    # its weights, and the few thousand tokens a training set holds would drift away from the rest)
    freeze_embeddings_over: int = 100_000
    seed: int = 42
    threads: int = 0  # 0: leave torch's default
    class_weights: tuple[float, ...] = ()  # per label index; empty: unweighted loss

    def lr(self) -> float:
        if self.learning_rate > 0:
            return self.learning_rate
        return 5e-5 if self.method == "full" else 1e-3


@dataclass
class TrainLog:
    """What training did: steps, evaluations, the best validation score, time, parameter counts."""

    steps: int = 0
    evaluations: list[dict[str, float]] = field(default_factory=list)
    best_score: float = float("-inf")
    best_step: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    truncated_tokens: int = 0


def _torch():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()  # load reports and length notes are ours to give
    return torch


def build_module(base: Any, n_labels: int, dropout: float = 0.1) -> Any:
    """Encoder + mean pooling + linear head, as one ``torch.nn.Module``."""
    torch = _torch()
    nn = torch.nn

    class PooledClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = base
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(base.config.hidden_size, n_labels)

        def forward(self, input_ids: Any, attention_mask: Any, **kw: Any) -> Any:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
            return self.head(self.dropout(pooled))

    return PooledClassifier()


def load_base(encoder_path: Path) -> tuple[Any, Any]:
    """Tokenizer and bare encoder (``AutoModel``) from a local directory; never a hub."""
    _torch()
    from transformers import AutoModel, AutoTokenizer

    with quiet_weight_loading():
        tok = AutoTokenizer.from_pretrained(str(encoder_path), local_files_only=True)
        base = AutoModel.from_pretrained(str(encoder_path), local_files_only=True)
    return tok, base


def count_truncated(tokenizer: Any, texts: list[str], max_length: int) -> int:
    """How many texts are longer than ``max_length`` tokens (they are cut, and reported)."""
    n = 0
    for lo in range(0, len(texts), 512):
        lengths = tokenizer(texts[lo:lo + 512], add_special_tokens=True, truncation=False)["input_ids"]
        n += sum(1 for ids in lengths if len(ids) > max_length)
    return n


def _batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    return [order[i:i + size] for i in range(0, len(order), size)]


def predict_logits(module: Any, tokenizer: Any, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    """Class logits for ``texts`` (sorted by length inside so batches pad little; order kept)."""
    torch = _torch()
    module.eval()
    n_labels = module.head.out_features
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for idx in _batches(order, batch_size):
            enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            out[idx] = module(enc["input_ids"], enc["attention_mask"]).float().numpy()
    return out


def train(encoder_path: Path, texts: list[str], y: np.ndarray, n_labels: int, valid_texts: list[str],
          valid_y: np.ndarray, params: TransformerParams, score_fn: Any) -> tuple[Any, Any, TrainLog]:
    """Fine-tune and return (module with the best weights, tokenizer, log).

    ``score_fn(y_true, logits) -> float`` is the validation score to maximise (macro-F1).
    """
    torch = _torch()
    if params.threads:
        torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    tok, base = load_base(encoder_path)
    if params.method == "lora":
        from peft import LoraConfig, get_peft_model

        present = {name.split(".")[-1] for name, _ in base.named_modules()}
        targets = [t for t in params.lora_targets if t in present]
        if not targets:
            raise ModelNotFound(f"the encoder at {encoder_path} has none of the LoRA target layers "
                                f"{list(params.lora_targets)}; use --method full")
        base = get_peft_model(base, LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha,
                                               lora_dropout=params.lora_dropout, target_modules=targets))
    elif params.method == "full":
        table = base.get_input_embeddings().weight
        if table.shape[0] > params.freeze_embeddings_over:
            table.requires_grad_(False)
    else:
        raise ValueError(f"unknown transformer method {params.method!r}")
    module = build_module(base, n_labels)
    trainable = [p for p in module.parameters() if p.requires_grad]
    tlog = TrainLog(trainable_params=int(sum(p.numel() for p in trainable)),
                    total_params=int(sum(p.numel() for p in module.parameters())))
    tlog.truncated_tokens = count_truncated(tok, texts, params.max_length)
    steps_per_epoch = math.ceil(len(texts) / params.batch_size)
    total_steps = steps_per_epoch * params.epochs
    eval_every = max(1, steps_per_epoch // max(1, params.evals_per_epoch))
    opt = torch.optim.AdamW(trainable, lr=params.lr(), weight_decay=params.weight_decay)
    warmup = max(1, int(total_steps * params.warmup_share))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    weight = torch.tensor(params.class_weights, dtype=torch.float32) if params.class_weights else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    best_state: dict[str, Any] | None = None
    since_best = 0
    start = time.perf_counter()
    log.info("fine-tuning (%s): %d rows, %d steps, %d of %d parameters trainable (%.2f%%)", params.method,
             len(texts), total_steps, tlog.trainable_params, tlog.total_params,
             100 * tlog.trainable_params / tlog.total_params)
    # length-bucketed batches: shuffle, then sort within chunks of 50 batches so padding stays small
    with task(f"fine-tuning ({params.method})", total=total_steps) as bar:
        for epoch in range(params.epochs):
            perm = rng.permutation(len(texts))
            chunk = params.batch_size * 50
            order = np.concatenate([sorted(perm[i:i + chunk], key=lambda j: len(texts[j]))
                                    for i in range(0, len(perm), chunk)]) if len(perm) else perm
            batches = _batches(order, params.batch_size)
            rng.shuffle(batches)
            for idx in batches:
                module.train()
                enc = tok([texts[i] for i in idx], truncation=True, max_length=params.max_length,
                          padding=True, return_tensors="pt")
                loss = loss_fn(module(enc["input_ids"], enc["attention_mask"]), torch.as_tensor(y[idx]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                tlog.steps += 1
                bar.advance()
                if tlog.steps % eval_every == 0 or tlog.steps == total_steps:
                    logits = predict_logits(module, tok, valid_texts, params.max_length)
                    score = float(score_fn(valid_y, logits))
                    tlog.evaluations.append({"step": tlog.steps, "epoch": epoch + 1, "valid_score": score,
                                             "train_loss": float(loss.item())})
                    log.info("step %d: validation macro-F1 %.4f", tlog.steps, score)
                    if score > tlog.best_score:
                        tlog.best_score, tlog.best_step, since_best = score, tlog.steps, 0
                        best_state = {k: v.detach().clone() for k, v in module.named_parameters() if v.requires_grad}
                    else:
                        since_best += 1
                        if since_best >= params.patience:
                            tlog.stopped_early = True
                            break
            if tlog.stopped_early:
                log.info("early stop at step %d; best was step %d", tlog.steps, tlog.best_step)
                break
    if best_state is not None:
        module.load_state_dict(best_state, strict=False)
    tlog.seconds = time.perf_counter() - start
    module.eval()
    return module, tok, tlog


def save(module: Any, tokenizer: Any, directory: Path, method: str) -> None:
    """Encoder (full) or adapter (LoRA) with ``save_pretrained``, head as safetensors, tokenizer beside."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    sub = directory / ("encoder" if method == "full" else "adapter")
    module.encoder.save_pretrained(str(sub), safe_serialization=True)
    tokenizer.save_pretrained(str(directory / "tokenizer"))
    save_file({k: v.detach().contiguous() for k, v in module.head.state_dict().items()},
              str(directory / "head.safetensors"))


def load(directory: Path, method: str, base_path: Path | None, n_labels: int) -> tuple[Any, Any]:
    """The inverse of :func:`save`: (module in eval mode, tokenizer)."""
    _torch()
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory / "tokenizer"), local_files_only=True)
    if method == "full":
        with quiet_weight_loading():
            base = AutoModel.from_pretrained(str(directory / "encoder"), local_files_only=True)
    else:
        from peft import PeftModel

        if base_path is None:
            raise ModelNotFound(f"{directory} holds a LoRA adapter but its base encoder is unknown")
        with quiet_weight_loading():
            base = PeftModel.from_pretrained(AutoModel.from_pretrained(str(base_path), local_files_only=True),
                                             str(directory / "adapter"))
    module = build_module(base, n_labels)
    module.head.load_state_dict(load_file(str(directory / "head.safetensors")))
    module.eval()
    return module, tok
