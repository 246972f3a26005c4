"""Orthogonal Procrustes maps from one language's embedding space into another's.

Given parallel sentences (``x_i`` in language xx, ``y_i`` their translation in the source language),
the orthogonal ``W`` minimizing ``||X W - Y||_F`` is ``U V^T`` where ``U S V^T = svd(X^T Y)``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Y = rng.normal(size=(50, 4)); Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
>>> W = orthogonal_procrustes(Y @ Q.T, Y)
>>> bool(np.allclose(W, Q, atol=1e-6))
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from babelcart.align import MIN_PAIRS
from babelcart.encoders.base import l2_normalize

logger = logging.getLogger(__name__)


def orthogonal_procrustes(X: np.ndarray, Y: np.ndarray, *, prior: float = 0.0) -> np.ndarray:
    """Return the orthogonal ``W`` (d x d) that best maps rows of ``X`` onto rows of ``Y``.

    ``prior`` >= 0 adds ``prior * ||W - I||^2`` to the objective (solved exactly: the SVD of
    ``X^T Y + prior * I``); with fewer pairs than dimensions it keeps the directions the pairs do not
    span as they are instead of rotating them arbitrarily.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape:
        raise ValueError(f"X {X.shape} and Y {Y.shape} must have the same shape")
    if len(X) == 0:
        raise ValueError("no pairs to fit a Procrustes map")
    M = X.T @ Y
    if prior > 0:
        M = M + prior * np.eye(M.shape[0])
    U, _, Vt = np.linalg.svd(M)
    return (U @ Vt).astype(np.float32)


class ProcrustesMaps:
    """One orthogonal map per language into the target (source-language) space.

    ``prior`` is the weight of the identity prior relative to the mean singular value of ``X^T Y`` (see
    :func:`orthogonal_procrustes`): directions the pairs do not constrain stay put. ``blend`` in [0, 1]
    interpolates between the identity (0) and the map (1), re-orthogonalized. Rows of languages without a
    map pass through unchanged.
    """

    def __init__(self, *, target_lang: str = "en", blend: float = 1.0, prior: float = 1.0,
                 min_pairs: int = MIN_PAIRS) -> None:
        self.target_lang = target_lang
        self.blend = blend
        self.prior = prior
        self.min_pairs = min_pairs
        self.maps_: dict[str, np.ndarray] = {}
        self.pairs_: dict[str, int] = {}

    def fit_language(self, lang: str, X_src: np.ndarray, X_tgt: np.ndarray) -> ProcrustesMaps:
        """Fit the map for ``lang`` from paired rows (``X_src[i]`` translates to ``X_tgt[i]``)."""
        if lang == self.target_lang:
            raise ValueError(f"{lang} is the target language; it needs no map")
        if len(X_src) < self.min_pairs:
            raise ValueError(f"{lang}: {len(X_src)} parallel pairs, need at least {self.min_pairs}")
        scale = float(np.linalg.svd(np.asarray(X_src, np.float64).T @ np.asarray(X_tgt, np.float64),
                                    compute_uv=False).mean())
        W = orthogonal_procrustes(X_src, X_tgt, prior=self.prior * scale)
        if self.blend < 1.0:
            W = orthogonal_procrustes(np.eye(W.shape[0]), (1 - self.blend) * np.eye(W.shape[0]) + self.blend * W)
        self.maps_[lang] = W
        self.pairs_[lang] = int(len(X_src))
        return self

    def transform(self, X: np.ndarray, langs: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        """Map each row with its language's map (identity when there is none)."""
        X = np.asarray(X, dtype=np.float32)
        langs_arr = np.asarray(list(langs), dtype=object)
        out = X.copy()
        for lang, W in self.maps_.items():
            mask = langs_arr == lang
            if mask.any():
                out[mask] = X[mask] @ W
        return l2_normalize(out) if normalize else out

    def to_arrays(self, prefix: str = "procrustes") -> tuple[dict[str, np.ndarray], dict[str, object]]:
        arrays = {f"{prefix}.{k}": v for k, v in self.maps_.items()}
        return arrays, {"target_lang": self.target_lang, "blend": self.blend, "prior": self.prior,
                        "pairs": dict(self.pairs_)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict, prefix: str = "procrustes") -> ProcrustesMaps:
        obj = cls(target_lang=str(meta["target_lang"]), blend=float(meta.get("blend", 1.0)),
                  prior=float(meta.get("prior", 1.0)))
        obj.maps_ = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(f"{prefix}.")}
        obj.pairs_ = {str(k): int(v) for k, v in dict(meta.get("pairs", {})).items()}
        for lang, W in obj.maps_.items():
            if W.ndim != 2 or W.shape[0] != W.shape[1]:
                raise ValueError(f"Procrustes map for {lang} has shape {W.shape}; expected a square matrix")
        return obj
