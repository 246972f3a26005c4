"""int8 dynamic quantization of an ONNX graph with onnxruntime (weights QInt8, activations at run time).

>>> quantize_int8("out/model.onnx", "out/model.int8.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def quantize_int8(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, per_channel: bool = True) -> Path:
    """Write ``dst``: ``src`` with MatMul/Gather weights in int8 (per output channel when ``per_channel``).

    Per-channel scales keep more accuracy on transformer projections at no speed cost.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ImportError("onnxruntime is not installed: install babelcart[onnx]") from exc
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"ONNX model not found: {src}")
    # quantize_dynamic logs a "consider pre-processing" hint through the root logger on every call
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)
    except Exception as exc:  # noqa: BLE001 - onnx/ort raise many types; say which file failed
        raise RuntimeError(f"int8 quantization of {src} failed: {exc}") from exc
    finally:
        root.setLevel(level)
    logger.info("int8 model %s: %.1f MB (fp32 %.1f MB)", dst, dst.stat().st_size / 1e6, src.stat().st_size / 1e6)
    return dst
