"""Cross-lingual hybrid product search: BM25 over per-language analyzers + dense vectors + rank fusion.

- :mod:`~babelcart.apps.search.analyzers`, :mod:`~babelcart.apps.search.documents`,
  :mod:`~babelcart.apps.search.fusion`, :mod:`~babelcart.apps.search.doubt` and
  :mod:`~babelcart.apps.search.base` are the same for every backend;
- :class:`SearchIndex` (:mod:`~babelcart.apps.search.folder`) is the embedded backend: faiss
  (:mod:`~babelcart.apps.search.vector_index`) + own BM25 (:mod:`~babelcart.apps.search.lexical_index`),
  saved as a folder; ``SearchIndex.load`` also opens a folder of shards
  (:mod:`~babelcart.apps.search.sharded`) and a PostgreSQL URL (:mod:`~babelcart.apps.search.postgres`, the
  shared backend that service replicas read and write together).
"""

from __future__ import annotations

from babelcart.apps.search.base import (
    FILTER_KEYS,
    EncoderMismatchError,
    HybridSearch,
    IndexFormatError,
    SearchBackendUnavailable,
    check_filters,
)
from babelcart.apps.search.documents import AddReport, DeleteReport, detect_lang, detect_langs
from babelcart.apps.search.doubt import Hits
from babelcart.apps.search.folder import FORMAT, FORMAT_VERSION, SearchIndex
from babelcart.apps.search.fusion import COVERAGE_POWER, FUSIONS, MODES

__all__ = [
    "COVERAGE_POWER", "FILTER_KEYS", "FORMAT", "FORMAT_VERSION", "FUSIONS", "MODES", "AddReport", "DeleteReport",
    "EncoderMismatchError", "Hits", "HybridSearch", "IndexFormatError", "SearchBackendUnavailable", "SearchIndex", "check_filters",
    "detect_lang", "detect_langs",
]
