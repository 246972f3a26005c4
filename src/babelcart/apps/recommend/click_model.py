"""The recommender's blend: a learned re-ranker over ranking features, saved as JSON (never pickle).

Two kinds:

- ``"lambdarank"`` (the default when LightGBM loads): gradient-boosted trees trained with LambdaRank on
  one group per user (the candidates shown to them), optimizing nDCG@10 directly; trees find the interactions
  a linear blend cannot (a repeat item is worth more when its re-order is due, a popular item less for a
  customer who always re-buys). Early stopping on held-out users. The booster is stored as LightGBM's own
  text format inside the JSON file.
- ``"logistic"``: standardized features → L2-regularized logistic regression (sklearn); the fallback when
  LightGBM (or its OpenMP runtime, ``libgomp``) cannot be loaded.

Features (``FEATURES``) are computed by :mod:`babelcart.apps.recommend.features`. The model only
re-ranks candidates, so its scores need not be probabilities.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
>>> ClickModel(feature_names=["a", "b"], kind="logistic").fit(X, y).weights()["a"] > 0
True
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.fsutil import atomic_write_text
from babelcart.params import Params

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
KINDS = ("auto", "lambdarank", "logistic")
VALID_FRACTION = 0.15  # of the groups (users), held out for early stopping
LGB_PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "lambdarank_truncation_level": 20,
    "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "verbosity": -1,
}


def lightgbm_available() -> bool:
    """Whether LightGBM and its OpenMP runtime load here."""
    try:
        import lightgbm  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class ClickModel(Params):
    """A re-ranker over ``feature_names``: ``fit(X, y, groups)`` then ``score(X)`` (higher is better)."""

    def __init__(self, *, feature_names: list[str], kind: str = "auto", C: float = 1.0, max_iter: int = 500,
                 n_estimators: int = 400, random_state: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.feature_names = list(feature_names)
        self.kind = kind
        self.C = C
        self.max_iter = max_iter
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> ClickModel:
        """Fit on ``X [n, n_features]`` and binary labels ``y``; ``groups`` (one id per row, rows of a group
        contiguous) are the ranking lists LambdaRank compares within (required for it)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(int)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must be [n, {len(self.feature_names)}], got {X.shape}")
        if len(np.unique(y)) < 2:
            raise ValueError("the click model needs positive and negative examples")
        kind = self.kind
        if kind == "auto":
            kind = "lambdarank" if groups is not None and lightgbm_available() else "logistic"
            if kind == "logistic" and groups is not None:
                logger.warning("LightGBM (or libgomp) is not available; the recommender blends with logistic "
                               "regression instead of LambdaRank")
        self.kind_ = kind
        self.n_train_ = int(len(y))
        self.positive_rate_ = float(y.mean())
        if kind == "logistic":
            self._fit_logistic(X, y)
        else:
            if groups is None:
                raise ValueError("kind='lambdarank' needs groups (one ranking list id per row)")
            self._fit_lambdarank(X, y, np.asarray(groups))
        return self

    def _fit_logistic(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-12, X.std(axis=0), 1.0)
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")
        lr.fit((X - self.mean_) / self.scale_, y)
        self.coef_ = lr.coef_[0].astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])

    def _fit_lambdarank(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        import lightgbm as lgb

        if len(groups) != len(y):
            raise ValueError(f"groups must have one id per row: {len(groups)} ids, {len(y)} rows")
        starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
        if len(np.unique(groups)) != len(starts):
            raise ValueError("the rows of each group must be contiguous")
        sizes = np.diff(np.r_[starts, len(groups)])
        rng = np.random.default_rng(self.random_state)
        valid = rng.random(len(starts)) < VALID_FRACTION
        row_valid = np.repeat(valid, sizes)
        params = {**LGB_PARAMS, "num_threads": _threads(), "seed": self.random_state}
        train = lgb.Dataset(X[~row_valid], y[~row_valid], group=sizes[~valid], feature_name=self.feature_names,
                            free_raw_data=True)
        sets = [train]
        callbacks: list[Any] = []
        if valid.any() and (~valid).any():
            sets.append(lgb.Dataset(X[row_valid], y[row_valid], group=sizes[valid], reference=train))
            callbacks.append(lgb.early_stopping(30, verbose=False))
        booster = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=sets[1:],
                            callbacks=callbacks)
        self.booster_ = booster
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        self.valid_ndcg_ = (float(booster.best_score["valid_0"]["ndcg@10"]) if len(sets) > 1 else None)

    def score(self, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """Ranking score for each row (log-odds for the logistic kind); ``threads`` caps LightGBM's threads
        (default: all cores)."""
        X = np.asarray(X, dtype=np.float64)
        if self.kind_ == "logistic":
            return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return np.asarray(self.booster_.predict(X, num_iteration=self.best_iteration_,
                                                num_threads=threads or _threads()), dtype=np.float64)

    def weights(self) -> dict[str, float]:
        """How much each feature moves the ranking: standardized coefficients (logistic) or each feature's
        share of the trees' total gain (lambdarank)."""
        if self.kind_ == "logistic":
            vals = self.coef_
        else:
            gain = self.booster_.feature_importance(importance_type="gain", iteration=self.best_iteration_)
            vals = gain / max(float(gain.sum()), 1e-12)
        return {n: round(float(c), 4) for n, c in zip(self.feature_names, vals, strict=True)}

    # ---- persistence
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": self.kind_, "params": self.get_params(),
                             "n_train": self.n_train_, "positive_rate": self.positive_rate_}
        if self.kind_ == "logistic":
            d.update({"mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                      "coef": self.coef_.tolist(), "intercept": self.intercept_})
        else:
            d.update({"best_iteration": self.best_iteration_, "valid_ndcg@10": self.valid_ndcg_,
                      "booster": self.booster_.model_to_string(num_iteration=self.best_iteration_)})
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClickModel:
        kind = d.get("kind")
        if d.get("format_version") != FORMAT_VERSION or kind not in ("logistic", "lambdarank"):
            raise ValueError(f"unsupported click model (format_version={d.get('format_version')!r}, "
                             f"kind={kind!r}); expected version {FORMAT_VERSION}")
        # files written before the parameters were saved hold only the features, the kind and C
        params = d.get("params") or {"feature_names": list(d["feature_names"]), "kind": kind,
                                     **({"C": float(d["C"])} if "C" in d else {})}
        m = cls(**params)
        m.kind_ = kind
        m.n_train_ = int(d.get("n_train", 0))
        m.positive_rate_ = float(d.get("positive_rate", 0.0))
        if kind == "logistic":
            m.mean_ = np.asarray(d["mean"], dtype=np.float64)
            m.scale_ = np.asarray(d["scale"], dtype=np.float64)
            m.coef_ = np.asarray(d["coef"], dtype=np.float64)
            m.intercept_ = float(d["intercept"])
            if not (len(m.mean_) == len(m.scale_) == len(m.coef_) == len(m.feature_names)):
                raise ValueError("corrupt click model: feature arrays have different lengths")
            return m
        if not lightgbm_available():
            raise RuntimeError("this recommender's blend is a LightGBM LambdaRank model, but lightgbm (or "
                               "libgomp) cannot be loaded here; install lightgbm or retrain the recommender")
        import lightgbm as lgb

        m.booster_ = lgb.Booster(model_str=d["booster"])
        m.best_iteration_ = int(d["best_iteration"])
        m.valid_ndcg_ = d.get("valid_ndcg@10")
        if m.booster_.num_feature() != len(m.feature_names):
            raise ValueError(f"corrupt click model: the booster has {m.booster_.num_feature()} features, "
                             f"the file names {len(m.feature_names)}")
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
