"""A classifier exported to ONNX (``babelcart export <fine-tuned folder> --onnx``): onnxruntime and ``tokenizers``,
no torch; ``predict`` gives what the folder it was exported from gives.

>>> clf = load_model("models/intent-onnx")              # doctest: +SKIP
>>> clf.predict(["where is my parcel?"])[0]["pred"]     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from babelcart.encoders.onnx import OnnxModelError, OnnxRunner
from babelcart.models.heads import softmax
from babelcart.models.ordinal import coral_probs, decode_rating, expected_value, rating_decode
from babelcart.models.predictor import RecordsMixin, check_texts
from babelcart.text.languages import resolve_languages


class OnnxClassifier(RecordsMixin):
    """A fine-tuned classifier served from ONNX; ``predict`` matches the torch classifier's output."""

    def __init__(self, path: str | os.PathLike[str], *, precision: str = "auto", threads: int | None = None,
                 batch_size: int = 32) -> None:
        self._runner = OnnxRunner(path, precision=precision, threads=threads, expect_kind="classifier")
        self.config = self._runner.config
        self.labels: list[Any] = list(self.config.get("labels") or [])
        if not self.labels:
            raise OnnxModelError(f"{path}/config.json has no labels")
        self.task: str = self.config.get("task", "classify")
        source_meta = self.config.get("source_meta") or {}
        self.encoder_spec: str = source_meta.get("encoder_spec") or ""
        self.text_field: str = source_meta.get("text_field") or "text"
        self.precision = self._runner.precision
        self.batch_size = batch_size
        self.prefix: str = (self.config.get("prefixes") or {}).get("query", "")
        if self.task == "rating" and len(self.labels) < 2:
            raise OnnxModelError(f"{path}: a rating model needs at least two labels")

    def _outputs(self, texts: Sequence[str]) -> np.ndarray:
        """Raw graph outputs (logits, or CORAL cumulative logits for ratings) in input order."""
        width = len(self.labels) - 1 if self.task == "rating" else len(self.labels)
        out = np.zeros((len(texts), width), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            logits = self._runner.run([self.prefix + str(texts[i]) for i in idx])
            if logits.shape != (len(idx), width):
                raise OnnxModelError(f"ONNX classifier returned shape {logits.shape}, expected {(len(idx), width)}")
            out[idx] = logits
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[n, len(labels)]`` in label order."""
        raw = self._outputs(check_texts(texts, None))
        return coral_probs(raw) if self.task == "rating" else softmax(raw)

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """One dict per text: ``pred`` (label), ``scores`` (label → probability), ``lang``; ratings add
        ``expected`` (probability-weighted mean label) and decode as the source folder does (median or mode)."""
        texts = check_texts(texts, langs)
        if not texts:
            return []
        probs = self.predict_proba(texts).astype(np.float64)
        found = resolve_languages(texts, langs)
        if self.task == "rating":
            idx = decode_rating(probs, rating_decode(self.config))
            expected: np.ndarray | None = expected_value(probs, np.array([_as_number(x) for x in self.labels]))
        else:
            idx, expected = probs.argmax(axis=1), None
        out: list[dict[str, Any]] = []
        for i, lang in enumerate(found):
            row: dict[str, Any] = {"pred": self.labels[int(idx[i])],
                                   "scores": {str(lab): float(v) for lab, v in zip(self.labels, probs[i], strict=True)},
                                   "lang": lang}
            if expected is not None:
                row["expected"] = float(expected[i])
            out.append(row)
        return out


def _as_number(label: Any) -> float:
    try:
        return float(label)
    except (TypeError, ValueError):
        return float("nan")


def load_onnx_classifier(path: str | os.PathLike[str], *, precision: str = "auto",
                         threads: int | None = None) -> OnnxClassifier:
    """Load a classifier exported with ``babelcart export <finetuned folder> --onnx``."""
    return OnnxClassifier(path, precision=precision, threads=threads)
