"""The catalog's text side: what is embedded for a product, and the embeddings (one unit row per product)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def product_text(p: dict[str, Any]) -> str:
    """The text embedded for a product: title | category | start of the description."""
    parts = [str(p.get("title") or ""), str(p.get("category") or ""), str(p.get("description") or "")[:300]]
    return " | ".join(x for x in parts if x.strip())


def embed_products(products: Sequence[dict[str, Any]], encoder: Any, *, batch_size: int = 64,
                   show_progress: bool | None = None) -> np.ndarray:
    """Passage embeddings of ``product_text`` for each product (unit rows)."""
    return np.asarray(encoder.encode([product_text(p) for p in products], role="passage",
                                     batch_size=batch_size, show_progress=show_progress), dtype=np.float32)
