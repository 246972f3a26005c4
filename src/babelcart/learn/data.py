"""Training inputs: labelled, unlabeled and parallel files (or lists of records) read, parsed and checked.

Every bad line is named (``training line 7: field 'text' is empty``); :class:`TrainDataError` says why data
cannot make a model. A file given as ``LANG=PATH`` lends its language to every record without one.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.datasets.records import FieldError, Record, get_text, read_records
from babelcart.learn.labels import parse_label
from babelcart.models.tasks import RATING_LABELS, TASKS
from babelcart.text.languages import normalize_lang, resolve_languages, split_lang_tag

logger = logging.getLogger(__name__)

Source = str | Path | list[Record]


class TrainDataError(ValueError):
    """The training data cannot make a model (empty, one class, bad lines, missing parallel data...)."""


@dataclass
class HeadConfig:
    """One head: ``task`` (classify|rating), the record field with its label, and its output name."""

    task: str = "classify"
    label_field: str = "label"
    name: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        self.name = self.name or self.label_field



def load_source(src: Source, what: str) -> list[Record]:
    """The records of a list or a file; a file named ``LANG=PATH`` gives its language to every record without a
    ``lang`` field of its own (the user's word, kept for centering and reports instead of detection)."""
    if isinstance(src, list):
        return [dict(r) for r in src]
    lang, file = split_lang_tag(src)
    path = Path(file)
    if not path.exists():
        raise TrainDataError(f"{what} file not found: {path}")
    records = list(read_records(path))
    if lang is not None:
        for rec in records:
            if "error" not in rec and not normalize_lang(rec.get("lang")):
                rec["lang"] = lang
    return records


@dataclass
class Labelled:
    texts: list[str]
    langs: list[str]
    labels: dict[str, list[Any]]  # head name -> label or None per row
    bad: list[str]


def parse_labelled(records: list[Record], heads: list[HeadConfig], text_field: str, what: str) -> Labelled:
    """Texts, given languages and labels of every good record; bad lines are described in ``bad``."""
    texts: list[str] = []
    given: list[Any] = []
    labels: dict[str, list[Any]] = {str(h.name): [] for h in heads}
    bad: list[str] = []
    for n, rec in enumerate(records, start=1):
        where = f"{what} line {rec.get('line', n)}"
        if "error" in rec:
            bad.append(f"{where}: {rec['error']}")
            continue
        try:
            text = get_text(rec, text_field)
            if not text.strip():
                raise FieldError(f"field {text_field!r} is empty")
            row: dict[str, Any] = {}
            for h in heads:
                raw = rec.get(h.label_field)
                row[str(h.name)] = None if raw is None or raw == "" else parse_label(raw, h.task)
            if all(v is None for v in row.values()):
                raise FieldError(f"no label in field(s) {', '.join(repr(h.label_field) for h in heads)}")
        except (FieldError, ValueError) as exc:
            bad.append(f"{where}: {exc}")
            continue
        texts.append(text)
        given.append(rec.get("lang"))
        for k, v in row.items():
            labels[k].append(v)
    return Labelled(texts=texts, langs=[str(g) if g else "" for g in given], labels=labels, bad=bad)


def check_bad(parsed: Labelled, what: str, skip_bad: bool) -> None:
    if parsed.bad and not skip_bad:
        shown = "; ".join(parsed.bad[:3])
        raise TrainDataError(f"{len(parsed.bad)} bad {what} line(s): {shown}. Fix them or pass --skip-bad")
    for b in parsed.bad:
        logger.warning("skipped %s", b)


def label_list(values: list[Any], task: str) -> list[Any]:
    if task == "rating":
        return list(RATING_LABELS)
    seen = {v for v in values if v is not None}
    if any(isinstance(v, str) for v in seen) and any(isinstance(v, int) for v in seen):
        seen = {str(v) for v in seen}
    return sorted(seen, key=lambda v: (isinstance(v, str), v))


def read_parallel(src: str | Path | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs from a two-column TSV (``xx<TAB>en``). A first row of two short codes (``deu eng``) is a header."""
    if isinstance(src, list):
        return [(str(a), str(b)) for a, b in src]
    path = Path(src)
    if not path.exists():
        raise TrainDataError(f"parallel file not found: {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    if rows and len(rows[0]) >= 2 and all(len(c) <= 8 and c.isalpha() and c.isascii() for c in rows[0][:2]):
        rows = rows[1:]
    pairs = [(r[0].strip(), r[1].strip()) for r in rows if len(r) >= 2 and r[0].strip() and r[1].strip()]
    if not pairs:
        raise TrainDataError(f"parallel file {path} has no pairs (expected two tab-separated columns)")
    return pairs


def parse_lang_pair(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--parallel-langs takes two codes like 'zh,en', got {text!r}")
    return parts[0], parts[1]


def majority_lang(texts: list[str]) -> str:
    langs = resolve_languages(texts[:200])
    return Counter(langs).most_common(1)[0][0]


def read_unlabeled(sources: list[Source], text_field: str) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """Texts, given languages and per-source counts of the unlabeled inputs; bad lines and empty texts are
    skipped, and a source with no usable text at all is an error."""
    texts: list[str] = []
    given: list[Any] = []
    files: list[dict[str, Any]] = []
    for src in sources:
        n_before = len(texts)
        for rec in load_source(src, "unlabeled"):
            if "error" in rec:
                continue
            try:
                t = get_text(rec, text_field)
            except FieldError:
                continue
            if t.strip():
                texts.append(t)
                given.append(rec.get("lang"))
        n = len(texts) - n_before
        name = str(src) if not isinstance(src, list) else "(records)"
        if n == 0:
            raise TrainDataError(f"unlabeled input {name} has no usable text in field {text_field!r}")
        lang = split_lang_tag(src)[0] if not isinstance(src, list) else None
        files.append({"source": name, "n": n, **({"lang": lang} if lang else {})})
    return texts, given, files


def split_holdout(records: list[dict[str, Any]], label_field: str, langs: list[str], source_lang: str, seed: int, *,
                  fraction: float, max_rows: int) -> tuple[list[int], list[int]]:
    """Indices ``(train, held)``: ``fraction`` of each class of the labelled ``source_lang`` rows (at most
    ``max_rows`` in all) is held out, seeded; a class keeps one row at least."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if langs[i] == source_lang and r.get(label_field) not in (None, ""):
            by_class.setdefault(str(r[label_field]), []).append(i)
    n_src = sum(len(v) for v in by_class.values())
    frac = min(fraction, max_rows / max(n_src, 1))
    held: set[int] = set()
    for idx in by_class.values():
        k = int(round(frac * len(idx)))
        if len(idx) - k >= 1:
            held.update(rng.permutation(idx)[:k].tolist())
    return [i for i in range(len(records)) if i not in held], sorted(held)
