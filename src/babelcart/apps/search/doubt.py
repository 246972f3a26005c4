"""Doubt in search results: a calibrated probability that the top hit is relevant, and ``no_good_match``.

Raw cosines of the default encoder sit in a narrow band, so the features are relative to the result list
itself and carry across catalogs (and, up to a refit, encoders):

- ``top_z``: the top hit's dense score minus the mean of the dense top-``depth`` list, over its spread;
- ``margin_z``: the dense list's first score minus its second, over the same spread;
- ``coverage``: the share of the query's IDF mass the best BM25 hit matches (0 to 1).

``relevance = sigmoid(w . features + b)`` with one ``(w, b)`` per search mode (``hybrid``, ``dense``; a
``bm25`` search has no dense list and no relevance), and ``no_good_match = relevance < threshold``. The
coefficients live in ``search_data/doubt_calibration.json``, fitted on real held-out queries by
``benchmarks/search_doubt.py --write`` (queries whose relevant item is in the catalog vs the same queries with
it removed), which records the encoder build it was fitted on; re-run it after changing the default encoder.

>>> hits = index.search("zapatillas running")   # doctest: +SKIP
>>> hits.relevance, hits.no_good_match            # doctest: +SKIP
(0.04, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

FEATURES = ("top_z", "margin_z", "coverage")
CALIBRATION_FILE = "doubt_calibration.json"
#: Fewest dense scores a list needs for its spread to mean anything.
MIN_LIST = 5


class Hits(list):  # type: ignore[type-arg]
    """A ranked result list (a plain ``list`` of hit dicts) that also says how much to trust it.

    ``relevance``: calibrated probability that the top hit is relevant (``None`` when it cannot be said: a
    ``bm25`` search, an index without vectors, fewer than :data:`MIN_LIST` candidates, no hits);
    ``no_good_match``: ``relevance`` below the calibrated threshold (``None`` with it); ``doubt``: the features.
    """

    relevance: float | None = None
    no_good_match: bool | None = None
    doubt: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """``{"relevance", "no_good_match"}`` for a response body."""
        return {"relevance": self.relevance, "no_good_match": self.no_good_match}


def doubt_features(dense_scores: np.ndarray, top_dense: float | None, coverage: float) -> dict[str, float] | None:
    """The features of one result list; ``dense_scores`` is the dense top-``depth`` list (best first),
    ``top_dense`` the dense score of the returned top hit (``None``: not in that list, its last score is
    used as an upper bound), ``coverage`` the best BM25 hit's query coverage. ``None`` for a short list."""
    d = np.asarray(dense_scores, dtype=np.float64)
    if len(d) < MIN_LIST:
        return None
    spread = max(float(d.std()), 1e-6)
    top = float(d[-1]) if top_dense is None else float(top_dense)
    return {"top_z": (top - float(d.mean())) / spread, "margin_z": float(d[0] - d[1]) / spread,
            "coverage": float(coverage)}


@dataclass(frozen=True)
class DoubtModel:
    """Per-mode logistic coefficients over :data:`FEATURES` and the ``no_good_match`` threshold."""

    weights: dict[str, tuple[float, ...]]
    bias: dict[str, float]
    threshold: float
    fitted_on: dict[str, Any]

    def relevance(self, features: dict[str, float] | None, mode: str) -> float | None:
        """Probability that the top hit is relevant, or ``None`` (no features, or no model for ``mode``)."""
        if features is None or mode not in self.weights:
            return None
        z = self.bias[mode] + sum(w * features[f] for w, f in zip(self.weights[mode], FEATURES, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def judge(self, hits: Hits, features: dict[str, float] | None, mode: str) -> Hits:
        """Set ``hits.relevance``, ``hits.no_good_match`` and ``hits.doubt``; returns ``hits``."""
        p = self.relevance(features, mode) if hits else None
        hits.relevance = None if p is None else round(p, 4)
        hits.no_good_match = None if p is None else bool(p < self.threshold)
        hits.doubt = None if features is None else {k: round(v, 4) for k, v in features.items()}
        return hits

    def as_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "threshold": self.threshold, "fitted_on": self.fitted_on,
                "modes": {m: {"weights": list(self.weights[m]), "bias": self.bias[m]} for m in self.weights}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoubtModel:
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(f"doubt calibration features {data.get('features')} are not {list(FEATURES)}")
        modes = data["modes"]
        return cls(weights={m: tuple(float(w) for w in v["weights"]) for m, v in modes.items()},
                   bias={m: float(v["bias"]) for m, v in modes.items()}, threshold=float(data["threshold"]),
                   fitted_on=dict(data.get("fitted_on", {})))


@lru_cache(maxsize=1)
def default_doubt_model() -> DoubtModel:
    """The calibration shipped with babelcart (``search_data/doubt_calibration.json``)."""
    ref = resources.files("babelcart.apps") / "search_data" / CALIBRATION_FILE
    return DoubtModel.from_dict(json.loads(ref.read_text(encoding="utf-8")))


def fit_mode(features: Sequence[dict[str, float]], relevant: Sequence[bool], *, C: float = 1.0) -> dict[str, Any]:
    """Logistic fit of "the top hit is relevant" on ``features`` (for ``benchmarks/search_doubt.py``)."""
    from sklearn.linear_model import LogisticRegression

    X = np.array([[f[k] for k in FEATURES] for f in features], dtype=np.float64)
    lr = LogisticRegression(C=C, max_iter=1000).fit(X, np.asarray(relevant, dtype=int))
    return {"weights": [round(float(w), 6) for w in lr.coef_[0]], "bias": round(float(lr.intercept_[0]), 6)}
