"""``export_model``: any exportable model folder to ONNX, by what the folder holds.

An encoder or a fine-tuned classifier goes through :func:`~babelcart.export.onnx_export.export_transformer`; a
frozen head carrying its fine-tuned encoder (:mod:`babelcart.learn.refit`) through
:func:`~babelcart.export.refitted.export_refitted`, which exports that encoder the same way and keeps the head.

>>> export_model("models/my-e5", "models/my-e5-onnx", int8=True)  # doctest: +SKIP
PosixPath('models/my-e5-onnx')
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babelcart.export.onnx_export import OPSET, SAMPLE_TEXTS, ExportError, check_options, export_transformer
from babelcart.export.refitted import export_refitted


def export_model(
    source: str | os.PathLike[str], out: str | os.PathLike[str], *, int8: bool = False, keep_fp32: bool = True,
    prune: float = 0.0, recovery_data: str | os.PathLike[str] | None = None, recovery_steps: int = 200,
    recovery_lr: float = 3e-5, text_field: str = "text", label_field: str = "label", per_channel: bool = True,
    opset: int = OPSET, max_length: int | None = None, prefix: str | None = None, query_prefix: str | None = None,
    passage_prefix: str | None = None, sample_texts: Sequence[str] | None = None, min_cosine: float = 0.99,
    seed: int = 0,
) -> Path:
    """Export ``source`` to an ONNX folder ``out`` (atomic); returns ``out``.

    ``prune`` removes that fraction of attention heads first (see :mod:`babelcart.export.prune`);
    ``recovery_data`` (JSONL/CSV with ``text_field``/``label_field``) then fine-tunes a pruned classifier.
    Raises :class:`~babelcart.export.onnx_export.ExportError` when fp32 outputs disagree with PyTorch (cosine
    below ``min_cosine``), or when a refitted model's export predicts differently from it.
    """
    check_options(opset=opset, prune=prune, recovery_data=recovery_data)
    refitted = _refitted_config(Path(source).expanduser())
    if refitted is None:
        return export_transformer(source, out, int8=int8, keep_fp32=keep_fp32, prune=prune,
                                  recovery_data=recovery_data, recovery_steps=recovery_steps, recovery_lr=recovery_lr,
                                  text_field=text_field, label_field=label_field, per_channel=per_channel, opset=opset,
                                  max_length=max_length, prefix=prefix, query_prefix=query_prefix,
                                  passage_prefix=passage_prefix, sample_texts=sample_texts, min_cosine=min_cosine,
                                  seed=seed)
    if prune:
        raise ExportError(f"{source} is a frozen head on a fine-tuned encoder: pruning it is not supported; "
                          f"prune {Path(source) / refitted['encoder']['bundled']} (the fine-tune) instead")
    return export_refitted(Path(source).expanduser(), Path(out), refitted, int8=int8, keep_fp32=keep_fp32,
                           per_channel=per_channel, opset=opset, sample_texts=sample_texts or SAMPLE_TEXTS, seed=seed)


def _refitted_config(folder: Path) -> dict[str, Any] | None:
    """The config of a refitted model folder (a frozen head carrying its fine-tuned encoder), else None."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # load_source reports what is wrong
    enc = cfg.get("encoder") if isinstance(cfg, dict) else None
    return cfg if isinstance(enc, dict) and enc.get("bundled") and enc.get("format") != "onnx" else None
