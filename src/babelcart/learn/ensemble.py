"""A model folder that averages the class probabilities of member models (a frozen head and a fine-tuned model).

>>> save_ensemble("models/rating", {"head": "tmp/head", "finetune": "tmp/ft"})   # doctest: +SKIP
>>> load_classifier("models/rating").predict(["bagus sekali"])                     # doctest: +SKIP

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

from babelcart.learn.ordinal import decode_rating, expected_value
from babelcart.learn.persist import FORMAT, FORMAT_VERSION, ModelLoadError, read_config


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


class EnsembleClassifier:
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
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not one string")
        texts = list(texts)
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

    def predict_records(self, records: list[dict[str, Any]], *, text_field: str | None = None) -> list[dict[str, Any]]:
        from babelcart.datasets.records import collect_texts

        out, good, texts = collect_texts(records, text_field or self.text_field)
        preds = self.predict(texts, [records[i].get("lang") for i in good]) if good else []
        for i, p in zip(good, preds, strict=True):
            out[i] = {**records[i], **p}
        return out


def save_ensemble(out: str | Path, members: dict[str, str | Path], *, extra: dict[str, Any] | None = None) -> Path:
    """Write an ensemble folder at ``out`` (atomically) holding copies of the ``members`` model folders."""
    from babelcart import __version__
    from babelcart.fsutil import atomic_dir

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
            "(each a model folder under `members/`).\n", encoding="utf-8")
    return Path(out)


def load_ensemble(path: str | Path, *, encoder: Any = None, cache_dir: str | None = None) -> EnsembleClassifier:
    """Load an ensemble folder; ``encoder`` (optional) is passed to frozen-head members with the same spec."""
    from babelcart.apps.classify import load_classifier

    folder = Path(path)
    cfg = read_config(folder)
    names = cfg.get("members") or []
    if len(names) < 2:
        raise ModelLoadError(f"{folder}/config.json lists fewer than two ensemble members")
    members = {}
    for name in names:
        sub = folder / "members" / name
        if not (sub / "config.json").is_file():
            raise ModelLoadError(f"{folder} is incomplete: member {name!r} is missing")
        sub_cfg = read_config(sub)
        use = encoder if encoder is not None and (sub_cfg.get("encoder") or {}).get("spec") == encoder.spec else None
        members[name] = load_classifier(sub, encoder=use, cache_dir=cache_dir)
        if list(members[name].labels) != list(cfg["labels"]):
            raise ModelLoadError(f"{folder}: member {name!r} has labels {members[name].labels}, not {cfg['labels']}")
    return EnsembleClassifier(folder, cfg, members)
