"""Exact and near-duplicate detection: normalized hashes + MinHash LSH with CJK-aware shingles.

Shingles: the text is NFKC-casefolded and split into script runs. Runs of Han, Kana, Hangul, Thai, Lao,
Khmer and Myanmar (see ``babelcart.text.scripts``) give character ``char_ngram``-grams; every other run is split into
words, which give word ``word_ngram``-grams. A text shorter than one n-gram gives its whole run as a
shingle, so short texts still compare.

Clustering is greedy and order-preserving: texts are read in order; a text whose normalized hash was seen
is an exact duplicate (similarity 1.0); otherwise LSH returns earlier *kept* texts whose estimated Jaccard
may pass ``threshold``; the most similar one at or above ``threshold`` becomes ``duplicate_of``. Only
kept texts enter the index, so every cluster is a star around its first member (no long chains).
:class:`Deduplicator` does the same incrementally (streaming); :func:`find_duplicates` runs it over a list.

>>> r = find_duplicates(["Great shoes, fast delivery!", "great shoes,  fast delivery", "Bad"])
>>> r.keep, r.duplicate_of
([True, False, True], [None, 0, None])
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import regex

from babelcart.progress import progress
from babelcart.text.scripts import CHAR_NGRAM_CLASS

__all__ = ["DedupeResult", "Deduplicator", "find_duplicates", "normalize_for_hash", "shingles"]

# Character runs (Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar, with their marks) and word runs (the rest).
_CHAR = f"[[{CHAR_NGRAM_CLASS}]&&\\w]"
_CHAR_RUN = f"{_CHAR}(?:{_CHAR}|\\p{{M}})*"
_WORD_RUN = f"[^\\W{CHAR_NGRAM_CLASS}]+"
_RUN_RE = regex.compile(f"({_CHAR_RUN})|({_WORD_RUN})", regex.VERSION1)
_TOKEN_RE = regex.compile(f"{_CHAR_RUN}|{_WORD_RUN}", regex.VERSION1)
_CHAR_RE = regex.compile(_CHAR, regex.VERSION1)
_WORDS_RE = regex.compile(_WORD_RUN, regex.VERSION1)
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)


def normalize_for_hash(text: str) -> str:
    """NFKC, casefold, punctuation dropped, whitespace collapsed: the key for exact duplicates."""
    t = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_TOKEN_RE.findall(t))


def shingles(text: str, *, word_ngram: int = 2, char_ngram: int = 3, cjk_aware: bool = True) -> set[str]:
    """CJK-aware shingle set (see the module docstring); ``cjk_aware=False`` uses word shingles only.

    >>> sorted(shingles("质量很好 good shoes"))
    ['good shoes', '好 good', '质量很', '量很好']
    """
    t = unicodedata.normalize("NFKC", text).casefold()
    if not cjk_aware:
        words = t.split()
        if len(words) < word_ngram:
            return {" ".join(words)} if words else set()
        return {" ".join(words[j:j + word_ngram]) for j in range(len(words) - word_ngram + 1)}
    if not _CHAR_RE.search(t):  # fast path: no unspaced script at all
        words = _WORDS_RE.findall(t)
        if len(words) < word_ngram:
            return {" ".join(words)} if words else set()
        return {" ".join(words[j:j + word_ngram]) for j in range(len(words) - word_ngram + 1)}
    tokens: list[tuple[str, bool]] = []  # (token, is_char_script)
    for m in _RUN_RE.finditer(t):
        if m.group(1):
            tokens.extend((ch, True) for ch in m.group(1))
        else:
            tokens.append((m.group(2), False))
    out: set[str] = set()
    if not tokens:
        return out
    # Character runs give char n-grams; word runs give word n-grams; a word n-gram may span a script border.
    chars = [i for i, (_, c) in enumerate(tokens) if c]
    run: list[str] = []
    prev = -2
    for i in chars + [-1]:
        if i != prev + 1 and run:
            if len(run) < char_ngram:
                out.add("".join(run))
            else:
                out.update("".join(run[j:j + char_ngram]) for j in range(len(run) - char_ngram + 1))
            run = []
        if i >= 0:
            run.append(tokens[i][0])
        prev = i
    words = [tok for tok, c in tokens if not c]
    if words:
        if len(words) < word_ngram:
            out.add(" ".join(words))
        else:
            out.update(" ".join(words[j:j + word_ngram]) for j in range(len(words) - word_ngram + 1))
    # bridge shingles between a char run and the next word keep mixed texts ("好 good") comparable
    for (a, ca), (b, cb) in zip(tokens, tokens[1:], strict=False):
        if ca != cb:
            out.add(f"{a} {b}")
    return out


@dataclass
class DedupeResult:
    """Per text: keep it?, index of the kept text it duplicates, estimated Jaccard to it, its cluster id."""

    keep: list[bool] = field(default_factory=list)
    duplicate_of: list[int | None] = field(default_factory=list)
    similarity: list[float | None] = field(default_factory=list)
    cluster: list[int] = field(default_factory=list)

    @property
    def clusters(self) -> list[list[int]]:
        """Groups of two or more indices, each starting with the kept text."""
        groups: dict[int, list[int]] = {}
        for i, c in enumerate(self.cluster):
            groups.setdefault(c, []).append(i)
        return [g for g in groups.values() if len(g) > 1]

    @property
    def n_duplicates(self) -> int:
        return sum(not k for k in self.keep)


class Deduplicator:
    """Incremental near-duplicate finder; :meth:`add` returns ``(duplicate_of, similarity)``.

    >>> d = Deduplicator(threshold=0.5)
    >>> d.add("red cotton shirt size M")
    (None, None)
    >>> d.add("red cotton shirt size L")[0]
    0
    """

    def __init__(
        self, *, threshold: float = 0.8, num_perm: int = 128, word_ngram: int = 2, char_ngram: int = 3,
        cjk_aware: bool = True, seed: int = 1,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self.word_ngram = word_ngram
        self.char_ngram = char_ngram
        self.cjk_aware = cjk_aware
        rng = np.random.RandomState(seed)
        self._a = rng.randint(1, int(_MERSENNE), size=num_perm, dtype=np.uint64)
        self._b = rng.randint(0, int(_MERSENNE), size=num_perm, dtype=np.uint64)
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._exact: dict[bytes, int] = {}
        self._sigs: dict[int, np.ndarray] = {}
        self._cluster: list[int] = []
        self._n = 0

    def signature(self, text: str) -> np.ndarray | None:
        """MinHash signature (uint64 ``[num_perm]``) or None when the text has no shingles."""
        sh = shingles(text, word_ngram=self.word_ngram, char_ngram=self.char_ngram, cjk_aware=self.cjk_aware)
        if not sh:
            return None
        hv = np.fromiter(
            (int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little") for s in sh),
            dtype=np.uint64, count=len(sh),
        )
        sig = np.full(self.num_perm, _MAX_HASH, dtype=np.uint64)
        for i in range(0, len(hv), 2048):  # chunks keep memory flat for very long texts
            phv = ((np.outer(hv[i:i + 2048], self._a) + self._b) % _MERSENNE) & _MAX_HASH
            sig = np.minimum(sig, phv.min(axis=0))
        return sig

    def add(self, text: str) -> tuple[int | None, float | None]:
        """Register the next text; return the index of the kept text it duplicates and the Jaccard estimate."""
        from datasketch import LeanMinHash

        idx = self._n
        self._n += 1
        key = hashlib.blake2b(normalize_for_hash(text).encode("utf-8"), digest_size=16).digest()
        if key in self._exact:
            rep = self._exact[key]
            self._cluster.append(rep)
            return rep, 1.0
        sig = self.signature(text)
        best: tuple[int | None, float] = (None, -1.0)
        if sig is not None:
            mh = LeanMinHash(seed=1, hashvalues=sig, scheme="legacy")
            for cand in self._lsh.query(mh):
                j = int(cand)
                est = float(np.mean(self._sigs[j] == sig))
                if est >= self.threshold and (est > best[1] or (est == best[1] and best[0] is not None
                                                               and j < best[0])):
                    best = (j, est)
        if best[0] is not None:
            self._cluster.append(best[0])
            return best[0], round(best[1], 4)
        self._exact[key] = idx
        self._cluster.append(idx)
        if sig is not None:
            self._sigs[idx] = sig
            self._lsh.insert(idx, LeanMinHash(seed=1, hashvalues=sig, scheme="legacy"))
        return None, None

    def cluster_of(self, index: int) -> int:
        """Cluster id (index of the kept text) of an added text."""
        return self._cluster[index]


def find_duplicates(
    texts: Sequence[str] | Iterable[str], *, threshold: float = 0.8, num_perm: int = 128,
    word_ngram: int = 2, char_ngram: int = 3, cjk_aware: bool = True, show_progress: bool | None = None,
) -> DedupeResult:
    """Exact + near-duplicates over ``texts``; the first text of each cluster is kept.

    ``threshold`` is the MinHash Jaccard estimate (over shingles) at which two texts count as duplicates.
    """
    d = Deduplicator(threshold=threshold, num_perm=num_perm, word_ngram=word_ngram, char_ngram=char_ngram,
                     cjk_aware=cjk_aware)
    res = DedupeResult()
    total = len(texts) if isinstance(texts, Sequence) else None
    for i, t in enumerate(progress(texts, total=total, desc="dedupe", enabled=show_progress)):
        dup, sim = d.add(t)
        res.keep.append(dup is None)
        res.duplicate_of.append(dup)
        res.similarity.append(sim)
        res.cluster.append(d.cluster_of(i))
    return res
