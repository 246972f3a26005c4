"""Fast models: ONNX export, int8 quantization and attention-head pruning (needs ``babelcart[onnx]``).

>>> from babelcart.export import export_model                       # doctest: +SKIP
>>> export_model("models/my-e5", "models/my-e5-onnx", int8=True)     # doctest: +SKIP
>>> get_encoder("onnx:models/my-e5-onnx").encode(["蓝牙耳机"]).shape  # doctest: +SKIP
(1, 384)

Importing this package needs neither torch nor onnxruntime; the functions import them when called.
"""

from __future__ import annotations

from babelcart.export.model import export_model
from babelcart.export.onnx_export import ExportError
from babelcart.export.prune import prune_heads
from babelcart.export.quantize import quantize_int8

__all__ = ["ExportError", "export_model", "prune_heads", "quantize_int8"]
