"""The fine-tune recipe (``--method finetune``): the encoder itself learns, then (classify) the frozen head is
refitted on its vectors (:mod:`babelcart.learn.refit`)."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from babelcart.learn.config import TrainConfig, finetune_epochs, use_linear_probe, use_refit_head
from babelcart.learn.data import (
    TrainDataError,
    check_bad,
    label_list,
    load_source,
    parse_labelled,
    read_parallel,
    read_unlabeled,
)
from babelcart.learn.inputs import target_records
from babelcart.text.languages import resolve_languages


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
    if cfg.target is not None:
        train += target_records(cfg, h)
    if not train:
        raise TrainDataError("the training data has no labelled lines")
    linear_probe = use_linear_probe(cfg.linear_probe, len(train))
    epochs = finetune_epochs(cfg.epochs, len(train))
    source_lang = cfg.source_lang or Counter(r["lang"] for r in train).most_common(1)[0][0]
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
    refit = use_refit_head(cfg.refit_head, h.task)
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
            linear_probe=linear_probe, max_seconds=cfg.time_budget, show_progress=cfg.show_progress)
        if not refit:
            return folder
        from babelcart.learn.refit import refit_head

        return refit_head(cfg, folder)
    finally:
        if refit:
            shutil.rmtree(ft_out.parent, ignore_errors=True)


def scratch_beside(out: Path) -> Path:
    """A fresh ``<scratch>/model`` path on the output's file system (so moving it is cheap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".finetune-", dir=out.parent)) / "model"
