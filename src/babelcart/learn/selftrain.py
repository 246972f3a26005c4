"""Self-training: pseudo-label confident predictions on unlabeled target-language text.

Per language and per predicted class, the ``fraction`` most confident rows whose calibrated probability
is at least ``min_confidence`` are kept; then classes are balanced within each language by capping every
class at the median count of the non-empty classes (the most confident rows survive the cap).

>>> import numpy as np
>>> P = np.array([[.9, .1], [.6, .4], [.2, .8], [.45, .55]])
>>> idx, y, _ = select_pseudo_labels(P, ["de"] * 4, fraction=0.5)
>>> sorted(zip(idx.tolist(), y.tolist()))
[(0, 0), (2, 1)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def select_pseudo_labels(
    P: np.ndarray, langs: Sequence[str], *, fraction: float = 0.2, min_confidence: float = 0.0,
    pred: np.ndarray | None = None, balance: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, int]]]:
    """Pick rows to pseudo-label. Returns ``(indices, labels, counts[lang][class_index] )``.

    ``pred`` overrides the argmax (e.g. the median class of an ordinal head); confidence is ``P[i, pred]``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    P = np.asarray(P)
    langs_arr = np.asarray(list(langs), dtype=object)
    pred = P.argmax(axis=1) if pred is None else np.asarray(pred)
    conf = P[np.arange(len(P)), pred]
    chosen: list[int] = []
    report: dict[str, dict[str, int]] = {}
    for lang in sorted(set(langs_arr.tolist())):
        per_class: dict[int, list[int]] = {}
        for c in np.unique(pred[langs_arr == lang]):
            rows = np.where((langs_arr == lang) & (pred == c))[0]
            rows = rows[np.argsort(-conf[rows], kind="stable")]
            keep = rows[: max(1, math.ceil(fraction * len(rows)))]
            keep = keep[conf[keep] >= min_confidence]
            if len(keep):
                per_class[int(c)] = keep.tolist()
        if balance and per_class:
            cap = math.ceil(float(np.median([len(v) for v in per_class.values()])))
            per_class = {c: v[: max(cap, 1)] for c, v in per_class.items()}
        report[lang] = {str(c): len(v) for c, v in sorted(per_class.items())}
        for v in per_class.values():
            chosen.extend(v)
    idx = np.array(sorted(chosen), dtype=np.int64)
    return idx, pred[idx].astype(np.int64), report
