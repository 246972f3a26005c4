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

import numpy as np
from scipy.optimize import minimize_scalar

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
    """Common interface: ``fit(X, y, sample_weight=, n_classes=)``, ``logits``, ``predict_proba``."""

    kind = "base"
    temperature_: float = 1.0
    n_classes_: int = 0

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int,
            sample_weight: np.ndarray | None = None) -> Head:
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
        raise NotImplementedError

    def meta(self) -> dict[str, object]:
        return {"kind": self.kind, "temperature": self.temperature_, "n_classes": self.n_classes_}


def _full_logits(z: np.ndarray, present: np.ndarray, n_classes: int) -> np.ndarray:
    """Spread the logits of the classes seen in training into ``n_classes`` columns (others: -inf-ish)."""
    out = np.full((len(z), n_classes), -30.0, dtype=np.float32)
    out[:, present] = z
    return out


class LogisticHead(Head):
    """Multinomial logistic regression (L2, ``C`` = inverse strength) with sample weights."""

    kind = "logreg"

    def __init__(self, *, C: float = 10.0, max_iter: int = 1000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int,
            sample_weight: np.ndarray | None = None) -> LogisticHead:
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("need at least two classes to train a head")
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter)
        clf.fit(X, y, sample_weight=sample_weight)
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # binary: sklearn keeps one row; make it two symmetric rows
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        W = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
        b = np.full(n_classes, -30.0, dtype=np.float32)
        W[clf.classes_] = coef
        b[clf.classes_] = intercept
        self.coef_, self.intercept_ = W, b
        self.n_classes_ = n_classes
        return self

    def logits(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.coef_.T + self.intercept_

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.coef": self.coef_, f"{prefix}.intercept": self.intercept_}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, meta: dict) -> LogisticHead:
        obj = cls()
        obj.coef_ = arrays[f"{prefix}.coef"]
        obj.intercept_ = arrays[f"{prefix}.intercept"]
        obj.n_classes_ = int(meta["n_classes"])
        obj.temperature_ = float(meta.get("temperature", 1.0))
        return obj


class MLPHead(Head):
    """One hidden ReLU layer (scikit-learn's Adam trainer, early stopping off), weights kept as arrays."""

    kind = "mlp"

    def __init__(self, *, hidden: int = 256, alpha: float = 1e-3, max_iter: int = 200, seed: int = 0) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int,
            sample_weight: np.ndarray | None = None) -> MLPHead:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        if len(np.unique(y)) < 2:
            raise ValueError("need at least two classes to train a head")
        clf = MLPClassifier(hidden_layer_sizes=(self.hidden,), alpha=self.alpha, max_iter=self.max_iter,
                            random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y, sample_weight=sample_weight)
        W1, W2 = clf.coefs_
        b1, b2 = clf.intercepts_
        if W2.shape[1] == 1:  # binary output: one logit
            W2 = np.hstack([-W2 / 2, W2 / 2])
            b2 = np.array([-b2[0] / 2, b2[0] / 2])
        W2full = np.zeros((W2.shape[0], n_classes), dtype=np.float32)
        b2full = np.full(n_classes, -30.0, dtype=np.float32)
        W2full[:, clf.classes_] = W2
        b2full[clf.classes_] = b2
        self.W1_, self.b1_ = W1.astype(np.float32), b1.astype(np.float32)
        self.W2_, self.b2_ = W2full, b2full
        self.n_classes_ = n_classes
        return self

    def logits(self, X: np.ndarray) -> np.ndarray:
        h = np.maximum(np.asarray(X, dtype=np.float32) @ self.W1_ + self.b1_, 0)
        return h @ self.W2_ + self.b2_

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.W1": self.W1_, f"{prefix}.b1": self.b1_, f"{prefix}.W2": self.W2_,
                f"{prefix}.b2": self.b2_}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, meta: dict) -> MLPHead:
        obj = cls()
        obj.W1_, obj.b1_ = arrays[f"{prefix}.W1"], arrays[f"{prefix}.b1"]
        obj.W2_, obj.b2_ = arrays[f"{prefix}.W2"], arrays[f"{prefix}.b2"]
        obj.n_classes_ = int(meta["n_classes"])
        obj.temperature_ = float(meta.get("temperature", 1.0))
        return obj


def fit_temperature(head: Head, X: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` minimizing the negative log-likelihood of ``y`` under ``head.proba_at(X, T)``."""
    y = np.asarray(y)
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = head.proba_at(X, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))
