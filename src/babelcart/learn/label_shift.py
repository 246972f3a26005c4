"""Label shift: estimate a target language's class prior (bounded), and pick pseudo-labels that follow it.

A shop's unlabeled reviews are mostly 5-star while the labelled source may be balanced (or the other way
round). Anything that assumes the target has the source's label mix (plain language means, class-balanced
pseudo-label caps) then shifts every prediction. Here:

- :func:`estimate_prior` runs the EM of Saerens et al. (2002) on a classifier's probabilities, with two
  guards against the collapse plain EM shows on over-confident heads: a Dirichlet pseudo-count and hard
  per-class bounds (no class below ``floor_share / K``), so the estimate can follow a skew but never reach a
  one-class prior;
- :func:`select_pseudo_labels` re-weights each language's probabilities by its estimated prior, labels the
  rows so the classes follow that prior (a capacity-constrained argmax), then keeps the most confident
  rows of every class (per-class ranking instead of one global threshold);
- a language whose estimate sits at the bound (the teacher calls nearly everything one class, which plain EM
  does on ordinal heads whose target-language probabilities peak on the middle star) is reported as a
  collapse, and its pseudo-labels follow the source prior instead.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.choice(2, size=4000, p=[0.8, 0.2])
>>> P = np.where(y[:, None] == np.arange(2), 0.7, 0.3)       # a calibrated, 70%-accurate classifier
>>> P = np.where(rng.random(4000)[:, None] < 0.7, P, P[:, ::-1])
>>> round(float(estimate_prior(P).prior[0]), 1)
0.8
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: No class's estimated prior may fall below ``FLOOR_SHARE / K`` (or rise above what that leaves).
FLOOR_SHARE = 0.25


@dataclass(frozen=True)
class PriorEstimate:
    """The estimated class prior of one unlabeled set, and how it was reached."""

    prior: np.ndarray
    iterations: int
    converged: bool
    at_bound: list[int] = field(default_factory=list)  # classes whose estimate was clipped


def prior_bounds(n_classes: int, floor_share: float = FLOOR_SHARE) -> tuple[float, float]:
    """``(lowest, highest)`` share one class may get: ``floor_share / K`` and what the others' floors leave."""
    if n_classes < 2:
        raise ValueError(f"a prior needs at least 2 classes, not {n_classes}")
    if not 0 <= floor_share < 1:
        raise ValueError(f"floor_share must be in [0, 1), not {floor_share}")
    lo = floor_share / n_classes
    return lo, 1.0 - (n_classes - 1) * lo


def project_to_bounds(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The distribution closest to ``p`` (renormalized) with every entry in ``[lo, hi]``.

    Clipped entries are fixed and the rest rescaled to fill the remaining mass, until nothing moves.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    fixed = np.zeros(len(p), dtype=bool)
    out = p.copy()
    for _ in range(len(p) + 1):
        clipped = np.clip(out, lo, hi)
        newly = (clipped != out) & ~fixed
        fixed |= newly
        out = clipped
        free = ~fixed
        rest = 1.0 - out[fixed].sum()
        if free.any() and out[free].sum() > 0:
            out[free] = out[free] * rest / out[free].sum()
        if not newly.any():
            break
    return out / out.sum()


def adjust_to_prior(P: np.ndarray, prior: np.ndarray, source_prior: np.ndarray | None = None) -> np.ndarray:
    """Bayes' rule for a new prior: ``p_t(c|x) ∝ p_s(c|x) · prior(c) / source_prior(c)`` (rows sum to 1)."""
    P = np.asarray(P, dtype=np.float64)
    k = P.shape[1]
    src = np.full(k, 1.0 / k) if source_prior is None else np.asarray(source_prior, dtype=np.float64)
    Q = P * (np.asarray(prior, dtype=np.float64) / np.maximum(src, 1e-12))
    return Q / np.maximum(Q.sum(axis=1, keepdims=True), 1e-300)


def estimate_prior(P: np.ndarray, *, source_prior: np.ndarray | None = None, floor_share: float = FLOOR_SHARE,
                   pseudo_count: float = 1.0, max_iter: int = 200, tol: float = 1e-6) -> PriorEstimate:
    """Bounded EM estimate of the class prior behind probabilities ``P`` ``[n, K]`` of unlabeled rows.

    ``source_prior`` is the prior the classifier's probabilities reflect (uniform for class-balanced heads,
    the default). ``pseudo_count`` adds that many rows per class (a Dirichlet prior), and the result is kept
    within :func:`prior_bounds`.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"P must be [n, K >= 2] probabilities, got shape {P.shape}")
    k = P.shape[1]
    src = np.full(k, 1.0 / k) if source_prior is None else np.asarray(source_prior, dtype=np.float64)
    lo, hi = prior_bounds(k, floor_share)
    prior = project_to_bounds(src, lo, hi)
    if len(P) == 0:
        return PriorEstimate(prior=prior, iterations=0, converged=True)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        Q = adjust_to_prior(P, prior, src)
        new = project_to_bounds((Q.sum(axis=0) + pseudo_count) / (len(P) + pseudo_count * k), lo, hi)
        if np.abs(new - prior).max() < tol:
            prior, converged = new, True
            break
        prior = new
    at_bound = [int(c) for c in np.where((prior <= lo + 1e-9) | (prior >= hi - 1e-9))[0]]
    return PriorEstimate(prior=prior, iterations=it, converged=converged, at_bound=at_bound)


@dataclass
class PseudoLabels:
    """What :func:`select_pseudo_labels` chose: row indices, labels, soft targets, and a per-language report."""

    indices: np.ndarray
    labels: np.ndarray
    probs: np.ndarray  # prior-adjusted class probabilities of the chosen rows (soft targets)
    counts: dict[str, dict[str, int]]
    priors: dict[str, list[float]]
    collapsed: list[str]


def collapsed(est: PriorEstimate, n_classes: int, *, floor_share: float = FLOOR_SHARE) -> int | None:
    """The class a language's prior estimate collapsed into (it sits at the upper bound), or None.

    EM pushed to the bound means the teacher calls nearly everything one class: its pseudo-labels would
    teach the student that class alone.
    """
    _, hi = prior_bounds(n_classes, floor_share)
    top = int(np.argmax(est.prior))
    return top if est.prior[top] >= hi - 1e-9 else None


def assign_to_prior(Q: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """A label per row such that class ``c`` gets about ``n · prior[c]`` rows and the summed probability of
    the assigned labels is high: greedy over (row, class) pairs by ``Q[i, c]``, each class until its share is
    full (a capacity-constrained argmax; with a uniform prior and a confident ``Q`` it is the argmax)."""
    n, k = Q.shape
    capacity = np.floor(prior * n).astype(int)
    capacity[np.argsort(-(prior * n - capacity))[: n - capacity.sum()]] += 1  # largest remainders
    labels = np.full(n, -1, dtype=np.int64)
    left = n
    for flat in np.argsort(-Q, axis=None, kind="stable"):
        i, c = divmod(int(flat), k)
        if labels[i] < 0 and capacity[c] > 0:
            labels[i] = c
            capacity[c] -= 1
            left -= 1
            if not left:
                break
    return labels


def select_pseudo_labels(
    P: np.ndarray, langs: Sequence[str], *, fraction: float = 0.2, min_confidence: float = 0.0,
    source_prior: np.ndarray | None = None, floor_share: float = FLOOR_SHARE,
) -> PseudoLabels:
    """Pick the rows to pseudo-label, language by language, following each language's own class mix.

    Per language: estimate its prior (:func:`estimate_prior`), re-weight ``P`` to it, give every row a label
    with :func:`assign_to_prior` (so the labels follow the estimated mix instead of piling into the classes
    the source favours), then keep for every class the ``fraction`` of its rows with the highest
    probability for that label (at least ``min_confidence``): a per-class ranking, not one threshold. A
    language whose estimate collapsed into one class (:func:`collapsed`) is named in ``collapsed`` and its
    labels follow the source prior instead (the teacher's view of its mix is not to be trusted).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    P = np.asarray(P, dtype=np.float64)
    langs_arr = np.asarray(list(langs), dtype=object)
    if len(langs_arr) != len(P):
        raise ValueError(f"{len(langs_arr)} languages for {len(P)} rows")
    k = P.shape[1] if P.ndim == 2 else 0
    chosen: list[np.ndarray] = []
    soft: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    counts: dict[str, dict[str, int]] = {}
    priors: dict[str, list[float]] = {}
    dropped: list[str] = []  # languages whose estimate collapsed
    for lang in sorted(set(langs_arr.tolist())):
        rows = np.where(langs_arr == lang)[0]
        est = estimate_prior(P[rows], source_prior=source_prior, floor_share=floor_share)
        prior = est.prior
        if (bad := collapsed(est, k, floor_share=floor_share)) is not None:
            logger.warning("the class prior of %s collapsed (%.0f%% on class %d): its pseudo-labels follow the "
                           "source prior instead", lang, 100 * est.prior[bad], bad)
            dropped.append(lang)
            prior = np.full(k, 1.0 / k) if source_prior is None else np.asarray(source_prior, dtype=np.float64)
        priors[lang] = [round(float(x), 4) for x in prior]
        Q = adjust_to_prior(P[rows], prior, source_prior)
        pred = assign_to_prior(Q, prior)
        conf = Q[np.arange(len(rows)), pred]
        keep = []
        for c in range(k):
            cand = np.where((pred == c) & (conf >= min_confidence))[0]
            keep.append(cand[np.argsort(-conf[cand], kind="stable")][: math.ceil(fraction * np.sum(pred == c))])
        picked = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
        counts[lang] = {str(c): len(x) for c, x in enumerate(keep) if len(x)}
        chosen.append(rows[picked])
        soft.append(Q[picked])
        labels.append(pred[picked])
    idx = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
    order = np.argsort(idx, kind="stable")
    return PseudoLabels(
        indices=idx[order],
        labels=(np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, dtype=np.int64))[order],
        probs=(np.vstack(soft) if soft else np.zeros((0, k)))[order],
        counts=counts, priors=priors, collapsed=dropped,
    )
