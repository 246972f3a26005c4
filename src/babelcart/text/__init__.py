"""Text pipeline: repair and normalize, mask personal data, find near-duplicates, train subword tokenizers.

Names are imported lazily, so ``import babelcart.text.langid`` does not pull in datasketch or phonenumbers.

>>> from babelcart.text import clean_text
>>> clean_text("caf\u00c3\u00a9 &amp; <b>bar</b>").text
'café & bar'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CleanResult": "clean",
    "clean_batch": "clean",
    "clean_text": "clean",
    "MaskResult": "pii",
    "PIIMasker": "pii",
    "mask_pii": "pii",
    "unmask": "pii",
    "DedupeResult": "dedupe",
    "find_duplicates": "dedupe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"babelcart.text.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'babelcart.text' has no attribute {name!r}")
