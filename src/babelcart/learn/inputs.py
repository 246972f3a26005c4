"""The labelled inputs a :class:`~babelcart.learn.config.TrainConfig` names, loaded and checked with every
text's language resolved: the training file and the ``--target`` rows."""

from __future__ import annotations

import logging
from typing import Any

from babelcart.learn.config import TrainConfig
from babelcart.learn.data import HeadConfig, Labelled, TrainDataError, check_bad, load_source, parse_labelled
from babelcart.text.languages import resolve_languages

logger = logging.getLogger(__name__)


def load_training(cfg: TrainConfig) -> tuple[Labelled, list[str]]:
    """The training file parsed and checked, with every text's language resolved."""
    records = load_source(cfg.train, "training")
    if not records:
        raise TrainDataError("the training file is empty")
    train = parse_labelled(records, cfg.heads, cfg.text_field, "training")
    check_bad(train, "training", cfg.skip_bad)
    if not train.texts:
        raise TrainDataError("the training data has no usable lines")
    return train, resolve_languages(train.texts, train.langs)


def target_records(cfg: TrainConfig, h: HeadConfig) -> list[dict[str, Any]]:
    """``--target`` rows with a label, as fine-tuning records (unfilled suggestions skipped with a warning)."""
    assert cfg.target is not None, "only called when --target is given"
    loaded = load_source(cfg.target, "target")
    records = [r for r in loaded if r.get(h.label_field) not in (None, "") or "error" in r]
    if len(records) < len(loaded):
        logger.warning("--target: %d line(s) have no label yet and are not used", len(loaded) - len(records))
    parsed = parse_labelled(records, [h], cfg.text_field, "target")
    check_bad(parsed, "target", cfg.skip_bad)
    langs = resolve_languages(parsed.texts, parsed.langs)
    return [{"text": t, h.label_field: y, "lang": g}
            for t, y, g in zip(parsed.texts, parsed.labels[str(h.name)], langs, strict=True)]
