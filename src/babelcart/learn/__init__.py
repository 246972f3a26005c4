"""Learn from labels in one language, predict in all: heads on frozen vectors, self-training, joint training.

Public entry points: :func:`train_model` (writes a model folder) and :class:`TrainConfig`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "train_model"]


def __getattr__(name: str) -> Any:
    if name in ("train_model", "TrainConfig", "HeadConfig", "TrainDataError"):
        from babelcart.learn import train

        return getattr(train, name)
    raise AttributeError(f"module 'babelcart.learn' has no attribute {name!r}")
