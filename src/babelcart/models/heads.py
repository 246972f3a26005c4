"""Classification heads on frozen embeddings: multinomial logistic regression and a small MLP.

Both are fitted with scikit-learn but store their weights as plain arrays (safetensors, never pickle)
and predict in numpy. ``predict_proba`` applies the calibration temperature ``temperature_``.

>>> import numpy as np
>>> X = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]); y = np.array([0, 0, 1, 1])
>>> LogisticHead().fit(X, y, n_classes=2).predict(X).tolist()
[0, 0, 1, 1]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize_scalar

if TYPE_CHECKING:  # typing.Self is Python 3.11+; annotations are not evaluated at run time
    from typing import Self

logger = logging.getLogger(__name__)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights ``n / (k * n_c)`` (classes absent from ``y`` get 0)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


class Head:
    """Common interface: ``fit(X, y, sample_weight=, n_classes=)``, ``logits``, ``predict_proba``.

    A subclass implements ``_fit`` and ``logits`` and names its fitted weights in ``arrays``: weight ``w`` is
    the attribute ``w_`` and is saved as ``<prefix>.w``.
    """

    kind = "base"
    arrays: tuple[str, ...] = ()
    temperature_: float = 1.0
    n_classes_: int = 0

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int,
            sample_weight: np.ndarray | None = None) -> Self:
        """Fit on features ``X`` and class indices ``y`` (at least two distinct ones) over ``n_classes``."""
        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise ValueError("need at least two classes to train a head")
        self._fit(X, y, n_classes, sample_weight)
        self.n_classes_ = n_classes
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError

    def logits(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def proba_at(self, X: np.ndarray, temperature: float) -> np.ndarray:
        return softmax(self.logits(X) / temperature)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.proba_at(X, self.temperature_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{name}": getattr(self, f"{name}_") for name in self.arrays}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, meta: dict) -> Self:
        """The head saved by ``to_arrays(prefix)`` with ``meta()``."""
        obj = cls()
        for name in cls.arrays:
            setattr(obj, f"{name}_", arrays[f"{prefix}.{name}"])
        obj.n_classes_ = int(meta["n_classes"])
        obj.temperature_ = float(meta.get("temperature", 1.0))
        return obj

    def meta(self) -> dict[str, object]:
        return {"kind": self.kind, "temperature": self.temperature_, "n_classes": self.n_classes_}


def _spread_over_classes(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray,
                         n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """An output layer (``coef`` ``[k, d]``, ``intercept`` ``[k]``) for the ``classes`` seen in training,
    widened to all ``n_classes`` rows; unseen classes get logit -30.

    scikit-learn's one binary row becomes two symmetric rows first.
    """
    if coef.shape[0] == 1:
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    W = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    b = np.full(n_classes, -30.0, dtype=np.float32)
    W[classes] = coef
    b[classes] = intercept
    return W, b


class LogisticHead(Head):
    """Multinomial logistic regression (L2, ``C`` = inverse strength) with sample weights."""

    kind = "logreg"
    arrays = ("coef", "intercept")

    def __init__(self, *, C: float = 10.0, max_iter: int = 1000) -> None:
        self.C = C
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None) -> None:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.C, max_iter=self.max_iter)
        clf.fit(X, y, sample_weight=sample_weight)
        self.coef_, self.intercept_ = _spread_over_classes(clf.coef_, clf.intercept_, clf.classes_, n_classes)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.coef_.T + self.intercept_


class MLPHead(Head):
    """One hidden ReLU layer (scikit-learn's Adam trainer, early stopping off), weights kept as arrays."""

    kind = "mlp"
    arrays = ("W1", "b1", "W2", "b2")

    def __init__(self, *, hidden: int = 256, alpha: float = 1e-3, max_iter: int = 200, seed: int = 0) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter
        self.seed = seed

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=(self.hidden,), alpha=self.alpha, max_iter=self.max_iter,
                            random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y, sample_weight=sample_weight)
        W1, W2 = clf.coefs_
        b1, b2 = clf.intercepts_
        W2t, b2 = _spread_over_classes(W2.T, b2, clf.classes_, n_classes)
        self.W1_, self.b1_ = W1.astype(np.float32), b1.astype(np.float32)
        self.W2_, self.b2_ = np.ascontiguousarray(W2t.T), b2

    def logits(self, X: np.ndarray) -> np.ndarray:
        h = np.maximum(np.asarray(X, dtype=np.float32) @ self.W1_ + self.b1_, 0)
        return h @ self.W2_ + self.b2_


def fit_temperature(head: Head, X: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` minimizing the negative log-likelihood of ``y`` under ``head.proba_at(X, T)``."""
    return temperature_for(lambda t: head.proba_at(X, t), y)


def temperature_for(proba_at: Callable[[float], np.ndarray], y: np.ndarray) -> float:
    """The temperature ``T`` in [0.05, 20] whose probabilities ``proba_at(T)`` give the held-out labels ``y`` the
    least negative log-likelihood (temperature scaling, Guo et al. 2017); 1 when there are none."""
    y = np.asarray(y)
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = proba_at(float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))
