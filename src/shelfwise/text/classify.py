"""Text classifiers of every kind behind one interface: train on labelled text, save, load, predict.

Methods (``--method``):

- ``full``: fine-tune every encoder weight (the token table stays frozen, see ``transformer``);
- ``lora``: fine-tune LoRA adapters on attention and feed-forward layers plus the head (<1% of weights);
- ``linear``: a logistic regression on the frozen encoder's sentence vectors (a linear probe);
- ``tfidf``: word (or, for CJK text, character) n-gram TF-IDF + logistic regression;
- ``hybrid``: n-gram TF-IDF and frozen encoder vectors in one logistic regression;
- ``ensemble``: ``tfidf`` and ``lora`` trained side by side, their log-probabilities mixed with a weight
  chosen on the validation split.

Every method holds out a validation split (``valid_fraction`` of the training rows, stratified by
label, unless a validation file is given) and uses it to stop early (transformers) or to choose the
regularisation strength (linear models). The saved folder holds the model files, ``labels.json``,
``metrics.json`` and a manifest with the shelfwise version.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import load_json, load_manifest, save_json, save_manifest
from ..errors import InputError, ModelNotFound
from ..logs import get_logger
from ..paths import check_folder_writable
from .encoder import DEFAULT_ENCODER, MULTILINGUAL_ENCODER, Encoder, resolve_model_path
from .inputs import check_labels
from .linear import LinearParams, LinearTextModel, is_cjk_corpus

log = get_logger(__name__)

KIND = "text-classifier"
METHODS = ("full", "lora", "linear", "tfidf", "hybrid", "ensemble")
TRANSFORMER_METHODS = ("full", "lora")


@dataclass
class ClassifierOptions:
    """Everything that shapes a classifier; CPU-sized defaults (documented in docs/TEXT.md)."""

    method: str = "lora"
    encoder: str = "auto"  # 'auto': multilingual-e5-small for CJK text, the encoder setting otherwise
    max_length: int = 128
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 0.0
    patience: int = 2
    max_train_rows: int = 4000  # cap for full / lora / linear (encoder passes); a stratified subsample
    max_linear_rows: int = 200_000  # cap for tfidf / hybrid n-gram training rows
    valid_fraction: float = 0.1
    max_valid_rows: int = 1000
    C_grid: tuple[float, ...] = (1.0, 4.0, 16.0)
    analyzer: str = "auto"  # n-gram features: auto | word | char | cjk (see linear.LinearParams)
    class_weight: str = "auto"  # 'auto': balanced when the rarest label has < 20% of rows
    lora_r: int = 8
    seed: int = 42
    threads: int = 0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown method '{self.method}'; choose one of {', '.join(METHODS)}")
        for name in ("max_length", "epochs", "batch_size", "max_train_rows"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1 (got {getattr(self, name)})", field=name)
        # a NaN or negative rate used to fall back to the default without a word (``lr > 0`` is False)
        if not math.isfinite(self.learning_rate) or self.learning_rate < 0:
            raise InputError(f"learning_rate must be a finite number, at least 0 (0 = the method's default; "
                             f"got {self.learning_rate})", field="learning_rate")
        if self.patience < 0:
            raise InputError(f"patience must be at least 0 (got {self.patience})", field="patience")
        if not 0 < self.valid_fraction < 0.9:
            raise InputError(f"valid_fraction must be between 0 and 0.9 (got {self.valid_fraction})")


@dataclass
class Prediction:
    labels: list[str]
    scores: np.ndarray  # probability of the chosen label
    proba: np.ndarray  # (n, n_labels), columns in ``classes`` order
    classes: list[str]
    seconds: float = 0.0
    truncated: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


# --- splitting ------------------------------------------------------------------------------------
def stratified_subsample(labels: list[str], n: int, seed: int) -> np.ndarray:
    """Indices of at most ``n`` rows keeping label shares (every label keeps at least one row)."""
    idx = np.arange(len(labels))
    if len(labels) <= n:
        return idx
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    out = []
    for lab, count in Counter(labels).items():
        rows = idx[y == lab]
        take = max(1, int(round(n * count / len(labels))))
        out.append(rng.choice(rows, size=min(take, len(rows)), replace=False))
    return np.sort(np.concatenate(out))


def split_valid(labels: list[str], fraction: float, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) indices, stratified; a label with a single row stays in training only."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    n_valid = min(max_rows, max(1, int(round(len(labels) * fraction))))
    valid = []
    for lab, count in Counter(labels).items():
        rows = np.flatnonzero(y == lab)
        if count < 2:
            log.warning("label %r has a single row: it is used for training and not validated", lab)
            continue
        take = min(count - 1, max(1, int(round(n_valid * count / len(labels)))))
        valid.append(rng.choice(rows, size=take, replace=False))
    v = np.sort(np.concatenate(valid)) if valid else np.zeros(0, dtype=int)
    mask = np.ones(len(labels), dtype=bool)
    mask[v] = False
    return np.flatnonzero(mask), v


def macro_f1(y_true: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, pred, average="macro"))


def evaluate(y_true: list[str], pred: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-label F1."""
    from sklearn.metrics import accuracy_score, f1_score

    labels = sorted(set(y_true) | set(pred))
    per = f1_score(y_true, pred, labels=labels, average=None, zero_division=0)
    return {"n": len(y_true), "accuracy": float(accuracy_score(y_true, pred)),
            "macro_f1": float(f1_score(y_true, pred, average="macro", zero_division=0)),
            "f1_per_label": {lab: float(v) for lab, v in zip(labels, per)}}


# --- the trained model ----------------------------------------------------------------------------
class TextClassifier:
    """A loaded classifier folder; ``predict`` returns labels in input order."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.params: dict[str, Any] = manifest["params"]
        self.method: str = self.params["method"]
        self.classes: list[str] = load_json(directory, "labels")
        self._parts: dict[str, Any] = {}

    @classmethod
    def load(cls, directory: str | Path) -> "TextClassifier":
        d = Path(directory)
        if not d.is_dir():
            raise ModelNotFound(f"no classifier at {d}: train one with shelfwise finetune classify --out {d}")
        return cls(d, load_manifest(d, KIND))

    # lazily built parts, so that a tfidf model never loads torch
    def _encoder(self) -> Encoder:
        if "encoder" not in self._parts:
            enc = Encoder(self.params["encoder"], max_length=self.params["max_length"])
            want = self.params.get("encoder_id")
            if want and enc.model_id != want:
                log.warning("encoder %s has changed since this model was trained (%s, now %s); "
                            "scores may drift", self.params["encoder"], want, enc.model_id)
            self._parts["encoder"] = enc
        return self._parts["encoder"]

    def _linear(self, sub: str = "") -> LinearTextModel:
        key = "linear" + sub
        if key not in self._parts:
            self._parts[key] = LinearTextModel.load(self.directory / sub if sub else self.directory)
        return self._parts[key]

    def _transformer(self, method: str, sub: str = "") -> tuple[Any, Any]:
        key = "transformer" + sub
        if key not in self._parts:
            from . import transformer

            base = None if method == "full" else resolve_model_path(self.params["encoder"])
            self._parts[key] = transformer.load(self.directory / sub if sub else self.directory, method, base,
                                                len(self.classes))
        return self._parts[key]

    def _proba(self, texts: list[str], method: str, sub: str = "", store: Any = None) -> tuple[np.ndarray, int]:
        if method == "tfidf":
            return self._linear(sub).predict_proba(texts), 0
        if method in ("linear", "hybrid"):
            from .transformer import count_truncated

            enc = self._encoder()
            dense = enc.encode_cached(texts, store)
            truncated = count_truncated(enc.model.tokenizer, texts, self.params["max_length"])
            return self._linear(sub).predict_proba(texts, dense), truncated
        if method in TRANSFORMER_METHODS:
            from . import transformer

            module, tok = self._transformer(method, sub)
            truncated = transformer.count_truncated(tok, texts, self.params["max_length"])
            logits = transformer.predict_logits(module, tok, texts, self.params["max_length"])
            z = logits - logits.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True), truncated
        if method == "ensemble":
            w = float(self.params["ensemble_weight"])
            p1, _ = self._proba(texts, "tfidf", "tfidf")
            p2, truncated = self._proba(texts, self.params["ensemble_second"], "second")
            return _mix(p1, p2, w), truncated
        raise ModelNotFound(f"{self.directory} uses method '{method}', which this version does not know")

    def predict(self, texts: list[str], store: Any = None) -> Prediction:
        """Labels and probabilities; empty texts get an empty label and NaN score (never sent to a model)."""
        start = time.perf_counter()
        n = len(texts)
        proba = np.full((n, len(self.classes)), np.nan)
        keep = [i for i, t in enumerate(texts) if t and t.strip()]
        truncated = 0
        if keep:
            p, truncated = self._proba([texts[i] for i in keep], self.method, store=store)
            proba[keep] = p
        labels = [""] * n
        scores = np.full(n, np.nan)
        for i in keep:
            k = int(np.argmax(proba[i]))
            labels[i] = self.classes[k]
            scores[i] = float(proba[i, k])
        return Prediction(labels, scores, proba, list(self.classes), time.perf_counter() - start, truncated)

    @property
    def linear_part(self) -> LinearTextModel | None:
        """The n-gram model inside (tfidf, hybrid, ensemble), used to name complaint terms."""
        if self.method in ("tfidf", "hybrid"):
            return self._linear()
        if self.method == "ensemble":
            return self._linear("tfidf")
        return None


def _mix(p1: np.ndarray, p2: np.ndarray, w: float) -> np.ndarray:
    """Weighted geometric mean of two probability tables (a mix of log-probabilities), renormalised."""
    z = w * np.log(np.clip(p1, 1e-9, 1)) + (1 - w) * np.log(np.clip(p2, 1e-9, 1))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# --- training -------------------------------------------------------------------------------------
def resolve_encoder_name(name: str, texts: list[str]) -> str:
    """'auto' picks the Chinese-capable encoder for CJK corpora and the encoder setting otherwise."""
    if name != "auto":
        return name
    if is_cjk_corpus(texts):
        return MULTILINGUAL_ENCODER
    from ..config import get_settings

    return get_settings().encoder or DEFAULT_ENCODER


def _class_weight(option: str, labels: list[str]) -> str | None:
    if option in ("none", ""):
        return None
    if option == "balanced":
        return "balanced"
    counts = Counter(labels)
    return "balanced" if min(counts.values()) / len(labels) < 0.2 else None


def _fit_linear(texts: list[str], y: list[str], vt: list[str], vy: list[str], params: LinearParams,
                c_grid: tuple[float, ...], dense: np.ndarray | None = None,
                vdense: np.ndarray | None = None) -> tuple[LinearTextModel, float, list[dict[str, float]]]:
    """Features once, one regression per C, the best on validation macro-F1 kept."""
    m = LinearTextModel(params).fit_grid(texts, y, dense, c_grid, (vt, vy), vdense,
                                         lambda a, b: macro_f1(np.asarray(a), np.asarray(b)))
    pred = np.asarray(m.classes_)[m.predict_proba(vt, vdense).argmax(1)]
    return m, macro_f1(np.asarray(vy), pred), m.trials_


def train_classifier(texts: list[str], labels: list[str], out_dir: str | Path,
                     options: ClassifierOptions | None = None, valid_texts: list[str] | None = None,
                     valid_labels: list[str] | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, validate and save a classifier in ``out_dir``; returns its metrics.

    ``texts`` must already be cleaned (see :mod:`.inputs`); empty ones are dropped here and counted.
    """
    opt = options or ClassifierOptions()
    opt.validate()
    out = check_folder_writable(out_dir)  # a file in the way fails now, not after training
    rows = [(t, lab) for t, lab in zip(texts, labels) if t]
    dropped = len(texts) - len(rows)
    if dropped:
        log.warning("dropped %d training rows with empty text", dropped)
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    if not texts:
        raise InputError("the training data has no rows with text (all empty or whitespace)")
    if valid_texts is not None and valid_labels is not None:
        vrows = [(t, lab) for t, lab in zip(valid_texts, valid_labels) if t]
        valid_texts, valid_labels = [t for t, _ in vrows], [lab for _, lab in vrows]
        classes = check_labels(labels, valid_labels)
        if not valid_texts:
            raise InputError("the validation data has no rows with text")
    else:
        classes = check_labels(labels)
        tr, va = split_valid(labels, opt.valid_fraction, opt.max_valid_rows, opt.seed)
        if len(va) == 0:
            raise InputError("too few rows to hold out a validation split: give at least two rows per label")
        valid_texts, valid_labels = [texts[i] for i in va], [labels[i] for i in va]
        texts, labels = [texts[i] for i in tr], [labels[i] for i in tr]
    index = {c: i for i, c in enumerate(classes)}
    encoder = resolve_encoder_name(opt.encoder, texts) if opt.method != "tfidf" else ""
    cw = _class_weight(opt.class_weight, labels)
    params: dict[str, Any] = {**asdict(opt), "method": opt.method, "encoder": encoder, "class_weight": cw}
    report: dict[str, Any] = {"method": opt.method, "encoder": encoder, "labels": classes,
                              "rows_available": len(texts), "empty_dropped": dropped, "valid_rows": len(valid_texts)}
    start = time.perf_counter()

    def cap(n: int) -> tuple[list[str], list[str]]:
        keep = stratified_subsample(labels, n, opt.seed)
        if len(keep) < len(labels):
            log.info("training on a stratified subsample of %d of %d rows (cap %d)", len(keep), len(labels), n)
        return [texts[i] for i in keep], [labels[i] for i in keep]

    out.mkdir(parents=True, exist_ok=True)
    save_json(out, "labels", classes)
    if opt.method in ("tfidf", "hybrid", "linear"):
        cap_n = opt.max_train_rows if opt.method == "linear" else opt.max_linear_rows
        tx, ty = cap(cap_n)
        lp = LinearParams(class_weight=cw, analyzer="none" if opt.method == "linear" else opt.analyzer)
        dense = vdense = None
        if opt.method != "tfidf":
            enc = Encoder(encoder, max_length=opt.max_length)
            dense, vdense = enc.encode(tx), enc.encode(valid_texts)
            params["encoder_id"] = enc.model_id
        model, score, trials = _fit_linear(tx, ty, valid_texts, valid_labels, lp, opt.C_grid, dense, vdense)
        model.save(out)
        report.update(train_rows=len(tx), valid_score=score, C_trials=trials, trainable_params=model.n_parameters,
                      total_params=model.n_parameters + (_encoder_params(encoder) if opt.method != "tfidf" else 0))
        params["linear"] = asdict(model.params)
    elif opt.method in TRANSFORMER_METHODS:
        report.update(_train_transformer(opt.method, opt, encoder, cap(opt.max_train_rows), valid_texts,
                                         valid_labels, index, out, params))
    else:  # ensemble: tfidf on all rows + lora on the capped rows, mixed on validation
        tx, ty = cap(opt.max_linear_rows)
        lin, lin_score, trials = _fit_linear(tx, ty, valid_texts, valid_labels,
                                             LinearParams(class_weight=cw, analyzer=opt.analyzer), opt.C_grid)
        lin.save(out / "tfidf")
        sub = _train_transformer("lora", opt, encoder, cap(opt.max_train_rows), valid_texts, valid_labels, index,
                                 out / "second", params)
        params["ensemble_second"] = "lora"
        tmp = TextClassifier(out, {"params": {**params, "method": "ensemble", "ensemble_weight": 0.5}})
        p1, _ = tmp._proba(valid_texts, "tfidf", "tfidf")
        p2, _ = tmp._proba(valid_texts, "lora", "second")
        vy = np.asarray(valid_labels)
        weights = [round(w, 2) for w in np.linspace(0.0, 1.0, 11)]
        scores = [macro_f1(vy, np.asarray(classes)[_mix(p1, p2, w).argmax(1)]) for w in weights]
        best = int(np.argmax(scores))
        params["ensemble_weight"] = weights[best]
        report.update(train_rows=len(tx), tfidf_valid_score=lin_score, C_trials=trials, second=sub,
                      ensemble_weight=weights[best], valid_score=scores[best],
                      trainable_params=lin.n_parameters + sub["trainable_params"],
                      total_params=lin.n_parameters + sub["total_params"])
    report["train_seconds"] = time.perf_counter() - start
    clf = TextClassifier(out, {"params": params})
    pred = clf.predict(valid_texts)
    report["valid"] = evaluate(valid_labels, pred.labels)
    report["valid"]["texts_per_second"] = len(valid_texts) / pred.seconds if pred.seconds > 0 else None
    report["trainable_share"] = (report["trainable_params"] / report["total_params"]
                                 if report.get("total_params") else None)
    save_json(out, "metrics", report)
    save_manifest(out, KIND, params, meta={**(meta or {}), "labels": classes, "valid": report["valid"]})
    log.info("saved %s classifier to %s: validation accuracy %.4f, macro-F1 %.4f", opt.method, out,
             report["valid"]["accuracy"], report["valid"]["macro_f1"])
    return report


def _encoder_params(name: str) -> int:
    enc = Encoder(name)
    return int(sum(p.numel() for p in enc.model.parameters()))


def _train_transformer(method: str, opt: ClassifierOptions, encoder: str, data: tuple[list[str], list[str]],
                       valid_texts: list[str], valid_labels: list[str], index: dict[str, int], out: Path,
                       params: dict[str, Any]) -> dict[str, Any]:
    from . import transformer

    tx, ty = data
    y = np.asarray([index[v] for v in ty], dtype=np.int64)
    weights: tuple[float, ...] = ()
    if params.get("class_weight") == "balanced":  # as scikit-learn's: n / (k * count)
        counts = np.bincount(y, minlength=len(index)).astype(float)
        weights = tuple(float(len(y) / (len(index) * c)) if c else 0.0 for c in counts)
    tp = transformer.TransformerParams(method=method, max_length=opt.max_length, epochs=opt.epochs,
                                       batch_size=opt.batch_size, learning_rate=opt.learning_rate,
                                       patience=opt.patience, lora_r=opt.lora_r, seed=opt.seed, threads=opt.threads,
                                       class_weights=weights)
    vy = np.asarray([index[v] for v in valid_labels], dtype=np.int64)
    path = resolve_model_path(encoder)
    module, tok, tlog = transformer.train(path, tx, y, len(index), valid_texts, vy, tp,
                                          lambda yt, logits: macro_f1(yt, logits.argmax(1)))
    transformer.save(module, tok, out, method)
    params["encoder_id"] = Encoder(encoder).model_id
    params["transformer"] = asdict(tp)
    return {"train_rows": len(tx), "steps": tlog.steps, "evaluations": tlog.evaluations,
            "best_step": tlog.best_step, "stopped_early": tlog.stopped_early, "valid_score": tlog.best_score,
            "fit_seconds": tlog.seconds, "trainable_params": tlog.trainable_params,
            "total_params": tlog.total_params, "truncated_tokens": tlog.truncated_tokens}
