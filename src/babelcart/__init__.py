"""babelcart: a multilingual AI engine for cross-border e-commerce.

The library in four names (each imported on first use, so ``import babelcart`` and the CLI's start stay light):

>>> import babelcart                                                        # doctest: +SKIP
>>> path = babelcart.train([{"text": "great shoes", "label": "pos"}, ...], out="models/sentiment")
>>> model = babelcart.load(path)
>>> model.predict(["很好用", "Sehr schlecht"])[0]["pred"]
'pos'
>>> index = babelcart.SearchIndex.build(products)    # cross-lingual hybrid search
>>> index.search("zapatillas running", k=5)
>>> babelcart.get_encoder().encode(["rice cooker", "电饭煲"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babelcart.version import __version__

__all__ = ["SearchIndex", "__version__", "get_encoder", "load", "train"]


def train(train: Any, *, out: str | Path, **options: Any) -> Path:
    """Train a model folder at ``out`` from ``train`` (a JSONL/CSV path, or a list of records such as
    ``{"text": ..., "label": ...}``; a rating model reads stars 1-5 from ``label`` too, or from the field
    ``label_field`` names: ``task="rating", label_field="rating"``); returns its path.

    ``options`` are :class:`babelcart.learn.config.TrainConfig`'s settings with its defaults, the same as
    ``babelcart train``'s (``task="rating"``, ``method="auto"|"head"|"finetune"``, ``unlabeled=[...]``, ``seed``...):
    the same inputs and seed give the same model from Python and from the command line.
    """
    from babelcart.learn.train import train_model

    return train_model(train=train, out=out, **options)


def load(path: str | Path, **options: Any) -> Any:
    """Load any model folder or ONNX export (:func:`babelcart.models.load_model`): ``.predict(texts)`` and
    ``.predict_records(records)``."""
    from babelcart.models.load import load_model

    return load_model(path, **options)


def __getattr__(name: str) -> Any:
    """``get_encoder`` and ``SearchIndex`` are imported on first use."""
    if name == "get_encoder":
        from babelcart.encoders import get_encoder

        return get_encoder
    if name == "SearchIndex":
        from babelcart.apps.search import SearchIndex

        return SearchIndex
    raise AttributeError(f"module 'babelcart' has no attribute {name!r}")
