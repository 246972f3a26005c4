"""A model folder that averages the class probabilities of member models (a frozen head and a fine-tuned model).

>>> save_ensemble("models/rating", {"head": "tmp/head", "finetune": "tmp/ft"})   # doctest: +SKIP
>>> load_model("models/rating").predict(["bagus sekali"])                     # doctest: +SKIP

Layout: ``config.json`` (``method: "ensemble"``, task, labels, member names) and ``members/<name>/``, each a
complete model folder of its own. ``pred`` is decoded from the averaged probabilities like any model's: the
median for ratings (``expected`` = the mean), the most probable label otherwise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.fsutil import atomic_dir
from babelcart.models.folder import FORMAT, FORMAT_VERSION
from babelcart.models.ordinal import decode_rating, expected_value
from babelcart.models.predictor import RecordsMixin, check_texts
from babelcart.version import __version__


def average_probabilities(probs: Sequence[np.ndarray]) -> np.ndarray:
    """The members' class probabilities ``[n, K]`` averaged (each member counts the same)."""
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in probs]), axis=0)


def decode(P: np.ndarray, labels: list[Any], task: str, rating_decode: str = "median") -> list[dict[str, Any]]:
    """``pred`` / ``scores`` (/ ``expected``) rows from class probabilities in label order (ratings: the median
    star, or the mode with ``rating_decode="mode"``)."""
    idx = decode_rating(P, rating_decode) if task == "rating" else P.argmax(axis=1)
    exp = expected_value(P, np.asarray(labels, dtype=np.float64)) if task == "rating" else None
    rows = []
    for i in range(len(P)):
        row: dict[str, Any] = {"pred": labels[int(idx[i])],
                               "scores": {str(lab): round(float(p), 6) for lab, p in zip(labels, P[i], strict=True)}}
        if exp is not None:
            row["expected"] = round(float(exp[i]), 4)
        rows.append(row)
    return rows


def member_probabilities(model: Any, texts: list[str], langs: Sequence[str | None] | None,
                         labels: list[Any]) -> tuple[np.ndarray, list[str]]:
    """One member's probabilities in ``labels`` order and the languages it resolved."""
    preds = model.predict(texts, langs)
    return (np.array([[p["scores"][str(lab)] for lab in labels] for p in preds], dtype=np.float64),
            [p["lang"] for p in preds])


class EnsembleClassifier(RecordsMixin):
    """Averages its members' probabilities; the same ``predict`` / ``predict_records`` as every model."""

    def __init__(self, path: Path, config: dict[str, Any], members: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.members = members
        self.task: str = config["task"]
        self.labels: list[Any] = list(config["labels"])
        self.text_field: str = config.get("text_field", "text")
        self.encoder_spec: str = ", ".join(getattr(m, "encoder_spec", "?") for m in members.values())

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        texts = check_texts(texts, langs)
        if not texts:
            return []
        probs, found = [], None
        for m in self.members.values():
            P, langs_m = member_probabilities(m, texts, langs, self.labels)
            probs.append(P)
            found = found or langs_m
            langs = langs if langs is not None else langs_m  # detect once, reuse for the other members
        rows = decode(average_probabilities(probs), self.labels, self.task)
        for row, lang in zip(rows, found or [], strict=True):
            row["lang"] = lang
        return rows


def save_ensemble(out: str | Path, members: dict[str, str | Path], *, extra: dict[str, Any] | None = None) -> Path:
    """Write an ensemble folder at ``out`` (atomically) holding copies of the ``members`` model folders."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two member models")
    configs = {name: json.loads((Path(p) / "config.json").read_text(encoding="utf-8")) for name, p in members.items()}
    tasks = {c["task"] for c in configs.values()}
    labels = [list(c["labels"]) for c in configs.values()]
    if len(tasks) != 1 or any(lab != labels[0] for lab in labels):
        raise ValueError("ensemble members must share the task and the labels")
    first = next(iter(configs.values()))
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": __version__,
              "method": "ensemble", "task": tasks.pop(), "labels": labels[0], "members": list(members),
              "text_field": first.get("text_field", "text"), **(extra or {})}
    with atomic_dir(out) as tmp:
        for name, p in members.items():
            shutil.copytree(p, tmp / "members" / name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "README.md").write_text(
            f"# babelcart ensemble: {config['task']}\n\nAverages the class probabilities of {', '.join(members)} "
            "(each a model folder under `members/`).\n\nLoad: `babelcart.load(path)`; from the command line "
            "`babelcart predict THIS_FOLDER input.jsonl`.\n", encoding="utf-8")
    return Path(out)
