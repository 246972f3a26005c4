"""Scale-out: babelcart's batch jobs (embed, classify, index) on Ray Data; ``babelcart[ray]``.

Names are imported lazily, so ``import babelcart.scale`` does not import Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["classify_catalog", "embed_catalog", "index_catalog", "init_ray"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("babelcart.scale.ray_jobs"), name)
    raise AttributeError(f"module 'babelcart.scale' has no attribute {name!r}")
