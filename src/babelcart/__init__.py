"""babelcart: a multilingual AI engine for cross-border e-commerce."""

from __future__ import annotations

__version__ = "0.1.0"

from babelcart.encoders import get_encoder

__all__ = ["__version__", "get_encoder"]
