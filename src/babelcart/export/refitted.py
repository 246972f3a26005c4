"""ONNX export of a refitted model (the frozen head on its fine-tuned encoder, :mod:`babelcart.learn.refit`).

The fine-tuned encoder goes to ONNX (``OUT/encoder/``, an encoder export like any other) and the head folder is
copied beside it: per-language centering and the head stay numpy, so the export predicts what the folder predicts.
Gated on what users feel: per precision, the share of sample texts whose predicted label is the source model's, and
the largest score change between a text alone and in a batch. The export serves int8 by default only when it passes
both (:data:`~babelcart.export.onnx_export.INT8_MIN_AGREEMENT`, :data:`BATCH_TOLERANCE`); else fp32, and the int8
file stays as an option (``bundled_encoder(..., precision="int8")``).

    OUT/
      config.json        the head's config; "encoder": {"bundled": "encoder", "format": "onnx", ...}, "export": {...}
      head.safetensors
      encoder/           the ONNX encoder export (model.onnx, model.int8.onnx, tokenizer/)
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babelcart.export.onnx_export import INT8_MIN_AGREEMENT, ExportError, export_transformer
from babelcart.fsutil import atomic_dir, read_json_config

logger = logging.getLogger(__name__)
#: The files of a head folder an export keeps (the fine-tuned torch weights stay behind).
HEAD_FILES = ("head.safetensors", "README.md", "metrics.json")
#: The largest change of a class probability between a text alone and in a batch that still counts as the same
#: output (fp32 stays near 1e-6; dynamic int8 quantization scales activations per batch and moved scores by 0.9).
BATCH_TOLERANCE = 1e-3


def export_refitted(source: Path, out: Path, cfg: dict[str, Any], *, int8: bool, keep_fp32: bool, per_channel: bool,
                    opset: int, sample_texts: Sequence[str], seed: int) -> Path:
    """Export the refitted model folder ``source`` (config ``cfg``) to ``out`` (atomic); returns ``out``."""
    from babelcart.models.frozen import bundled_encoder
    from babelcart.models.load import load_model

    ft_dir = source / cfg["encoder"]["bundled"]
    ft = read_json_config(ft_dir / "config.json", ExportError, missing=f"{source} is incomplete: {ft_dir} is missing")
    texts = list(sample_texts)
    with atomic_dir(out) as tmp:
        export_transformer(ft_dir / "encoder", tmp / "encoder", int8=int8, keep_fp32=keep_fp32,
                           per_channel=per_channel, opset=opset, query_prefix=ft.get("query_prefix", ""),
                           passage_prefix=ft.get("passage_prefix", ""), max_length=ft.get("max_length"),
                           seed=seed)
        for name in HEAD_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)
        enc_export = json.loads((tmp / "encoder" / "config.json").read_text(encoding="utf-8"))
        config = {**cfg, "encoder": {**cfg["encoder"], "spec": "bundled:encoder", "bundled": "encoder",
                                     "format": "onnx", "build": f"{cfg['encoder']['build']}:onnx"}}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        want = [p["pred"] for p in load_model(source).predict(texts)]
        validation: dict[str, Any] = {"texts": len(texts)}
        for precision in ("fp32", "int8") if int8 else ("fp32",):
            if precision == "fp32" and not keep_fp32:
                continue
            exported = load_model(tmp, encoder=bundled_encoder(tmp, config, precision=precision))
            validation[precision] = _validate(exported, texts, want)
        if validation.get("fp32", {}).get("pred_agreement", 1.0) < 1.0:
            raise ExportError(f"the ONNX export of {source} predicts differently from it on "
                              f"{1 - validation['fp32']['pred_agreement']:.0%} of the sample texts in fp32")
        config["encoder"]["precision"] = _default_precision(validation)
        config["export"] = {"kind": "refitted", "source": str(source.expanduser().resolve()),
                            "files": [f"encoder/{f}" for f in enc_export["files"]], "validation": validation,
                            "encoder_validation": enc_export["validation"], "pruning": None}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    if "int8" in validation and config["encoder"]["precision"] != "int8":
        logger.warning("the int8 encoder failed its gate (%s; it needs >= %.0f%% of the source's predictions and the "
                       "same scores alone or in a batch): the export serves fp32 by default; int8 stays in %s as "
                       "an option", validation["int8"], 100 * INT8_MIN_AGREEMENT, out / "encoder")
    return out


def _validate(clf: Any, texts: list[str], want: list[Any]) -> dict[str, float]:
    """Prediction agreement with the source, and the largest score change between a text alone and in a batch."""
    from babelcart.export.onnx_export import readable

    batch = clf.predict(texts)
    alone = [clf.predict([t])[0] for t in texts]
    drift = max(abs(a["scores"][k] - b["scores"][k]) for a, b in zip(batch, alone, strict=True) for k in a["scores"])
    agree = sum(p["pred"] == w for p, w in zip(batch, want, strict=True)) / len(texts)
    return {"pred_agreement": readable(agree), "max_score_diff_alone_vs_batch": readable(drift)}


def _default_precision(validation: dict[str, Any]) -> str:
    """int8 only when it passes the gate (prediction agreement and batch invariance), else fp32."""
    q = validation.get("int8")
    if q is None:
        return "fp32"
    if "fp32" not in validation:  # exported without fp32: int8 is all there is
        return "int8"
    ok = q["pred_agreement"] >= INT8_MIN_AGREEMENT and q["max_score_diff_alone_vs_batch"] <= BATCH_TOLERANCE
    return "int8" if ok else "fp32"
