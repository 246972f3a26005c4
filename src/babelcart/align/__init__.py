"""Remove language bias from embeddings: per-language centering, Procrustes maps, CSLS retrieval.

The package itself holds only the settings' vocabulary (light to import: ``babelcart train``'s options read it);
the classes are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ALIGN_MODES", "MIN_PAIRS", "Aligner", "LanguageCentering", "ProcrustesMaps", "csls_scores",
           "orthogonal_procrustes", "retrieve"]

ALIGN_MODES = ("none", "center", "procrustes")
#: The fewest parallel pairs a language's Procrustes map is fitted from.
MIN_PAIRS = 20

_HOME = {"Aligner": "aligner", "LanguageCentering": "centering", "ProcrustesMaps": "procrustes",
         "orthogonal_procrustes": "procrustes", "csls_scores": "csls", "retrieve": "csls"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"babelcart.align.{_HOME[name]}"), name)
    raise AttributeError(f"module 'babelcart.align' has no attribute {name!r}")
