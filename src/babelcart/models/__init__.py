"""Loaded models: the inference layer below training (never imports :mod:`babelcart.learn` or the apps).

- :class:`~babelcart.models.predictor.Predictor`: what every loaded model offers (``predict``, ``predict_records``);
- the four predictors: :class:`~babelcart.models.frozen.HeadClassifier` (frozen encoder + heads),
  :class:`~babelcart.models.finetuned.FinetunedClassifier`, :class:`~babelcart.models.ensemble.EnsembleClassifier`
  and :class:`~babelcart.models.onnx.OnnxClassifier`;
- :mod:`~babelcart.models.folder`: the model folder format (atomic, checksummed, version-checked), and
  :func:`load_model`, which opens any model folder or ONNX export by what its ``config.json`` records.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ModelLoadError", "Predictor", "load_model"]

_HOME = {"ModelLoadError": "folder", "Predictor": "predictor", "load_model": "load"}


def __getattr__(name: str) -> Any:
    """The names above, imported on first use (loading pulls numpy and the encoders; the package stays light)."""
    if name in _HOME:
        return getattr(importlib.import_module(f"babelcart.models.{_HOME[name]}"), name)
    raise AttributeError(f"module 'babelcart.models' has no attribute {name!r}")
