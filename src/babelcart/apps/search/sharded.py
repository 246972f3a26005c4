"""A catalog split into shard folders (``babelcart index build --engine ray``) searched as one index.

The folder holds ``shards.json`` and ``shard-00000``, ``shard-00001``... (each an ordinary index folder;
products were spread by a hash of their id). ``SearchIndex.load(folder)`` opens them all; a query is analyzed
and encoded once, each shard gives its BM25 and dense top-``depth`` lists, the lists are merged by score
(dense scores are cosines, comparable across shards; BM25 scores use each shard's own statistics, which a hash
split keeps close to the whole catalog's) and then fused and judged like one index's.

Shards are read-only here: live updates go to a single folder or a PostgreSQL index.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.apps.search.base import HybridSearch, IndexFormatError
from babelcart.apps.search.documents import AddReport, DeleteReport

SHARDS_FILE = "shards.json"
SHARDS_FORMAT = "babelcart-search-shards"
SHARDS_VERSION = 1
#: A merged key is ``row << SHARD_BITS | shard``.
SHARD_BITS = 16


def read_shards_manifest(folder: Path) -> dict[str, Any]:
    """The checked ``shards.json`` of ``folder`` (``IndexFormatError`` when it is not one)."""
    path = folder / SHARDS_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        raise IndexFormatError(f"{path} is not a babelcart shard list")
    if manifest.get("version") != SHARDS_VERSION:
        raise IndexFormatError(f"{path} has shard-list version {manifest.get('version')}; this babelcart reads "
                               f"version {SHARDS_VERSION}")
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not shards or len(shards) >= 1 << SHARD_BITS:
        raise IndexFormatError(f"{path} lists no shards")
    for entry in shards:
        name = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(name, str) or Path(name).name != name:
            raise IndexFormatError(f"{path}: shard path {name!r} is not a folder name inside {folder}")
    return manifest


class ShardedSearchIndex(HybridSearch):
    """Several loaded shard indexes (``SearchIndex``) searched together, top-k merged."""

    def __init__(self, shards: Sequence[Any], *, path: Path | None = None, encoder: Any = None) -> None:
        if not shards:
            raise ValueError("a sharded index needs at least one shard")
        built = [s for s in shards if s.encoder_build_ is not None] or list(shards)  # an empty shard has none
        cfg = built[0]._config()
        build = cfg.pop("encoder_build", None)
        super().__init__(**cfg, encoder=encoder, cache_dir=built[0].cache_dir)
        self.encoder_build_ = build
        for s in built[1:]:
            if s.encoder_build_ != build or s.encoder_spec != self.encoder_spec:
                raise IndexFormatError(f"shards of {path} were built with different encoders")
        self.shards = list(shards)
        self.path = path
        self._check_encoder_build()

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def live_ids(self) -> set[str]:
        """Ids of the products in all shards."""
        return set().union(*(s.live_ids() for s in self.shards))

    def add(self, products: Iterable[Mapping[str, Any]], *, vectors: np.ndarray | None = None,
            show_progress: bool | None = None) -> AddReport:
        raise NotImplementedError("a sharded folder is read-only: rebuild it, or keep a catalog that changes in "
                                  "one index folder or in PostgreSQL (babelcart index build --out URL)")

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        raise NotImplementedError("a sharded folder is read-only: rebuild it, or keep a catalog that changes in "
                                  "one index folder or in PostgreSQL (babelcart index build --out URL)")

    def _has_vectors(self) -> bool:
        return any(s._has_vectors() for s in self.shards)

    def _lang_counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.shards:
            total.update(s._lang_counts())
        return total

    def _restrict(self, filters: dict[str, Any]) -> list[Any]:
        return [s._restrict(filters) for s in self.shards]

    @staticmethod
    def _merge(parts: Sequence[tuple[np.ndarray, ...]], k: int, score_at: int) -> tuple[np.ndarray, ...]:
        """Concatenate per-shard lists (keys first) and keep the ``k`` best by ``parts[i][score_at]``."""
        cols = [np.concatenate([p[c] for p in parts]) for c in range(len(parts[0]))]
        order = np.lexsort((cols[0], -cols[score_at].astype(np.float64)))[:k]
        return tuple(c[order] for c in cols)

    def _key(self, shard: int, rows: np.ndarray) -> np.ndarray:
        return (rows.astype(np.int64) << SHARD_BITS) | shard

    def _lexical(self, words: list[list[str]], k: int, restrict: list[Any]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = []
        for i, (s, allowed) in enumerate(zip(self.shards, restrict, strict=True)):
            rows, scores, cov = s._lexical(words, k, allowed)
            parts.append((self._key(i, rows), scores, cov))
        keys, scores, cov = self._merge(parts, k, 1)
        return keys, scores, cov

    def _dense(self, qvec: np.ndarray, k: int, restrict: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for i, (s, allowed) in enumerate(zip(self.shards, restrict, strict=True)):
            if s._has_vectors():
                rows, scores = s._dense(qvec, k, allowed)
                parts.append((self._key(i, rows), scores))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        keys, scores = self._merge(parts, k, 1)
        return keys, scores

    def _vectors(self, keys: list[int]) -> np.ndarray:
        mask = (1 << SHARD_BITS) - 1
        return np.stack([self.shards[key & mask]._vectors([key >> SHARD_BITS])[0] for key in keys])

    def _describe(self, keys: list[int]) -> list[dict[str, Any]]:
        mask = (1 << SHARD_BITS) - 1
        return [self.shards[key & mask]._describe([key >> SHARD_BITS])[0] for key in keys]
