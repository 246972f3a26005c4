"""What every loaded model offers, and the one ``predict_records`` they share.

A predictor answers ``predict(texts, langs=None)`` with one dict per text (``pred``, ``scores``, ``lang``, and
``expected`` for ratings) and ``predict_records(records)`` with every record back, in order: the ones it could
read with those fields added, the others with an ``error`` field (DESIGN contract in ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from babelcart.datasets.records import Record, collect_texts


class Predictor(Protocol):
    """A loaded model: frozen heads, fine-tuned, ensemble or ONNX export."""

    labels: list[Any]
    task: str
    encoder_spec: str
    text_field: str

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]: ...

    def predict_records(self, records: list[Record], *, text_field: str | None = None) -> list[Record]: ...


class RecordsMixin:
    """``predict_records`` from ``predict``: records in, records out (same order) with the prediction added; a
    record without a usable text gets ``error`` and is never sent to the model."""

    text_field: str

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def predict_records(self, records: list[Record], *, text_field: str | None = None) -> list[Record]:
        out, good, texts = collect_texts(records, text_field or self.text_field)
        if not good:
            return out
        for i, p in zip(good, self.predict(texts, [records[i].get("lang") for i in good]), strict=True):
            out[i] = {**records[i], **p}
        return out


def check_texts(texts: Sequence[str], langs: Sequence[str | None] | None) -> list[str]:
    """``texts`` as a list, after the checks every ``predict`` makes (a list, not one string; as many langs)."""
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts, not one string")
    texts = list(texts)
    if langs is not None and len(langs) != len(texts):
        raise ValueError(f"{len(langs)} langs for {len(texts)} texts")
    return texts
