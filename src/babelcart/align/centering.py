"""Per-language mean-centering (and optional whitening) of embeddings.

Multilingual encoders put every language in its own region of the space: a language-specific offset
that a classifier trained on one language mistakes for signal. Subtracting each language's mean vector
(estimated from unlabeled text of that language) removes most of that offset.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
>>> c = LanguageCentering().fit(X, ["en"] * 3 + ["de"] * 3)
>>> sorted(c.means_)
['de', 'en']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from babelcart.encoders.base import l2_normalize

logger = logging.getLogger(__name__)


class LanguageCentering:
    """Subtract a per-language mean (optionally whiten per language), then re-normalize rows.

    Parameters
    ----------
    whiten:
        Also apply a per-language ZCA whitening (shrunk towards the identity by ``shrinkage``).
    shrinkage:
        Ledoit-Wolf style shrinkage of each covariance towards a scaled identity, in [0, 1].
    min_count:
        Fewest texts needed to estimate a language's statistics (stored or from a batch).

    Fallback at transform time for a language without stored statistics: if the batch holds at least
    ``min_count`` rows of it, its mean is estimated from the batch itself; otherwise the average of the
    stored language means is used (a neutral "any language" offset).
    """

    def __init__(self, *, whiten: bool = False, shrinkage: float = 0.5, min_count: int = 5) -> None:
        self.whiten = whiten
        self.shrinkage = shrinkage
        self.min_count = min_count

    def fit(self, X: np.ndarray, langs: Sequence[str], *,
            sample_weight: np.ndarray | None = None) -> LanguageCentering:
        """Estimate one mean (and whitener) per language from the rows of ``X`` labelled ``langs``.

        ``sample_weight`` makes the means weighted (e.g. class-balanced, so a language's mean does not
        depend on how its texts happen to be spread over the classes).
        """
        X = np.asarray(X, dtype=np.float32)
        langs_arr = np.asarray(list(langs), dtype=object)
        if len(langs_arr) != len(X):
            raise ValueError(f"{len(X)} vectors but {len(langs_arr)} languages")
        w_all = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.means_: dict[str, np.ndarray] = {}
        self.whiteners_: dict[str, np.ndarray] = {}
        self.counts_: dict[str, int] = {}
        for lang in sorted(set(langs_arr.tolist())):
            rows = X[langs_arr == lang]
            if len(rows) < self.min_count:
                logger.warning("language %s has only %d texts (< %d): no centering statistics kept",
                               lang, len(rows), self.min_count)
                continue
            self._add(lang, rows, w_all[langs_arr == lang])
        if not self.means_:
            raise ValueError(f"no language has at least {self.min_count} texts to estimate centering statistics")
        return self

    def refit_language(self, lang: str, rows: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Replace one language's statistics (weighted mean of ``rows``)."""
        self._add(lang, np.asarray(rows, dtype=np.float32), weights)

    def _add(self, lang: str, rows: np.ndarray, weights: np.ndarray | None = None) -> None:
        if weights is None or not np.isfinite(weights).all() or weights.sum() <= 0:
            weights = np.ones(len(rows))
        mu = (weights[:, None] * rows).sum(axis=0) / weights.sum()
        self.means_[lang] = mu.astype(np.float32)
        self.counts_[lang] = int(len(rows))
        if self.whiten:
            self.whiteners_[lang] = self._whitener(rows - mu)

    def _whitener(self, centered: np.ndarray) -> np.ndarray:
        d = centered.shape[1]
        cov = centered.T @ centered / max(len(centered) - 1, 1)
        target = np.trace(cov) / d
        cov = (1 - self.shrinkage) * cov + self.shrinkage * target * np.eye(d)
        vals, vecs = np.linalg.eigh(cov)
        vals = np.maximum(vals, 1e-8)
        # scaled so the average variance is preserved (only the shape of the cloud changes)
        return ((vecs / np.sqrt(vals)) @ vecs.T * np.sqrt(target)).astype(np.float32)

    @property
    def languages(self) -> list[str]:
        return sorted(self.means_)

    def _global_mean(self) -> np.ndarray:
        return np.mean(np.stack(list(self.means_.values())), axis=0)

    def transform(self, X: np.ndarray, langs: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        """Center each row with its language's statistics (see the class docstring for the fallback)."""
        X = np.asarray(X, dtype=np.float32)
        langs_arr = np.asarray(list(langs), dtype=object)
        if len(langs_arr) != len(X):
            raise ValueError(f"{len(X)} vectors but {len(langs_arr)} languages")
        out = np.empty_like(X)
        for lang in set(langs_arr.tolist()):
            mask = langs_arr == lang
            rows = X[mask]
            if lang in self.means_:
                mu, W = self.means_[lang], self.whiteners_.get(lang)
            elif len(rows) >= self.min_count:
                logger.info("no stored statistics for %s: estimated from %d rows of this batch", lang, len(rows))
                mu = rows.mean(axis=0)
                W = self._whitener(rows - mu) if self.whiten else None
            else:
                logger.info("no statistics for %s (%d rows): using the average language mean", lang, len(rows))
                mu, W = self._global_mean(), None
            c = rows - mu
            out[mask] = c @ W if W is not None else c
        return l2_normalize(out) if normalize else out

    # persistence: plain arrays, no pickle
    def to_arrays(self, prefix: str = "center") -> tuple[dict[str, np.ndarray], dict[str, object]]:
        arrays = {f"{prefix}.mean.{k}": v for k, v in self.means_.items()}
        arrays.update({f"{prefix}.whiten.{k}": v for k, v in self.whiteners_.items()})
        meta = {"whiten": self.whiten, "shrinkage": self.shrinkage, "min_count": self.min_count,
                "counts": dict(self.counts_)}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict, prefix: str = "center") -> LanguageCentering:
        obj = cls(whiten=bool(meta["whiten"]), shrinkage=float(meta["shrinkage"]),
                  min_count=int(meta["min_count"]))
        obj.means_ = {k[len(prefix) + 6:]: v for k, v in arrays.items() if k.startswith(f"{prefix}.mean.")}
        obj.whiteners_ = {k[len(prefix) + 8:]: v for k, v in arrays.items() if k.startswith(f"{prefix}.whiten.")}
        obj.counts_ = {str(k): int(v) for k, v in dict(meta.get("counts", {})).items()}
        return obj
