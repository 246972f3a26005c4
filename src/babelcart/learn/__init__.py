"""Learn from labels in one language, predict in all: the recipes (frozen heads, fine-tuning), ``auto``'s choice
between them, and their one settings object.

Entry points: :func:`~babelcart.learn.train.train_model` (writes a model folder; ``babelcart.train`` and
``babelcart train`` call it) and :class:`~babelcart.learn.config.TrainConfig`. Modules: ``data`` (inputs read
and checked) → ``config`` (settings, one default each) → ``frozen`` / ``finetune_recipe`` (the recipes) →
``recipes`` (the registry) → ``auto`` (the choice) → ``train`` (the entry point).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "train_model"]


def __getattr__(name: str) -> Any:
    """``train_model`` and ``TrainConfig`` are imported on first use (the recipes import numpy and the encoders)."""
    if name == "train_model":
        from babelcart.learn.train import train_model

        return train_model
    if name == "TrainConfig":
        from babelcart.learn.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'babelcart.learn' has no attribute {name!r}")
