"""Evaluate a loaded model on labelled records: a per-language report (accuracy, macro-F1, MAE, the gap to the
source language) for any predictor (:func:`babelcart.models.load_model`).

>>> evaluate_classifier(load_model("models/sentiment"), read_records("test.jsonl"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babelcart.datasets.records import Record
from babelcart.learn.labels import parse_label
from babelcart.learn.metrics import per_language_report
from babelcart.models.frozen import HeadClassifier
from babelcart.models.predictor import Predictor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _HeadView:
    """The parts of one head an evaluation needs, for heads models and single-head (fine-tuned) models alike."""

    name: str
    task: str
    labels: list[Any]
    label_field: str
    prefix: str  # prefix of the head's output fields ("" for the first head)


def _head_view(clf: Predictor, head: str | None) -> _HeadView:
    if isinstance(clf, HeadClassifier):
        heads = {h.name: h for h in clf.model.heads}
        if head is not None and head not in heads:
            raise ValueError(f"unknown head {head!r}; this model has {', '.join(heads)}")
        hs = heads[head] if head is not None else clf.model.heads[0]
        prefix = "" if hs is clf.model.heads[0] else f"{hs.name}_"
        return _HeadView(hs.name, hs.task, list(hs.labels), hs.label_field, prefix)
    name = getattr(clf, "label_field", "label")
    if head is not None and head != name:
        raise ValueError(f"unknown head {head!r}; this model has one head, {name!r}")
    return _HeadView(name, clf.task, list(clf.labels), name, "")


#: Fewest lines a language needs for its own row in an evaluation; smaller ones are folded into "other".
MIN_LANGUAGE_ROWS = 20


def evaluate_classifier(clf: Predictor, records: list[Record], *, head: str | None = None,
                        label_field: str | None = None, text_field: str | None = None,
                        min_n: int = MIN_LANGUAGE_ROWS) -> dict[str, Any]:
    """Per-language report (n, accuracy, macro-F1, MAE for ratings, calibration error, gap to the source language)
    of one head.

    Works for heads models and fine-tuned or exported single-head models. Lines without a label or with an
    unreadable text are counted in ``skipped``; a label the model does not know raises ``ValueError`` naming
    it (an evaluation on unknown classes would be meaningless). Languages are the records' ``lang`` or
    detected (under the shop profile in force); a language with fewer than ``min_n`` lines is folded into
    ``"other"``. The gap is against the model's source language (its config): on these data when they hold
    ``min_n`` source lines, else on the model's own dev (or training) metrics, as ``"gap_reference"`` says.
    """
    if not hasattr(clf, "predict_records"):
        raise TypeError(f"evaluate_classifier needs a loaded model, not {type(clf).__name__}")
    hs = _head_view(clf, head)
    field = label_field or hs.label_field
    known = {str(v) for v in hs.labels}
    keep: list[Record] = []
    truth: list[Any] = []
    skipped: list[str] = []
    unknown: dict[str, int] = {}
    for n, rec in enumerate(records, start=1):
        if "error" in rec:
            skipped.append(f"line {rec.get('line', n)}: {rec['error']}")
            continue
        raw = rec.get(field)
        if raw is None or raw == "":
            skipped.append(f"line {n}: no label in field {field!r}")
            continue
        try:
            lab = parse_label(raw, hs.task)
        except ValueError as exc:
            skipped.append(f"line {n}: {exc}")
            continue
        if str(lab) not in known:
            unknown[str(lab)] = unknown.get(str(lab), 0) + 1
            continue
        keep.append(rec)
        truth.append(lab)
    if unknown:
        raise ValueError(f"labels not known to the model in field {field!r}: "
                         f"{', '.join(f'{k!r} ({v}x)' for k, v in sorted(unknown.items()))}; model labels: "
                         f"{', '.join(sorted(known))}")
    if not keep:
        raise ValueError(f"no line has a usable label in field {field!r}")
    out = clf.predict_records(keep, text_field=text_field)  # type: ignore[attr-defined]
    prefix = hs.prefix
    source_lang = getattr(clf, "source_lang", None)
    ok = [i for i, r in enumerate(out) if "error" not in r]
    for r in out:
        if "error" in r:
            skipped.append(f"text error: {r['error']}")
    report = per_language_report([str(truth[i]) if hs.task != "rating" else truth[i] for i in ok],
                                 [str(out[i][f"{prefix}pred"]) if hs.task != "rating" else out[i][f"{prefix}pred"]
                                  for i in ok],
                                 [out[i]["lang"] for i in ok], task=hs.task, source_lang=source_lang,
                                 min_n=min_n, source_reference=_source_reference(clf, hs.name, source_lang, min_n),
                                 confidence=[_confidence(out[i], prefix) for i in ok])
    report.update({"head": hs.name, "task": hs.task, "label_field": field, "skipped": len(skipped),
                   "skipped_examples": skipped[:5]})
    return report


def _source_reference(clf: Predictor, head: str, source_lang: str | None, min_n: int) -> dict[str, Any] | None:
    """The source language's row from the model's ``metrics.json``: dev data when it has ``min_n`` source
    lines, else the training data (in-sample, so optimistic); ``None`` when the model recorded neither."""
    path = getattr(clf, "path", None)
    if not source_lang or path is None:
        return None
    try:
        metrics = json.loads((Path(path) / "metrics.json").read_text(encoding="utf-8"))
        hm = metrics["heads"][head]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for split, where in (("dev", "the model's dev data"),
                         ("train", "the model's training data (in-sample: optimistic; train with --dev)")):
        row = (hm.get(split) or {}).get("languages", {}).get(source_lang)
        if row and (row.get("n", 0) >= min_n or split == "train"):
            return {"row": row, "from": where}
    return None


def _confidence(row: Record, prefix: str) -> float:
    """The probability a prediction gave its own label."""
    return float(row[f"{prefix}scores"][str(row[f"{prefix}pred"])])
