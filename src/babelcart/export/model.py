"""``export_model``: any exportable model folder to ONNX, by what the folder holds.

An encoder or a fine-tuned classifier goes through :func:`~babelcart.export.onnx_export.export_transformer`; a
frozen head carrying its fine-tuned encoder (:mod:`babelcart.learn.refit`) through
:func:`~babelcart.export.refitted.export_refitted`, which exports that encoder the same way and keeps the head.

>>> export_model("models/my-e5", "models/my-e5-onnx", int8=True)  # doctest: +SKIP
PosixPath('models/my-e5-onnx')
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

from babelcart.export.onnx_export import SAMPLE_TEXTS, ExportError, check_options, export_transformer
from babelcart.export.refitted import export_refitted


def export_model(source: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any) -> Path:
    """Export ``source`` to an ONNX folder ``out`` (atomic); returns ``out``. ``options`` are those of
    :func:`~babelcart.export.onnx_export.export_transformer`, with its defaults (``int8``, ``prune``, ``opset``, ...).

    ``prune`` removes that fraction of attention heads first (see :mod:`babelcart.export.prune`);
    ``recovery_data`` (JSONL/CSV with ``text_field``/``label_field``) then fine-tunes a pruned classifier.
    Raises :class:`~babelcart.export.onnx_export.ExportError` when fp32 outputs disagree with PyTorch (cosine
    below ``min_cosine``), or when a refitted model's export predicts differently from it.
    """
    opts = {**_TRANSFORMER_DEFAULTS, **options}
    unknown = set(options) - set(_TRANSFORMER_DEFAULTS)
    if unknown:
        raise TypeError(f"export_model() got unexpected option(s): {', '.join(sorted(unknown))}")
    check_options(opset=opts["opset"], prune=opts["prune"], recovery_data=opts["recovery_data"])
    refitted = _refitted_config(Path(source).expanduser())
    if refitted is None:
        return export_transformer(source, out, **options)
    if opts["prune"]:
        raise ExportError(f"{source} is a frozen head on a fine-tuned encoder: pruning it is not supported; "
                          f"prune {Path(source) / refitted['encoder']['bundled']} (the fine-tune) instead")
    return export_refitted(Path(source).expanduser(), Path(out), refitted, int8=opts["int8"],
                           keep_fp32=opts["keep_fp32"], per_channel=opts["per_channel"], opset=opts["opset"],
                           sample_texts=opts["sample_texts"] or SAMPLE_TEXTS, seed=opts["seed"])


#: ``export_transformer``'s keyword options and their defaults: defined there once, read here.
_TRANSFORMER_DEFAULTS = {name: p.default for name, p in inspect.signature(export_transformer).parameters.items()
                         if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _refitted_config(folder: Path) -> dict[str, Any] | None:
    """The config of a refitted model folder (a frozen head carrying its fine-tuned encoder), else None."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # load_source reports what is wrong
    enc = cfg.get("encoder") if isinstance(cfg, dict) else None
    return cfg if isinstance(enc, dict) and enc.get("bundled") and enc.get("format") != "onnx" else None
