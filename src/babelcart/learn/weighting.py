"""Per-example training weights: classes balanced within each group (source, target, pseudo-labelled rows), and
each group's total set by the joint loss (``loss = target loss + lambda * source loss``)."""

from __future__ import annotations

import numpy as np

from babelcart.learn.data import TrainDataError
from babelcart.models.heads import balanced_class_weights


def sample_weights(y: np.ndarray, n_classes: int, groups: np.ndarray, group_totals: dict[int, float],
                   *, class_weight: str = "balanced") -> np.ndarray:
    """Per-example weights: group ``g`` gets total weight ``group_totals[g]``, spread over its examples
    (class-balanced within the group when ``class_weight == "balanced"``); rescaled to mean 1.

    With groups target (total 1) and source (total ``lambda``) this is the joint objective
    ``mean_target(loss) + lambda * mean_source(loss)`` as a weighted sum ``sum_i w_i loss_i``.
    """
    y = np.asarray(y)
    w = np.zeros(len(y), dtype=np.float64)
    for g, total in group_totals.items():
        mask = groups == g
        if not mask.any() or total <= 0:
            continue
        cw = balanced_class_weights(y[mask], n_classes)[y[mask]] if class_weight == "balanced" else np.ones(mask.sum())
        w[mask] = total * cw / cw.sum()
    if w.sum() <= 0:
        raise TrainDataError("all training examples have zero weight")
    return w * (len(w) / w.sum())


GROUP_OTHER, GROUP_TARGET, GROUP_PSEUDO = 0, 1, 2


def group_totals(groups: np.ndarray, *, joint_lambda: float | None, pseudo_weight: float) -> dict[int, float]:
    """Total weight of each group. Without lambda every labelled example counts the same; with lambda the
    target-language group totals 1 and the other group lambda. Pseudo-labelled examples together weigh
    ``pseudo_weight`` times the labelled total."""
    n_other = int((groups == GROUP_OTHER).sum())
    n_target = int((groups == GROUP_TARGET).sum())
    if joint_lambda is None or n_target == 0 or n_other == 0:
        totals = {GROUP_OTHER: float(n_other), GROUP_TARGET: float(n_target)}
    else:
        scale = (n_other + n_target) / (1.0 + joint_lambda)
        totals = {GROUP_TARGET: scale, GROUP_OTHER: joint_lambda * scale}
    labelled = totals[GROUP_OTHER] + totals[GROUP_TARGET]
    totals[GROUP_PSEUDO] = pseudo_weight * labelled
    return totals
