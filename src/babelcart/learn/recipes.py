"""The recipe registry: a method name (``--method``) to the function that trains it.

``auto`` (:mod:`babelcart.learn.auto`) tries recipes from here and :func:`babelcart.learn.train.train_model`
dispatches here; a new recipe is one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from babelcart.learn.config import TrainConfig, prepare_config
from babelcart.learn.finetune_recipe import train_finetuned
from babelcart.learn.frozen import train_frozen

#: method -> ``recipe(cfg, encoder) -> model folder``; ``encoder`` is an already built encoder object or None.
RECIPES: dict[str, Callable[[TrainConfig, Any], Path]] = {
    "head": train_frozen,
    "finetune": lambda cfg, encoder: train_finetuned(cfg),  # builds its own (trainable) encoder
}


def run_recipe(cfg: TrainConfig, encoder: Any = None) -> Path:
    """Train ``cfg`` with the recipe its ``method`` names (not ``auto``); returns the model folder."""
    if cfg.method not in RECIPES:
        raise ValueError(f"no recipe {cfg.method!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[cfg.method](prepare_config(cfg, encoder), encoder)
