"""A character n-gram hashing encoder: no model, instant, a lexical baseline and a fast test double."""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role


class HashingEncoder(BatchedEncoder):
    """Hashes character 1-3-grams of lowercased NFKC text into ``dim`` signed buckets (spec ``hash:512``).

    Not language-agnostic: texts only match when they share characters. Used as a baseline and in tests.
    """

    def __init__(self, arg: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.dim = int(arg) if arg else 512
        if self.dim < 8:
            raise ValueError("hash encoder needs at least 8 dimensions")
        self.spec = f"hash:{self.dim}"

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        t = f" {unicodedata.normalize('NFKC', text).lower()} "
        for n in (1, 2, 3):
            for i in range(len(t) - n + 1):
                h = int.from_bytes(hashlib.blake2b(t[i:i + n].encode(), digest_size=8).digest(), "little")
                v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return v

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
