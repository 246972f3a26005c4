"""Matrix factorization for implicit feedback with ``implicit`` (ALS or BPR, CPU), saved as npz (no pickle).

``ImplicitMF`` fits user and item factors on a users × items confidence matrix and scores items for a
fitted user or for a new history (fold-in: one ALS least-squares step against the fixed item factors,
the user step ALS itself runs).

>>> from scipy import sparse
>>> m = ImplicitMF(kind="als", factors=4, iterations=3).fit(sparse.random(20, 10, density=0.3, format="csr"))
>>> m.scores_for_user(0).shape
(10,)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from babelcart.params import Params

logger = logging.getLogger(__name__)

KINDS = ("als", "bpr")


class ImplicitMF(Params):
    """ALS (``kind="als"``) or BPR (``kind="bpr"``) from ``implicit``, with a numpy fold-in for new users."""

    def __init__(self, *, kind: str = "als", factors: int = 64, regularization: float = 0.05,
                 iterations: int = 15, alpha: float = 1.0, learning_rate: float = 0.01, random_state: int = 0,
                 num_threads: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.kind = kind
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, user_items: sparse.spmatrix) -> ImplicitMF:
        """Learn factors from ``user_items`` (rows users, columns items, values confidences > 0)."""
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from implicit.cpu.bpr import BayesianPersonalizedRanking
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError("matrix factorization needs `implicit`: pip install implicit") from exc
        from threadpoolctl import threadpool_limits

        m = sparse.csr_matrix(user_items, dtype=np.float32)
        model: AlternatingLeastSquares | BayesianPersonalizedRanking
        with threadpool_limits(1, "blas"):  # implicit's own threads do the work; BLAS threads only contend
            if self.kind == "als":
                model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                                alpha=self.alpha, iterations=self.iterations,
                                                random_state=self.random_state, num_threads=self.num_threads)
            else:
                model = BayesianPersonalizedRanking(factors=self.factors, regularization=self.regularization,
                                                    learning_rate=self.learning_rate, iterations=self.iterations,
                                                    random_state=self.random_state, num_threads=self.num_threads)
            model.fit(m, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def scores_for_user(self, row: int) -> np.ndarray:
        """Scores of every item for the fitted user at ``row``."""
        return self.item_factors_ @ self.user_factors_[row]

    def fold_in(self, items: np.ndarray, confidences: np.ndarray) -> np.ndarray:
        """A user vector for a history not seen in the fit, by the ALS user step of ``implicit``:
        ``(YᵀY + Σᵢ (cᵢ - 1) yᵢyᵢᵀ + λI)⁻¹ Σᵢ cᵢ yᵢ`` with ``cᵢ = alpha · confidence`` over the user's items."""
        y_all = self.item_factors_.astype(np.float64)
        y = y_all[np.asarray(items, dtype=np.int64)]
        c = self.alpha * np.asarray(confidences, dtype=np.float64)
        a = y_all.T @ y_all + (y * (c - 1.0)[:, None]).T @ y + self.regularization * np.eye(y.shape[1])
        return np.linalg.solve(a, (y * c[:, None]).sum(axis=0)).astype(np.float32)

    # ---- persistence (npz with user_factors and item_factors, allow_pickle=False on load)
    @classmethod
    def from_arrays(cls, params: dict[str, Any], path: str | Path) -> ImplicitMF:
        """Rebuild from ``get_params()`` and an npz holding ``user_factors`` and ``item_factors``."""
        m = cls(**params)
        with np.load(path, allow_pickle=False) as z:
            m.user_factors_, m.item_factors_ = z["user_factors"], z["item_factors"]
        return m
