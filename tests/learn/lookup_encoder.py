"""A test encoder with exact control over the vectors: text ``"v<i> ..."`` is row ``i`` of a fixed matrix."""

from __future__ import annotations

import numpy as np


class LookupEncoder:
    """Texts are ``"v<i> ..."``; the vector is row ``i`` of a fixed matrix (no model, exact control)."""

    def __init__(self, vectors: np.ndarray, spec: str = "lookup:test") -> None:
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.spec = spec
        self.dim = self.vectors.shape[1]

    def encode(self, texts, *, role="passage", batch_size=64, show_progress=None):
        return np.stack([self.vectors[int(t.split()[0][1:])] for t in texts])
