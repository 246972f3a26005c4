"""Fine-tuning data: labels to indices, records to texts/targets/weights (the joint loss as per-example weights),
dev metrics, and length-sorted batches."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

def _label_key(value: Any, task: str) -> str:
    if task == "rating":
        if isinstance(value, bool):
            raise ValueError(f"rating labels must be integers, not {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError(f"rating labels must be integers, not {value!r}")
        return str(value)
    return str(value)


def _normalize_labels(labels: Sequence[Any] | None, found: Iterable[Any], task: str) -> list[Any]:
    if labels is None:
        uniq = {_label_key(v, task): v for v in found}
        if task == "rating":
            return sorted(int(k) for k in uniq)
        return [uniq[k] for k in sorted(uniq)]
    out = list(labels)
    if task == "rating":
        out = sorted(int(_label_key(v, task)) for v in out)
    if len({_label_key(v, task) for v in out}) != len(out):
        raise ValueError(f"labels has duplicates: {out}")
    return out


@dataclass
class _Data:
    texts: list[str]
    y: np.ndarray
    langs: list[str | None]


def _prepare(records: Sequence[Mapping[str, Any]], *, task: str, index: dict[str, int], text_field: str,
             label_field: str, what: str) -> _Data:
    texts: list[str] = []
    ys: list[int] = []
    langs: list[str | None] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"{what} record {i} is not an object: {rec!r}")
        if "error" in rec and text_field not in rec:
            raise ValueError(f"{what} record {i} is a bad input line: {rec.get('error')}")
        text = rec.get(text_field)
        if not isinstance(text, str):
            raise ValueError(f"{what} record {i} has no text in field {text_field!r}")
        if label_field not in rec or rec[label_field] is None:
            raise ValueError(f"{what} record {i} has no label in field {label_field!r}")
        key = _label_key(rec[label_field], task)
        if key not in index:
            raise ValueError(f"{what} record {i} has label {rec[label_field]!r}, not one of {list(index)}")
        texts.append(text)
        ys.append(index[key])
        lang = rec.get("lang")
        langs.append(str(lang) if lang else None)
    return _Data(texts, np.asarray(ys, dtype=np.int64), langs)


def _data_hash(data: _Data) -> str:
    h = hashlib.sha256()
    for t, y, lang in zip(data.texts, data.y.tolist(), data.langs, strict=True):
        h.update(json.dumps([t, y, lang], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _unlabeled_texts(records: Sequence[Mapping[str, Any]], text_field: str) -> tuple[list[str], list[Any]]:
    """Texts and given languages of unlabeled records; bad lines and empty texts are skipped with a count."""
    texts: list[str] = []
    langs: list[Any] = []
    skipped = 0
    for rec in records:
        text = rec.get(text_field) if isinstance(rec, Mapping) else None
        if not isinstance(text, str) or not text.strip() or "error" in rec:
            skipped += 1
            continue
        texts.append(text)
        langs.append(rec.get("lang"))
    if skipped:
        logger.warning("unlabeled data: %d record(s) without usable text in %r skipped", skipped, text_field)
    if not texts:
        raise ValueError(f"the unlabeled records have no usable text in field {text_field!r}")
    return texts, langs


def joint_weights(langs: Sequence[str | None], target_langs: Sequence[str] | None,
                  joint_lambda: float) -> np.ndarray:
    """Per-example loss weights for ``target loss + λ · rest loss`` (see the module docstring).

    >>> joint_weights(["de", "en", "en", "en"], ["de"], 0.5).tolist()
    [4.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    """
    n = len(langs)
    if not target_langs:
        return np.ones(n, dtype=np.float64)
    if joint_lambda < 0:
        raise ValueError(f"joint_lambda must be >= 0, not {joint_lambda}")
    targets = set(target_langs)
    is_t = np.array([lang in targets for lang in langs], dtype=bool)
    n_t, n_r = int(is_t.sum()), int((~is_t).sum())
    if n_t == 0 and joint_lambda == 0:
        raise ValueError(f"no training example is in target languages {sorted(targets)} and joint_lambda is 0: "
                         "nothing to learn from")
    if n_t == 0:
        logger.warning("no training example is in target languages %s: only the joint loss trains",
                       sorted(targets))
    w = np.zeros(n, dtype=np.float64)
    if n_t:
        w[is_t] = n / n_t
    if n_r:
        w[~is_t] = joint_lambda * n / n_r
    return w


# ---------------------------------------------------------------- metrics


def _metrics(task: str, y_true: np.ndarray, pred_idx: np.ndarray, labels: Sequence[Any],
             expected: np.ndarray | None = None) -> dict[str, float]:
    out: dict[str, float] = {"n": float(len(y_true)), "accuracy": float(np.mean(y_true == pred_idx))}
    f1s = []
    for k in np.unique(y_true):
        tp = float(np.sum((pred_idx == k) & (y_true == k)))
        fp = float(np.sum((pred_idx == k) & (y_true != k)))
        fn = float(np.sum((pred_idx != k) & (y_true == k)))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1e-12))
    out["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    if task == "rating":
        values = np.asarray(labels, dtype=np.float64)
        out["mae"] = float(np.mean(np.abs(values[pred_idx] - values[y_true])))
        if expected is not None:
            out["mae_expected"] = float(np.mean(np.abs(expected - values[y_true])))
    return out


def _score(task: str, metrics: Mapping[str, float]) -> float:
    """Higher is better: accuracy for classify, -MAE for rating."""
    return -metrics["mae"] if task == "rating" else metrics["accuracy"]


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, *,
                   window: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort each window of ``window`` batches by length, cut,
    then shuffle the batches (little padding, still a random order of batches)."""
    order = rng.permutation(len(lengths))
    lens = np.asarray(lengths)
    span = batch_size * window
    batches: list[np.ndarray] = []
    for s in range(0, len(order), span):
        chunk = order[s:s + span]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def padding_waste(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> float:
    """Share of the padded token slots of ``batches`` that are padding."""
    lens = np.asarray(lengths)
    padded = sum(len(b) * int(lens[b].max()) for b in batches if len(b))
    return 1.0 - float(lens.sum()) / max(padded, 1)


def class_balance_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-example weights that give every present class the same total (mean 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = (len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[y]
    return w / w.mean()
