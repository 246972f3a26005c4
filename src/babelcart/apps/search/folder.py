"""The embedded search backend: a catalog held in memory (faiss vectors + own BM25) and saved as a folder.

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
- Files: ``manifest.json`` (format, version, config, sizes and SHA-256 of every file, written last),
  ``docs.json``, ``bm25.npz`` + ``terms.json``, ``dense.faiss``, optional ``alignment.npz``. No pickle.
- ``SearchIndex.load`` also opens a folder of shards (``shards.json``; searched together, top-k merged) and a
  PostgreSQL URL (the shared backend).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.apps.search.base import HybridSearch, IndexFormatError
from babelcart.apps.search.documents import AddReport, DeleteReport, fold_key
from babelcart.apps.search.lexical_index import LexicalIndex
from babelcart.apps.search.locations import is_postgres_url
from babelcart.apps.search.sharded import SHARDS_FILE, ShardedSearchIndex, read_shards_manifest
from babelcart.apps.search.vector_index import VectorIndex
from babelcart.fsutil import atomic_dir, recover_dir, sha256_file
from babelcart.version import __version__

logger = logging.getLogger(__name__)

FORMAT = "babelcart-search-index"
FORMAT_VERSION = 1


class SearchIndex(HybridSearch):
    """A product index for hybrid (BM25 + dense) cross-lingual search, held in memory and saved as a folder.

    Build with ``SearchIndex.build``; the parameters are :class:`~babelcart.apps.search.base.HybridSearch`'s.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.ids_: list[str] = []
        self.titles_: list[str] = []
        self.langs_: list[str | None] = []
        self.categories_: list[str | None] = []
        self.prices_ = np.zeros(0, dtype=np.float64)
        self.alive_ = np.zeros(0, dtype=bool)
        self.row_of_: dict[str, int] = {}
        self.lexical_ = LexicalIndex(k1=self.k1, b=self.b)
        self.dense_: VectorIndex | None = None
        self.lang_counts_: Counter[str] = Counter()
        self._filter_cache: dict[str, Any] = {}

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

    def __len__(self) -> int:
        return int(self.alive_.sum())

    def live_ids(self) -> set[str]:
        """Ids of the products in the index."""
        return set(self.row_of_)

    def add(self, products: Iterable[Mapping[str, Any]], *, vectors: np.ndarray | None = None,
            show_progress: bool | None = None) -> AddReport:
        """Add products; an id already in the index is replaced (last wins). Returns an ``AddReport``.

        Products without an id or title, with a non-numeric price or carrying an ``error`` (a bad input line)
        are skipped and listed in the report; the others are indexed. ``vectors``: precomputed unit passage
        vectors from this index's encoder, one row per product in input order (e.g. stored by ingestion).
        """
        report, docs, tokens, vectors = self._prepare(
            products, vectors, show_progress, expected_dim=self.dense_.dim if self.dense_ is not None else None)
        if not docs:
            return report
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

    # ------------------------------------------------------------------ storage hooks for searching
    def _has_vectors(self) -> bool:
        return self.dense_ is not None

    def _lang_counts(self) -> Counter[str]:
        return self.lang_counts_

    def _restrict(self, filters: dict[str, Any]) -> np.ndarray | None:
        """Bool mask of rows that are live and pass ``filters``; None when every row is allowed."""
        if not filters and self.alive_.all():
            return None
        mask = self.alive_.copy()
        for key, column in (("category", self.categories_), ("lang", self.langs_)):
            if key in filters:
                codes, vocab = self._coded_column(key, column)
                lut = np.zeros(len(vocab) + 1, dtype=bool)
                lut[[vocab[w] for w in filters[key] if w in vocab]] = True
                mask &= lut[codes]
        for key, op in (("price_min", np.greater_equal), ("price_max", np.less_equal)):
            if key in filters:
                with np.errstate(invalid="ignore"):
                    mask &= op(self.prices_, filters[key])  # products without a price never pass a price filter
        return mask

    def _coded_column(self, key: str, column: list[str | None]) -> tuple[np.ndarray, dict[str, int]]:
        """Integer codes of a folded text column (cached until the next add/delete); code 0 is "missing"."""
        cache = self._filter_cache
        if key not in cache:
            vocab: dict[str, int] = {}
            codes = np.array([0 if v is None else vocab.setdefault(fold_key(v), len(vocab) + 1) for v in column],
                             dtype=np.int32)
            cache[key] = (codes, vocab)
        return cache[key]

    def _lexical(self, words: list[list[str]], k: int, restrict: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.lexical_.search(words, k=k, alive=self.alive_, allowed=restrict)

    def _dense(self, qvec: np.ndarray, k: int, restrict: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        assert self.dense_ is not None
        s, r = self.dense_.search(qvec[None, :], k=k, allowed=restrict if restrict is not None
                                  else (None if self.alive_.all() else self.alive_))
        keep = r[0] >= 0
        return r[0][keep], s[0][keep]

    def _vectors(self, keys: list[int]) -> np.ndarray:
        assert self.dense_ is not None
        return self.dense_.reconstruct(np.asarray(keys, dtype=np.int64))

    def _describe(self, keys: list[int]) -> list[dict[str, Any]]:
        out = []
        for row in keys:
            res: dict[str, Any] = {"id": self.ids_[row], "title": self.titles_[row], "lang": self.langs_[row]}
            if self.categories_[row] is not None:
                res["category"] = self.categories_[row]
            if not math.isnan(self.prices_[row]):
                res["price"] = float(self.prices_[row])
            out.append(res)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the index to folder ``path`` atomically (a complete folder or the old one, never half)."""
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
                files[f.name] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
            manifest = {"format": FORMAT, "version": FORMAT_VERSION, "babelcart_version": __version__,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "n_rows": len(self.ids_), "n_live": len(self), "config": self._config(),
                        "dense": dense_meta, "alignment": align_meta, "files": files}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, *, encoder: Any = None, cache_dir: str | None = None,
             verify: bool = True) -> HybridSearch:
        """Open a saved index: a folder written by ``save``, a folder of shards (``shards.json``, as
        ``babelcart index build --engine ray`` writes) or a PostgreSQL URL (``postgresql+psycopg://...``, see
        :class:`~babelcart.apps.search.postgres.PostgresSearchIndex`).

        Raises ``FileNotFoundError`` or ``IndexFormatError`` with the reason. ``verify`` checks every file's
        size and SHA-256 against the manifest (catches truncated/corrupted files).
        """
        if is_postgres_url(path):
            from babelcart.apps.search.postgres import PostgresSearchIndex  # the optional [postgres] extra

            return PostgresSearchIndex.open(str(path), encoder=encoder, cache_dir=cache_dir)
        folder = recover_dir(path)
        if folder.is_dir() and (folder / SHARDS_FILE).exists() and not (folder / "manifest.json").exists():
            manifest = read_shards_manifest(folder)
            shards = [cls.load_folder(folder / entry["path"], cache_dir=cache_dir, verify=verify)
                      for entry in manifest["shards"]]
            return ShardedSearchIndex(shards, path=folder, encoder=encoder)
        return cls.load_folder(folder, encoder=encoder, cache_dir=cache_dir, verify=verify)

    @classmethod
    def load_folder(cls, path: str | Path, *, encoder: Any = None, cache_dir: str | None = None,
                    verify: bool = True) -> SearchIndex:
        """Read one folder written by ``save`` (see ``load``)."""
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
            if verify and sha256_file(f) != info.get("sha256"):
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
        index = cls(**cfg, alignment=alignment, cache_dir=cache_dir)
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
