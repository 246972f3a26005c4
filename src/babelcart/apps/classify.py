"""Load a trained model folder and predict labels, ratings and scores for texts in any language.

>>> clf = load_classifier("models/sentiment")          # doctest: +SKIP
>>> clf.predict(["很好用", "Sehr schlecht"])              # doctest: +SKIP
[{'pred': 'pos', 'scores': {'neg': 0.08, 'pos': 0.92}, 'lang': 'zh'}, ...]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from babelcart.datasets.records import Record, collect_texts
from babelcart.encoders.base import vectors_id
from babelcart.learn.persist import ModelLoadError, load_head_arrays, read_config

logger = logging.getLogger(__name__)


class Predictor(Protocol):
    """What every loaded model offers (heads on frozen vectors, or a fine-tuned model)."""

    labels: list[Any]
    task: str
    encoder_spec: str

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]: ...


class Classifier:
    """A frozen encoder + alignment + heads. ``predict`` returns one dict per text (see DESIGN.md §4)."""

    def __init__(self, path: Path, config: dict[str, Any], model: Any, encoder: Any) -> None:
        self.path = path
        self.config = config
        self.model = model
        self.encoder = encoder
        self.task: str = config["task"]
        self.tasks: list[str] = list(config["tasks"])
        self.labels: list[Any] = list(config["labels"])
        self.encoder_spec: str = config["encoder"]["spec"]
        self.role: str = config["encoder"].get("role", "query")
        self.text_field: str = config.get("text_field", "text")
        self.source_lang: str | None = config.get("source_lang")

    @property
    def heads(self) -> list[str]:
        return [h.name for h in self.model.heads]

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """Predict for ``texts``; ``langs[i]`` (or None to detect) gives each text's language."""
        from babelcart.learn.langs import resolve_languages

        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not one string")
        texts = list(texts)
        if not texts:
            return []
        resolved = resolve_languages(texts, langs)
        X = self.encoder.encode(texts, role=self.role)
        rows = self.model.outputs(self.model.features(X, resolved))
        for row, lang in zip(rows, resolved, strict=True):
            row["lang"] = lang
        return rows

    def predict_records(self, records: list[Record], *, text_field: str | None = None) -> list[Record]:
        """Records in, records out with ``pred``/``scores``/``lang`` added; a bad record gets ``error``."""
        out, good, texts = collect_texts(records, text_field or self.text_field)
        preds = self.predict(texts, [records[i].get("lang") for i in good]) if good else []
        for i, p in zip(good, preds, strict=True):
            out[i] = {**records[i], **p}
        return out


def load_classifier(path: str | Path, *, encoder: Any = None, cache_dir: str | None = None) -> Predictor:
    """Load a model folder (checks format, files, checksum and encoder); dispatches on ``config["method"]``.

    ``encoder`` may be an already built encoder object; its spec and dimension must match the model's. A model that
    carries its own fine-tuned encoder (:mod:`babelcart.learn.refit`) uses that one.
    """
    folder = Path(path)
    if _is_onnx_export(folder):
        from babelcart.encoders.onnx import load_onnx_classifier

        return load_onnx_classifier(folder)  # type: ignore[no-any-return]
    cfg = read_config(folder)
    method = cfg.get("method", "head")
    if method == "finetune":
        try:
            from babelcart.learn.finetuned import load_finetuned
        except ImportError as exc:
            raise ModelLoadError(f"{folder} is a fine-tuned model: loading it needs babelcart.learn.finetuned and "
                                 "the [train] extra (pip install 'babelcart[train]')") from exc
        return load_finetuned(folder)  # type: ignore[no-any-return]
    if method == "ensemble":
        from babelcart.learn.ensemble import load_ensemble

        return load_ensemble(folder, encoder=encoder, cache_dir=cache_dir)  # type: ignore[return-value]
    if method != "head":
        raise ModelLoadError(f"{folder}: unknown model method {method!r}")
    for key in ("task", "tasks", "labels", "encoder", "model"):
        if key not in cfg:
            raise ModelLoadError(f"{folder}/config.json is incomplete: {key!r} is missing")
    arrays = load_head_arrays(folder, cfg)
    from babelcart.learn.multitask import TransferModel

    try:
        model = TransferModel.from_arrays(arrays, cfg["model"])
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{folder} is corrupted or incomplete: {exc}") from exc
    spec, dim = cfg["encoder"]["spec"], int(cfg["encoder"]["dim"])
    _check_dims(folder, model, dim)
    bundled = bool(cfg["encoder"].get("bundled"))
    if bundled and (encoder is None or vectors_id(encoder).partition("#")[0] != cfg["encoder"].get("build")):
        from babelcart.learn.refit import bundled_encoder

        encoder = bundled_encoder(folder, cfg, cache_dir=cache_dir)  # the model's own fine-tuned encoder
    if encoder is None:
        from babelcart.encoders import get_encoder

        encoder = get_encoder(spec, cache_dir=cache_dir) if cache_dir else get_encoder(spec)
    if encoder.spec != spec or int(encoder.dim) != dim:
        raise ModelLoadError(f"{folder} was trained with encoder {spec!r} ({dim}-d) but the given encoder is "
                             f"{encoder.spec!r} ({encoder.dim}-d); use the same encoder")
    build = cfg["encoder"].get("build")
    if build is not None and not bundled and vectors_id(encoder) != build:
        raise ModelLoadError(f"{folder} was trained on vectors of {build}, but encoder {spec!r} now gives "
                             f"{vectors_id(encoder)}: retrain the model (babelcart train ...) so its head sees "
                             "the vectors it will serve")
    return Classifier(folder, cfg, model, encoder)


def _is_onnx_export(folder: Path) -> bool:
    """True for a classifier folder written by ``babelcart export --onnx`` (its own config format)."""
    from babelcart.encoders.onnx import FORMAT as ONNX_FORMAT

    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # read_config reports what is wrong
    return isinstance(cfg, dict) and cfg.get("format") == ONNX_FORMAT


def _check_dims(folder: Path, model: Any, dim: int) -> None:
    for hs in model.heads:
        probe = np.zeros((1, dim), dtype=np.float32)
        try:
            hs.head.logits(probe)
        except ValueError as exc:
            raise ModelLoadError(f"{folder}: head {hs.name!r} does not fit the {dim}-d encoder in config.json "
                                 f"({exc})") from exc
    for name, mu in getattr(model.aligner.centering_, "means_", {}).items():
        if mu.shape != (dim,):
            raise ModelLoadError(f"{folder}: centering statistics for {name} have shape {mu.shape}, not ({dim},)")


@dataclass(frozen=True)
class _HeadView:
    """The parts of one head an evaluation needs, for heads models and single-head (fine-tuned) models alike."""

    name: str
    task: str
    labels: list[Any]
    label_field: str
    prefix: str  # prefix of the head's output fields ("" for the first head)


def _head_view(clf: Predictor, head: str | None) -> _HeadView:
    if isinstance(clf, Classifier):
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
    """Per-language report (n, accuracy, macro-F1, MAE for ratings, gap to the source language) of one head.

    Works for heads models and fine-tuned or exported single-head models. Lines without a label or with an
    unreadable text are counted in ``skipped``; a label the model does not know raises ``ValueError`` naming
    it (an evaluation on unknown classes would be meaningless). Languages are the records' ``lang`` or
    detected (under the shop profile in force); a language with fewer than ``min_n`` lines is folded into
    ``"other"``. The gap is against the model's source language (its config): on these data when they hold
    ``min_n`` source lines, else on the model's own dev (or training) metrics, as ``"gap_reference"`` says.
    """
    from babelcart.learn.labels import parse_label
    from babelcart.learn.metrics import per_language_report

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
                                 min_n=min_n, source_reference=_source_reference(clf, hs.name, source_lang, min_n))
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
