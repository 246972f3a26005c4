"""An incremental BM25 inverted index over analyzed terms: append-only segments, deletes by tombstone.

Rows (documents) are numbered 0, 1, 2... by the caller. ``add`` appends one immutable CSR segment
(term → rows, term frequencies); ``search`` reads every segment; deleted rows are masked out and document
frequencies, the document count and the average length are computed over live rows only, so BM25 scores
after a delete equal those of a rebuilt index. Segments are merged when there are many of them.
Nothing is pickled: ``state()`` returns plain arrays and a term list for ``.npz`` + JSON.

>>> ix = LexicalIndex()
>>> ix.add([["red", "shoe"], ["blue", "shoe"]])
>>> alive = np.ones(2, bool)
>>> rows, scores, _ = ix.search([["red"]], k=5, alive=alive)
>>> rows.tolist()
[0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SEGMENTS = 8


@dataclass
class _Segment:
    indptr: np.ndarray  # int64 [n_terms_at_creation + 1]
    rows: np.ndarray  # int32
    tfs: np.ndarray  # float32

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        if tid + 1 >= len(self.indptr):
            return self.rows[:0], self.tfs[:0]
        a, b = self.indptr[tid], self.indptr[tid + 1]
        return self.rows[a:b], self.tfs[a:b]


def _build_segment(docs: Sequence[Sequence[str]], first_row: int, vocab: dict[str, int],
                   terms: list[str]) -> tuple[_Segment, np.ndarray]:
    tids: list[int] = []
    rows: list[int] = []
    lens = np.zeros(len(docs), dtype=np.float32)
    for i, toks in enumerate(docs):
        lens[i] = len(toks)
        for t in toks:
            tid = vocab.get(t)
            if tid is None:
                tid = vocab[t] = len(terms)
                terms.append(t)
            tids.append(tid)
            rows.append(first_row + i)
    t_arr = np.asarray(tids, dtype=np.int64)
    r_arr = np.asarray(rows, dtype=np.int64)
    # (term, row) pairs → counts
    if len(t_arr):
        key = t_arr * (1 << 32) + r_arr
        uniq, counts = np.unique(key, return_counts=True)
        u_t = uniq >> 32
        u_r = (uniq & ((1 << 32) - 1)).astype(np.int32)
    else:
        u_t = np.zeros(0, np.int64)
        u_r = np.zeros(0, np.int32)
        counts = np.zeros(0, np.int64)
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.add.at(indptr, u_t + 1, 1)
    np.cumsum(indptr, out=indptr)
    return _Segment(indptr, u_r, counts.astype(np.float32)), lens


class LexicalIndex:
    """BM25 (Okapi, ``k1``, ``b``) over pre-analyzed documents; incremental adds, tombstone deletes."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.vocab_: dict[str, int] = {}
        self.terms_: list[str] = []
        self.segments_: list[_Segment] = []
        self.doc_len_ = np.zeros(0, dtype=np.float32)

    @property
    def n_rows(self) -> int:
        return len(self.doc_len_)

    def add(self, docs: Sequence[Sequence[str]]) -> None:
        """Append analyzed documents as rows ``n_rows .. n_rows + len(docs) - 1``."""
        if not docs:
            return
        seg, lens = _build_segment(docs, self.n_rows, self.vocab_, self.terms_)
        self.segments_.append(seg)
        self.doc_len_ = np.concatenate([self.doc_len_, lens])
        if len(self.segments_) > MAX_SEGMENTS:
            self.compact()

    def compact(self, alive: np.ndarray | None = None) -> None:
        """Merge all segments into one (dropping postings of rows where ``alive`` is False)."""
        n_terms = len(self.terms_)
        parts_t, parts_r, parts_f = [], [], []
        for seg in self.segments_:
            nt = len(seg.indptr) - 1
            t = np.repeat(np.arange(nt, dtype=np.int64), np.diff(seg.indptr))
            parts_t.append(t)
            parts_r.append(seg.rows)
            parts_f.append(seg.tfs)
        t = np.concatenate(parts_t) if parts_t else np.zeros(0, np.int64)
        r = np.concatenate(parts_r) if parts_r else np.zeros(0, np.int32)
        f = np.concatenate(parts_f) if parts_f else np.zeros(0, np.float32)
        if alive is not None and len(r):
            keep = alive[r]
            t, r, f = t[keep], r[keep], f[keep]
        order = np.lexsort((r, t))
        t, r, f = t[order], r[order], f[order]
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.add.at(indptr, t + 1, 1)
        np.cumsum(indptr, out=indptr)
        self.segments_ = [_Segment(indptr, r.astype(np.int32), f.astype(np.float32))]

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows and term frequencies of ``term`` across segments (deleted rows included)."""
        tid = self.vocab_.get(term)
        if tid is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        parts = [seg.postings(tid) for seg in self.segments_]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def search(
        self, words: Sequence[Sequence[str]], *, k: int, alive: np.ndarray, allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``k`` rows for a query given as words, each a list of alternative terms (best one counts).

        ``alive`` marks live rows (statistics use them); ``allowed`` further restricts the results (filters).
        Returns ``(rows, scores, coverage)``: per returned row, the share of the query's IDF mass it matches (a
        word absent from the index counts with the largest possible IDF), in [0, 1].
        """
        n = self.n_rows
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
        if n == 0 or not words:
            return empty
        alive = alive[:n]
        n_live = int(alive.sum())
        if n_live == 0:
            return empty
        avgdl = float(self.doc_len_[alive].mean()) or 1.0
        k1, b = self.k1, self.b
        norm = k1 * (1.0 - b + b * self.doc_len_ / avgdl)
        idf_max = math.log(1.0 + (n_live + 0.5) / 0.5)
        scores = np.zeros(n, dtype=np.float32)
        matched = np.zeros(n, dtype=np.float32)
        total_idf = 0.0
        for cands in words:
            best_idf = 0.0
            hits: list[tuple[np.ndarray, np.ndarray]] = []
            for term in cands:
                rows, tfs = self.postings(term)
                if not len(rows):
                    continue
                live = alive[rows]
                df = int(live.sum())
                if df == 0:
                    continue
                rows, tfs = rows[live], tfs[live]
                idf = math.log(1.0 + (n_live - df + 0.5) / (df + 0.5))
                best_idf = max(best_idf, idf)
                hits.append((rows, (idf * tfs * (k1 + 1.0) / (tfs + norm[rows])).astype(np.float32)))
            if not hits:
                total_idf += idf_max
                continue
            total_idf += best_idf
            if len(hits) == 1:
                rows, contrib = hits[0]
                scores[rows] += contrib
                matched[rows] += best_idf
            else:
                tmp = np.zeros(n, dtype=np.float32)
                for rows, contrib in hits:
                    tmp[rows] = np.maximum(tmp[rows], contrib)
                touched = np.unique(np.concatenate([h[0] for h in hits]))
                scores[touched] += tmp[touched]
                matched[touched] += best_idf
        if allowed is not None:
            scores[~allowed[:n]] = 0.0
        cand = np.flatnonzero(scores > 0)
        if not len(cand):
            return empty
        if len(cand) > k:  # keep every candidate tied with the k-th score, in row order
            kth = np.partition(scores[cand], len(cand) - k)[len(cand) - k]
            cand = cand[scores[cand] >= kth]
        order = np.argsort(-scores[cand], kind="stable")[:k]  # ties: the earlier row first, as the database
        top = cand[order]
        coverage = np.minimum(matched[top] / total_idf, 1.0) if total_idf > 0 else np.zeros(len(top), np.float32)
        return top.astype(np.int64), scores[top], coverage.astype(np.float32)

    # ---- persistence (plain arrays; no pickle) ----
    def state(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """Arrays for ``np.savez`` and the term list (index = term id); merges segments first."""
        if len(self.segments_) != 1:
            self.compact()
        seg = self.segments_[0] if self.segments_ else _Segment(
            np.zeros(len(self.terms_) + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
        arrays = {"indptr": seg.indptr, "rows": seg.rows, "tfs": seg.tfs, "doc_len": self.doc_len_,
                  "params": np.array([self.k1, self.b], dtype=np.float64)}
        return arrays, list(self.terms_)

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], terms: list[str]) -> LexicalIndex:
        """Rebuild from ``state()`` output; raises ``ValueError`` when the parts do not fit together."""
        indptr, rows, tfs, doc_len = arrays["indptr"], arrays["rows"], arrays["tfs"], arrays["doc_len"]
        if len(indptr) != len(terms) + 1 or len(rows) != len(tfs) or (len(indptr) and indptr[-1] != len(rows)):
            raise ValueError("BM25 state is inconsistent (postings do not match the term list)")
        if len(rows) and (int(rows.max()) >= len(doc_len) or int(rows.min()) < 0):
            raise ValueError("BM25 state is inconsistent (posting rows out of range)")
        k1, b = (float(x) for x in arrays["params"])
        ix = cls(k1=k1, b=b)
        ix.terms_ = list(terms)
        ix.vocab_ = {t: i for i, t in enumerate(terms)}
        if len(ix.vocab_) != len(terms):
            raise ValueError("BM25 state is inconsistent (duplicate terms)")
        ix.segments_ = [_Segment(indptr.astype(np.int64), rows.astype(np.int32), tfs.astype(np.float32))]
        ix.doc_len_ = doc_len.astype(np.float32)
        return ix
