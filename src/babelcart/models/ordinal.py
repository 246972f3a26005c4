"""Ordinal head for ratings: a cumulative-link logistic model trained with the all-threshold loss.

``P(y > k | x) = sigmoid(w.x - theta_k)`` for ``k = 1..K-1`` with ordered thresholds. Training minimizes
the sum over thresholds of the binary log-loss of ``y > k`` (Rennie & Srebro's all-threshold loss), which
is convex in ``(w, theta)``. Class probabilities are differences of the cumulative ones.

Decoding: :func:`median_decode` returns the median of the predictive distribution, which minimizes the
expected absolute error when the distribution is calibrated; :func:`decode_rating` also offers the mode (the
most probable star), which is what a fine-tuned softmax head is decoded to (``docs/finetune.md``);
:func:`expected_value` gives ``sum_k k p(k)``.

>>> import numpy as np
>>> median_decode(np.array([[0.4, 0.2, 0.4]])).tolist()   # argmax would tie; the median is the middle
[1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from babelcart.models.heads import Head, softmax


def median_decode(P: np.ndarray) -> np.ndarray:
    """Index of the median class of each row of probabilities (minimizes expected absolute error)."""
    cdf = np.cumsum(np.asarray(P, dtype=np.float64), axis=1)
    cdf /= cdf[:, -1:]
    return (cdf < 0.5 - 1e-9).sum(axis=1)


#: How a rating distribution becomes one star: its median or its mode (most probable class).
RATING_DECODES = ("median", "mode")


def decode_rating(P: np.ndarray, rule: str = "median") -> np.ndarray:
    """Class index per row of probabilities under ``rule`` (:data:`RATING_DECODES`)."""
    if rule not in RATING_DECODES:
        raise ValueError(f"rating decode must be one of {RATING_DECODES}, not {rule!r}")
    return median_decode(P) if rule == "median" else np.asarray(P).argmax(axis=1)


def rating_decode(config: dict[str, Any]) -> str:
    """How a model folder's ratings are decoded (``config["head"]["decode"]`` of a fine-tuned folder or its ONNX
    export): ``median`` (folders from before the choice) or ``mode``."""
    return str((config.get("head") or {}).get("decode") or "median")


def expected_value(P: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``sum_k values[k] * P[:, k]``."""
    return np.asarray(P, dtype=np.float64) @ np.asarray(values, dtype=np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def coral_probs(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, K]`` from CORAL threshold logits ``[n, K-1]`` (``P(y > k)``).

    The cumulative probabilities are made non-increasing first, so the class probabilities are >= 0.
    """
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    p_gt = np.minimum.accumulate(_sigmoid(logits), axis=1)
    n = p_gt.shape[0]
    upper = np.concatenate([np.ones((n, 1)), p_gt], axis=1)
    lower = np.concatenate([p_gt, np.zeros((n, 1))], axis=1)
    probs = np.clip(upper - lower, 0.0, None)
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def coral_decode(probs: np.ndarray, labels: Sequence[float] | np.ndarray,
                 rule: str = "median") -> tuple[np.ndarray, np.ndarray]:
    """``(label index, expected value)`` per row of class probabilities ``[n, K]`` (any rating head).

    ``rule="median"``: the first class whose cumulative probability reaches 0.5 (minimizes the expected absolute
    error of a calibrated distribution); ``"mode"``: the most probable class
    (:func:`babelcart.models.ordinal.decode_rating`). ``expected`` is the mean.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    return decode_rating(probs, rule), expected_value(probs, np.asarray(labels, dtype=np.float64))


def logits_to_probs(head_type: str, logits: np.ndarray) -> np.ndarray:
    """Class probabilities from head logits: CORAL (``coral``, or the task name ``rating`` of older folders)
    or softmax (``linear``/``softmax``, or the task name ``classify``)."""
    if head_type in ("coral", "rating"):
        return coral_probs(logits)
    return softmax(logits)


class OrdinalHead(Head):
    """All-threshold ordinal logistic regression over class indices ``0..K-1`` (L2 strength ``1/C``)."""

    kind = "ordinal"
    arrays = ("coef", "thresholds")

    def __init__(self, *, C: float = 10.0, max_iter: int = 500) -> None:
        self.C = C
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None) -> None:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        n, d = X.shape
        K = n_classes
        sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        sw = sw / sw.sum()
        Z = (y[:, None] > np.arange(K - 1)[None, :]).astype(np.float64)  # [n, K-1] targets of y > k
        lam = 1.0 / (self.C * n)

        def loss_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            w, theta = params[:d], params[d:]
            s = X @ w
            logit = s[:, None] - theta[None, :]
            # log-loss with logits, stable
            loss_mat = np.logaddexp(0, logit) - Z * logit
            loss = float((sw[:, None] * loss_mat).sum()) + 0.5 * lam * float(w @ w)
            G = sw[:, None] * (_sigmoid(logit) - Z)  # d loss / d logit
            gw = X.T @ G.sum(axis=1) + lam * w
            gt = -G.sum(axis=0)
            return loss, np.concatenate([gw, gt])

        # thresholds start at the logits of the empirical cumulative proportions
        frac = np.clip([(sw * (y > k)).sum() for k in range(K - 1)], 1e-3, 1 - 1e-3)
        theta0 = -np.log(frac / (1 - frac))
        res = minimize(loss_grad, np.concatenate([np.zeros(d), theta0]), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter})
        self.coef_ = res.x[:d].astype(np.float32)
        self.thresholds_ = np.sort(res.x[d:]).astype(np.float32)

    def cumulative_logits(self, X: np.ndarray) -> np.ndarray:
        """``w.x - theta_k`` for each threshold, ``[n, K-1]``."""
        return (np.asarray(X, dtype=np.float32) @ self.coef_)[:, None] - self.thresholds_[None, :]

    def proba_at(self, X: np.ndarray, temperature: float) -> np.ndarray:
        gt = _sigmoid(self.cumulative_logits(X) / temperature)  # P(y > k), decreasing in k
        n = len(gt)
        cum = np.hstack([np.ones((n, 1)), gt, np.zeros((n, 1))])
        P = np.clip(cum[:, :-1] - cum[:, 1:], 1e-9, None)
        return (P / P.sum(axis=1, keepdims=True)).astype(np.float32)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return np.log(self.proba_at(X, 1.0))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Median class (minimum expected absolute error), not the most probable one."""
        return median_decode(self.predict_proba(X))
