"""A small click/purchase model: logistic regression over ranking features, saved as JSON (never pickle).

Features (``FEATURES``) are computed by ``babelcart.apps.recommend.Recommender.features``: the user's
profile-text embedding · item embedding, item statistics (popularity, recency, price) and the
co-occurrence score. The model only re-ranks candidates, so its probabilities need not be calibrated.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
>>> ClickModel(feature_names=["a", "b"]).fit(X, y).coef_[0] > 0
True
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.fsutil import atomic_write_text

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class ClickModel:
    """Standardized features → L2-regularized logistic regression (sklearn), persisted as JSON."""

    def __init__(self, *, feature_names: list[str], C: float = 1.0, max_iter: int = 500) -> None:
        self.feature_names = list(feature_names)
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> ClickModel:
        """Fit on ``X [n, n_features]`` and binary labels ``y``; needs both classes."""
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(int)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must be [n, {len(self.feature_names)}], got {X.shape}")
        if len(np.unique(y)) < 2:
            raise ValueError("the click model needs positive and negative examples")
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-12, X.std(axis=0), 1.0)
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")
        lr.fit((X - self.mean_) / self.scale_, y)
        self.coef_ = lr.coef_[0].astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        self.n_train_ = int(len(y))
        self.positive_rate_ = float(y.mean())
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds for each row."""
        X = np.asarray(X, dtype=np.float64)
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(click) for each row."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def weights(self) -> dict[str, float]:
        """Standardized coefficient per feature (how much each feature moves the log-odds)."""
        return {n: round(float(c), 4) for n, c in zip(self.feature_names, self.coef_, strict=True)}

    # ---- persistence
    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "kind": "logistic", "feature_names": self.feature_names,
                "C": self.C, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_, "n_train": self.n_train_,
                "positive_rate": self.positive_rate_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClickModel:
        if d.get("format_version") != FORMAT_VERSION or d.get("kind") != "logistic":
            raise ValueError(f"unsupported click model (format_version={d.get('format_version')!r}, "
                             f"kind={d.get('kind')!r}); expected version {FORMAT_VERSION}")
        m = cls(feature_names=list(d["feature_names"]), C=float(d["C"]))
        m.mean_ = np.asarray(d["mean"], dtype=np.float64)
        m.scale_ = np.asarray(d["scale"], dtype=np.float64)
        m.coef_ = np.asarray(d["coef"], dtype=np.float64)
        m.intercept_ = float(d["intercept"])
        m.n_train_ = int(d.get("n_train", 0))
        m.positive_rate_ = float(d.get("positive_rate", 0.0))
        if not (len(m.mean_) == len(m.scale_) == len(m.coef_) == len(m.feature_names)):
            raise ValueError("corrupt click model: feature arrays have different lengths")
        return m

    def save(self, path: str | Path) -> None:
        """Write the model as one JSON file (atomically)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ClickModel:
        """Read a model written by ``save``; fails with a clear message on a wrong file."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"click model not found: {path}")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
