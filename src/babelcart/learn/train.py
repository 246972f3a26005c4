"""Train a model folder from labels in one language, for every language: the entry point of ``babelcart train``
and :func:`babelcart.train`.

>>> train_model(task="classify", train="reviews.jsonl", out="models/sentiment")  # doctest: +SKIP
PosixPath('models/sentiment')

The settings are :class:`~babelcart.learn.config.TrainConfig`'s; ``method="auto"`` (the default) chooses a recipe
on evidence (:mod:`babelcart.learn.auto`), ``head`` and ``finetune`` name one (:mod:`babelcart.learn.recipes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babelcart.learn.auto import train_auto
from babelcart.learn.config import TrainConfig, make_config, prepare_config
from babelcart.learn.recipes import run_recipe


def train_model(config: TrainConfig | dict[str, Any] | None = None, *, encoder: Any = None, **kwargs: Any) -> Path:
    """Train and write a model folder; returns its path.

    Pass a :class:`TrainConfig`, a dict of its fields, or keyword arguments. ``task=``/``label_field=``
    (str or lists) are shorthands for ``heads``. ``encoder`` is a spec or an already built encoder object.
    """
    if isinstance(encoder, str):  # a spec, not an encoder object
        kwargs["encoder"], encoder = encoder, None
    cfg = make_config(config, kwargs)
    if cfg.method == "auto":
        return train_auto(prepare_config(cfg, encoder), encoder)
    return run_recipe(cfg, encoder)
