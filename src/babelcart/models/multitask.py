"""Several named heads over one encoder and one alignment: the in-memory model behind a model folder.

The first head's outputs are ``pred`` / ``scores`` (/ ``expected`` for ratings); every other head's are
``<name>_pred`` / ``<name>_scores`` (/ ``<name>_expected``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from babelcart.align.aligner import Aligner
from babelcart.models.heads import Head, LogisticHead, MLPHead
from babelcart.models.ordinal import OrdinalHead, expected_value, median_decode

HEAD_KINDS: dict[str, type[Head]] = {"logreg": LogisticHead, "mlp": MLPHead, "ordinal": OrdinalHead}


@dataclass
class HeadState:
    """One trained head: its name (output prefix), task, label field and label values (class order)."""

    name: str
    task: str
    label_field: str
    labels: list[Any]
    head: Head
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "label_field": self.label_field, "labels": self.labels,
                **self.head.meta(), **({"info": self.info} if self.info else {})}


class TransferModel:
    """Align vectors (``aligner``), then run every head; ``outputs`` builds the prediction fields."""

    def __init__(self, *, aligner: Aligner, heads: list[HeadState]) -> None:
        if not heads:
            raise ValueError("a model needs at least one head")
        names = [h.name for h in heads]
        if len(set(names)) != len(names):
            raise ValueError(f"head names must be unique, got {names}")
        self.aligner = aligner
        self.heads = heads

    def features(self, X: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        return self.aligner.transform(X, langs)

    def outputs(self, F: np.ndarray) -> list[dict[str, Any]]:
        """Prediction fields for aligned features ``F`` (one dict per row)."""
        rows: list[dict[str, Any]] = [{} for _ in range(len(F))]
        for j, hs in enumerate(self.heads):
            prefix = "" if j == 0 else f"{hs.name}_"
            P = hs.head.predict_proba(F)
            pred = median_decode(P) if hs.task == "rating" else P.argmax(axis=1)
            exp = expected_value(P, np.asarray(hs.labels, dtype=np.float64)) if hs.task == "rating" else None
            keys = [str(label) for label in hs.labels]
            for i, row in enumerate(rows):
                row[f"{prefix}pred"] = hs.labels[int(pred[i])]
                row[f"{prefix}scores"] = {k: round(float(p), 6) for k, p in zip(keys, P[i], strict=True)}
                if exp is not None:
                    row[f"{prefix}expected"] = round(float(exp[i]), 4)
        return rows

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, align_meta = self.aligner.to_arrays()
        heads_meta = []
        for hs in self.heads:
            arrays.update(hs.head.to_arrays(f"head.{hs.name}"))
            heads_meta.append(hs.describe())
        return arrays, {"align": align_meta, "heads": heads_meta}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TransferModel:
        aligner = Aligner.from_arrays(arrays, meta["align"])
        heads = []
        for hm in meta["heads"]:
            kind = hm["kind"]
            if kind not in HEAD_KINDS:
                raise ValueError(f"unknown head kind {kind!r} (known: {', '.join(HEAD_KINDS)})")
            head = HEAD_KINDS[kind].from_arrays(arrays, f"head.{hm['name']}", hm)
            heads.append(HeadState(name=hm["name"], task=hm["task"], label_field=hm["label_field"],
                                   labels=list(hm["labels"]), head=head, info=dict(hm.get("info", {}))))
        return cls(aligner=aligner, heads=heads)
