"""The fine-tune recipe (``--method finetune``): the encoder itself learns, then (classify) the frozen head is
refitted on its vectors (:mod:`babelcart.learn.refit`)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from babelcart.learn.config import (
    FINETUNE_HOLDOUT_MAX,
    MIN_CALIBRATION_ROWS,
    TrainConfig,
    finetune_epochs,
    use_linear_probe,
    use_refit_head,
)
from babelcart.learn.data import (
    TrainDataError,
    check_bad,
    label_list,
    load_source,
    parse_labelled,
    read_parallel,
    read_unlabeled,
    split_holdout,
)
from babelcart.learn.inputs import target_records
from babelcart.text.languages import resolve_languages

logger = logging.getLogger(__name__)


def train_finetuned(cfg: TrainConfig) -> Path:
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
    parsed = parse_labelled(load_source(cfg.train, "training"), cfg.heads, cfg.text_field, "training")
    check_bad(parsed, "training", cfg.skip_bad)
    langs = resolve_languages(parsed.texts, parsed.langs)
    ys = parsed.labels[str(h.name)]
    train = [{"text": t, field: y, "lang": g} for t, y, g in zip(parsed.texts, ys, langs, strict=True) if y is not None]
    extra = target_records(cfg, h) if cfg.target is not None else []
    if not train and not extra:
        raise TrainDataError("the training data has no labelled lines")
    source_lang = cfg.source_lang or Counter(r["lang"] for r in train + extra).most_common(1)[0][0]
    refit = use_refit_head(cfg.refit_head, h.task)
    calibration: list[dict[str, Any]] = []
    if refit and cfg.dev is None and cfg.calibrate and cfg.finetune_holdout > 0:
        train, calibration = _calibration_split(train, cfg, field, source_lang)
    head_rows = train  # the --train rows the fine-tune learns (a refitted head reads --target itself)
    train = train + extra
    linear_probe = use_linear_probe(cfg.linear_probe, len(train))
    epochs = finetune_epochs(cfg.epochs, len(train))
    dev_records = None
    if cfg.dev is not None:
        dp = parse_labelled(load_source(cfg.dev, "dev"), cfg.heads, cfg.text_field, "dev")
        dl = resolve_languages(dp.texts, dp.langs)
        dev_records = [{"text": t, field: y, "lang": g}
                       for t, y, g in zip(dp.texts, dp.labels[str(h.name)], dl, strict=True) if y is not None]
    unl_texts, unl_langs, _ = read_unlabeled(cfg.unlabeled, cfg.text_field)
    unlabeled = [{"text": t, "lang": g} for t, g in zip(unl_texts, unl_langs, strict=True)]
    pairs = [p for src in cfg.parallel for p in read_parallel(src)]
    targets = sorted({r["lang"] for r in train} - {source_lang}) if cfg.joint_lambda is not None else None
    # with a refit the fine-tune is written to a scratch folder beside the output, then moved inside it
    ft_out = scratch_beside(Path(cfg.out)) if refit else Path(cfg.out)
    try:
        folder = train_finetune(
            train, task=h.task, labels=label_list(ys, h.task), dev_records=dev_records, encoder_spec=cfg.encoder,
            out_dir=str(ft_out), unlabeled_records=unlabeled or None, parallel_pairs=pairs or None,
            joint_lambda=cfg.joint_lambda, target_langs=targets, contrastive_weight=cfg.contrastive_weight,
            lora=cfg.lora, max_length=cfg.max_length, seed=cfg.seed, text_field="text", label_field=field,
            freeze_embeddings=cfg.freeze_embeddings, precision=cfg.precision, epochs=epochs, lr=cfg.lr,
            batch_size=cfg.batch_size, grad_accum=cfg.grad_accum, class_weight=cfg.class_weight,
            self_train_rounds=cfg.self_train_rounds, self_train_fraction=cfg.self_train_fraction,
            pseudo_weight=cfg.pseudo_weight, rating_head=cfg.rating_head, rating_decode=cfg.rating_decode,
            linear_probe=linear_probe, max_seconds=cfg.time_budget, show_progress=cfg.show_progress,
            calibration_records=calibration or None)
        if not refit:
            return folder
        from babelcart.learn.refit import refit_head

        if not calibration:
            return refit_head(cfg, folder)
        # the head trains on the fine-tune's rows and is calibrated on the held-out ones, which neither saw
        return refit_head(replace(cfg, train=head_rows, text_field="text", dev=calibration), folder,
                          calibration_holdout=len(calibration))
    finally:
        if refit:
            shutil.rmtree(ft_out.parent, ignore_errors=True)


def _calibration_split(train: list[dict[str, Any]], cfg: TrainConfig, field: str, source_lang: str
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(fine-tune rows, calibration rows)``: ``cfg.finetune_holdout`` of the source labels, stratified, are kept
    out of fine-tuning for the temperature (a temperature fitted on rows the encoder learned is fitted in-sample:
    on xSID intents 84% of answers above 0.99). Too few to hold out: all rows train, ``[]``."""
    keep, held = split_holdout(train, field, [r["lang"] for r in train], source_lang, cfg.seed,
                               fraction=cfg.finetune_holdout, max_rows=FINETUNE_HOLDOUT_MAX)
    if len(held) < MIN_CALIBRATION_ROWS:
        logger.warning("only %d source labels could be held out to calibrate on (%d needed): fine-tuning on all of "
                       "them, so the refitted head's temperature is fitted in-sample (give --dev)", len(held),
                       MIN_CALIBRATION_ROWS)
        return train, []
    return [train[i] for i in keep], [train[i] for i in held]


def scratch_beside(out: Path) -> Path:
    """A fresh ``<scratch>/model`` path on the output's file system (so moving it is cheap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".finetune-", dir=out.parent)) / "model"
