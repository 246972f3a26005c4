"""Inner-product vector search over unit vectors with faiss: exact (flat) for small catalogs, HNSW above a size.

Vectors are keyed by the caller's integer row ids through ``IndexIDMap2``. Deletes: the flat index removes
vectors (``remove_ids``); HNSW cannot, so its rows stay as tombstones and every search passes an
``IDSelectorBitmap`` of allowed rows (live and passing the filters). A very selective filter is served exactly
by scoring just the allowed rows' stored vectors.

>>> vi = VectorIndex(dim=4)
>>> vi.add(np.eye(4, dtype=np.float32), np.arange(4))
>>> vi.search(np.eye(4, dtype=np.float32)[:1], k=1)[1].tolist()
[[0]]
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Up to this many allowed rows, a filtered search scores them exactly instead of asking faiss.
EXACT_SUBSET_MAX = 4096
#: Up to this many queries in one call, faiss runs single-threaded: OpenMP fork/join costs more than it saves
#: for one query and, on busy machines, waiting on the thread barrier dominated latency (42 ms vs 0.4 ms).
SINGLE_THREAD_MAX_QUERIES = 4


def _faiss():  # type: ignore[no-untyped-def]
    import faiss

    return faiss


class VectorIndex:
    """A faiss index keyed by int64 row ids; ``kind`` is ``"flat"`` or ``"hnsw"``."""

    def __init__(self, *, dim: int, kind: str = "flat", hnsw_m: int = 32, ef_construction: int = 80,
                 ef_search: int = 96) -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"kind must be 'flat' or 'hnsw', not {kind!r}")
        self.dim = dim
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.index_ = self._empty(kind)

    def _empty(self, kind: str):  # type: ignore[no-untyped-def]
        faiss = _faiss()
        if kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(inner)

    @property
    def ntotal(self) -> int:
        return int(self.index_.ntotal)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add unit ``vectors`` [n, dim] under integer ``ids``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape [n, {self.dim}], got {vectors.shape}")
        if len(vectors):
            self.index_.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids from a flat index; a no-op for HNSW (the caller's tombstones hide them)."""
        if self.kind == "flat" and len(ids):
            self.index_.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors of ``ids`` (each must be present)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self.index_.reconstruct_batch(ids), dtype=np.float32)

    def convert(self, kind: str, ids: np.ndarray, *, force: bool = False) -> None:
        """Rebuild as ``kind`` from the stored vectors of ``ids`` (e.g. flat → HNSW when the catalog grows);
        ``force`` rebuilds even when the kind is unchanged (drops HNSW tombstones)."""
        if kind == self.kind and not force:
            return
        vecs = self.reconstruct(ids)
        self.kind = kind
        self.index_ = self._empty(kind)
        self.add(vecs, ids)

    def search(self, queries: np.ndarray, *, k: int, allowed: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) per query row; ``allowed`` is a bool mask over row ids (None: all).

        Missing results are id -1 with score -inf.
        """
        faiss = _faiss()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(queries) > SINGLE_THREAD_MAX_QUERIES:
            return self._search(queries, k=k, allowed=allowed)
        # the OpenMP thread count is a per-thread setting: this does not affect other threads
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(queries, k=k, allowed=allowed)
        finally:
            faiss.omp_set_num_threads(before)

    def _search(self, queries: np.ndarray, *, k: int, allowed: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        m = len(queries)
        if self.ntotal == 0 or k <= 0:
            return np.full((m, max(k, 0)), -np.inf, np.float32), np.full((m, max(k, 0)), -1, np.int64)
        if allowed is None:
            if self.kind == "hnsw":
                _faiss().downcast_index(self.index_.index).hnsw.efSearch = max(self.ef_search, k)
            scores, ids = self.index_.search(queries, k)
            return self._clean(scores, ids)
        subset = np.flatnonzero(allowed)
        if len(subset) <= EXACT_SUBSET_MAX:
            return self._exact(queries, subset, k)
        bitmap = np.packbits(allowed.astype(bool), bitorder="little")
        sel = faiss.IDSelectorBitmap(bitmap)
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, k))
        else:
            params = faiss.SearchParameters(sel=sel)
        scores, ids = self.index_.search(queries, k, params=params)
        del bitmap
        return self._clean(scores, ids)

    def _exact(self, queries: np.ndarray, subset: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = len(queries)
        out_s = np.full((m, k), -np.inf, np.float32)
        out_i = np.full((m, k), -1, np.int64)
        if not len(subset):
            return out_s, out_i
        # (n, d) @ (d, m) with the stored rows first: a gemv-shaped product that BLAS runs without threads
        sims = np.ascontiguousarray((self.reconstruct(subset) @ queries.T).T)
        kk = min(k, len(subset))
        for qi in range(m):
            top = np.argpartition(-sims[qi], kk - 1)[:kk]
            top = top[np.argsort(-sims[qi, top], kind="stable")]
            out_s[qi, :kk] = sims[qi, top]
            out_i[qi, :kk] = subset[top]
        return out_s, out_i

    @staticmethod
    def _clean(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def nbytes(self) -> int:
        """Serialized size of the faiss index in bytes."""
        faiss = _faiss()
        return int(faiss.serialize_index(self.index_).size)

    def save(self, path: str | Path) -> None:
        """Write the faiss index to ``path`` (faiss's own format; no pickle)."""
        _faiss().write_index(self.index_, str(path))

    @classmethod
    def load(cls, path: str | Path, *, dim: int, kind: str, ef_search: int = 96) -> VectorIndex:
        """Read an index written by ``save``; raises ``ValueError`` on a damaged or mismatched file."""
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise ValueError(f"cannot read faiss index {path}: {exc}") from exc
        if index.d != dim:
            raise ValueError(f"faiss index {path} has dimension {index.d}, expected {dim}")
        vi = cls(dim=dim, kind=kind, ef_search=ef_search)
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"faiss index {path} is not an IndexIDMap2")
        vi.index_ = index
        inner = faiss.downcast_index(vi.index_.index)
        if (kind == "hnsw") != isinstance(inner, faiss.IndexHNSWFlat):
            raise ValueError(f"faiss index {path} is {type(inner).__name__}, expected kind {kind!r}")
        return vi
