"""babelcart: a multilingual AI engine for cross-border e-commerce."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_encoder"]


def __getattr__(name: str) -> Any:
    """``get_encoder`` is imported on first use, so ``import babelcart`` (and the CLI's start) stays light."""
    if name == "get_encoder":
        from babelcart.encoders import get_encoder

        return get_encoder
    raise AttributeError(f"module 'babelcart' has no attribute {name!r}")
