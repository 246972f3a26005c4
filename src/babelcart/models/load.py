""":func:`load_model`: any model folder or ONNX export, opened by what its ``config.json`` records.

>>> clf = load_model("models/sentiment")                 # doctest: +SKIP
>>> clf.predict(["很好用", "Sehr schlecht"])[0]["pred"]    # doctest: +SKIP
'pos'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from babelcart.encoders.onnx import FORMAT as ONNX_FORMAT
from babelcart.models.ensemble import EnsembleClassifier
from babelcart.models.finetuned import load_finetuned
from babelcart.models.folder import ModelLoadError, read_config
from babelcart.models.frozen import load_head_model
from babelcart.models.onnx import load_onnx_classifier
from babelcart.models.predictor import Predictor

#: ``config.json``'s ``method`` -> what the folder holds.
METHODS = ("head", "finetune", "ensemble")


def load_model(path: str | Path, *, encoder: Any = None, cache_dir: str | None = None) -> Predictor:
    """Load a model folder (checks format, files, checksum and encoder build); dispatches on ``config["method"]``.

    ``encoder`` may be an already built encoder object; its spec and dimension must match the model's. A model that
    carries its own fine-tuned encoder (a refitted head) uses that one. Raises :class:`ModelLoadError` (a
    ``ValueError``) saying what is wrong with a folder.
    """
    folder = Path(path)
    if _is_onnx_export(folder):
        return load_onnx_classifier(folder)
    cfg = read_config(folder)
    method = cfg.get("method", "head")
    if method == "head":
        return load_head_model(folder, cfg, encoder=encoder, cache_dir=cache_dir)
    if method == "finetune":
        return load_finetuned(folder)
    if method == "ensemble":
        return _load_ensemble(folder, cfg, encoder=encoder, cache_dir=cache_dir)
    raise ModelLoadError(f"{folder}: unknown model method {method!r} (known: {', '.join(METHODS)})")


def _is_onnx_export(folder: Path) -> bool:
    """True for a classifier folder written by ``babelcart export --onnx`` (its own config format)."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # read_config reports what is wrong
    return isinstance(cfg, dict) and cfg.get("format") == ONNX_FORMAT


def _load_ensemble(folder: Path, cfg: dict[str, Any], *, encoder: Any, cache_dir: str | None) -> EnsembleClassifier:
    """An ensemble folder: every member loaded by :func:`load_model`; ``encoder`` goes to members of its spec."""
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
        members[name] = load_model(sub, encoder=use, cache_dir=cache_dir)
        if list(members[name].labels) != list(cfg["labels"]):
            raise ModelLoadError(f"{folder}: member {name!r} has labels {members[name].labels}, not {cfg['labels']}")
    return EnsembleClassifier(folder, cfg, members)
