"""lingua's n-gram models, read out of its wheel once into a memory-mapped cache, and scored with numpy.

lingua (Apache-2.0) keeps its models inside its native library as brotli-compressed JSON: per language, the
relative frequencies of 1- to 5-grams. lingua itself decompresses and parses them into hash maps in every
process, about 0.2 s of CPU a language, so a short job whose texts need 29 languages waits seconds before its
first answer. Here a language's five models are read out of the installed library the first time any process
needs them (the library's ELF relocations locate each embedded file), kept as sorted 64-bit n-gram hashes and
float64 log-probabilities (``.npy``, about 4 MB a language, memory-mapped), and reused by every later process:
loading a language is then a few ``np.load`` calls.

Scoring is lingua's own (its high-accuracy mode, measured equal to ``compute_language_confidence_values`` to
1e-12 on texts its rule engine leaves to the models): the text is lowercased and split into words (runs of
letters; each Han, Hangul or kana character alone); for each order n (1 to 5; only 3 for texts of 120 letters or
more, and in the trigram-only mode) every distinct n-gram inside a word counts once, with the log-probability of
its longest prefix the language knows (nothing when it knows none); an order's sum counts when it is negative;
the total is divided by the number of the text's distinct letters the language knows; confidences are the
softmax over the languages with a nonzero total. lingua's rule engine (its hand-made tables of letters and the
languages that write them) is not reproduced: babelcart's own script rules and spelling markers
(:mod:`babelcart.text.langid_rules`) choose the candidates first, and one rule read from the models themselves
stands in for lingua's letter tables: a language whose unigram model hardly knows a text's special letters
(:data:`KNOWN_LETTER_LOGP`) is ruled out. On benchmarks/langid.py's texts the answers agree with lingua's on
99.5% of the texts lingua is asked about.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import logging
import mmap
import struct
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import regex

from babelcart.fsutil import atomic_dir, cache_root, recover_dir
from babelcart.progress import progress

logger = logging.getLogger(__name__)

#: The model files of one language, by n-gram order (as lingua names them inside its library).
ORDER_FILES = {1: "unigrams.json.br", 2: "bigrams.json.br", 3: "trigrams.json.br", 4: "quadrigrams.json.br",
               5: "fivegrams.json.br"}
#: Texts with at least this many letters are scored on trigrams only (lingua's rule).
LONG_TEXT_LETTERS = 120
#: A language that does not know a letter this well (log relative frequency in its unigram model) is taken not to
#: write with it: ``ş`` is Turkish (about 10^-1.9) and not Malay (10^-7.6, noise). Chosen on benchmarks/langid.py's
#: dev half.
KNOWN_LETTER_LOGP = float(np.log(1e-4))
#: How a language's cached table is cut: the 1- to 3-grams in one sorted run (small: every process joins them
#: across languages, see NgramTables.find), the 4-grams and the 5-grams in their own.
SEGMENTS = ((1, 2, 3), (4,), (5,))
_SEGMENT_OF = {n: i for i, segment in enumerate(SEGMENTS) for n in segment}
#: A language's 4- and 5-grams join the process's joined tables once this many calls have weighed them.
JOIN_LONG_AFTER = 8
#: Bumped whenever the cache's layout or hashing changes.
CACHE_FORMAT = 2
#: lingua's words: runs of letters; a Han, Hangul, Hiragana or Katakana character is a word of its own.
WORDS = regex.compile(r"\p{Han}|\p{Hangul}|\p{Hiragana}|\p{Katakana}|\p{L}+")

#: ``R_X86_64_RELATIVE`` and ``R_AARCH64_RELATIVE``: the relocations that fill in the embedded files' pointers.
_RELATIVE = (8, 1027)
_SHT_RELA = 4
_PT_LOAD = 1
_RELA = np.dtype([("offset", "<u8"), ("info", "<u8"), ("addend", "<i8")])
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


class ModelsUnavailable(RuntimeError):
    """The installed lingua library's models cannot be read out (another platform or layout)."""


def _finalize(state: np.ndarray, length: int | np.ndarray) -> np.ndarray:
    """The hash of an n-gram from its FNV-1a state and its length (a splitmix64 finalizer); ``length`` may be one
    per row of a 2-D ``state``."""
    salt: np.ndarray | np.uint64
    if np.ndim(length):
        salt = (np.asarray(length, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).reshape(-1, 1)
    else:
        salt = np.uint64((int(length) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    h = state ^ salt
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def hash_ngrams(ngrams: Sequence[str]) -> np.ndarray:
    """64-bit hashes of ``ngrams``: FNV-1a over the code points, finalized with the length. The batch scorer
    computes the same hashes for every window of a text at once. Two distinct n-grams collide with probability
    about 2^-57 in the bits the lookups use; the cache refuses a table where two keys do."""
    out = np.empty(len(ngrams), dtype=np.uint64)
    by_length: dict[int, list[int]] = {}
    for i, gram in enumerate(ngrams):
        by_length.setdefault(len(gram), []).append(i)
    for n, rows in by_length.items():
        grams = [ngrams[i] for i in rows]
        codes = np.array(grams, dtype=f"<U{n}").view(np.uint32).reshape(len(grams), n).astype(np.uint64)
        state = np.full(len(grams), _FNV_OFFSET, dtype=np.uint64)
        for i in range(n):
            state = (state ^ codes[:, i]) * _FNV_PRIME
        out[rows] = _finalize(state, n)
    return out


@functools.cache
def lingua_library() -> Path:
    """The installed lingua native library (found without importing it)."""
    spec = importlib.util.find_spec("lingua")
    folder = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    libs = sorted(folder.glob("lingua*.so")) if folder else []
    if not libs:
        raise ModelsUnavailable("lingua's native library (lingua*.so) was not found")
    return libs[0]


@functools.cache
def library_readable() -> bool:
    """Whether lingua's library is a 64-bit little-endian ELF file, the layout :class:`EmbeddedModels` reads."""
    try:
        with open(lingua_library(), "rb") as fh:
            head = fh.read(6)
    except (OSError, ModelsUnavailable):
        return False
    return head[:4] == b"\x7fELF" and head[4:6] == b"\x02\x01"


class EmbeddedModels:
    """Where lingua's model files lie inside its native library: ``{LANGUAGE: {file name: (offset, size)}}``.

    The library embeds each language's folder of files (Rust's ``include_dir``): an array of 40-byte entries, each
    a (pointer, length) pair for the file name and one for its bytes. The pointers are filled in by
    ``R_X86_64_RELATIVE`` relocations, whose addends give the addresses; the language of a folder is read from its
    small unigram file's JSON.
    """

    def __init__(self, library: Path) -> None:
        self.library = library
        with open(library, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self.files = self._locate()
        except (struct.error, ValueError, IndexError) as exc:
            raise ModelsUnavailable(f"cannot read lingua's models from {library.name}: {exc}") from exc
        if not self.files:
            raise ModelsUnavailable(f"no embedded models found in {library.name}")

    def read(self, language: str, name: str) -> dict[str, Any]:
        """The parsed JSON of one embedded model file (``{"language": ..., "ngrams": ...}``)."""
        data = self._decode(*self.files[language][name])
        if not isinstance(data, dict) or not isinstance(data.get("ngrams"), dict):
            raise ModelsUnavailable(f"{self.library.name}: {language}'s {name} is not a model lingua 2 writes")
        return data

    def _decode(self, offset: int, size: int) -> object:
        import brotli  # only building the cache needs it; a cached process never imports it

        try:
            return json.loads(brotli.decompress(self._map[offset:offset + size]))
        except Exception as exc:  # another lingua's layout: no cache, lingua loads its own models
            raise ModelsUnavailable(f"cannot read a model file in {self.library.name}: {exc}") from exc

    def _locate(self) -> dict[str, dict[str, tuple[int, int]]]:
        data = self._map
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
        loads = []
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if p_type == _PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))

        def file_offset(vaddr: int) -> int:
            for start, offset, size in loads:
                if start <= vaddr < start + size:
                    return vaddr - start + offset
            raise ValueError(f"address {vaddr:#x} is outside the file")

        relocs = []
        for i in range(shnum):
            _, sh_type, _, _, sh_offset, sh_size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
            if sh_type == _SHT_RELA:
                relocs.append(np.frombuffer(data, dtype=_RELA, count=sh_size // _RELA.itemsize, offset=sh_offset))
        rela = np.concatenate(relocs) if relocs else np.empty(0, dtype=_RELA)
        rela = rela[np.isin(rela["info"] & 0xFFFFFFFF, _RELATIVE)]
        target = dict(zip(rela["offset"].tolist(), rela["addend"].tolist(), strict=True))

        entries: list[tuple[int, str, int, int]] = []  # (entry address, name, bytes offset, bytes size)
        for where, name_addr in target.items():
            contents_addr = target.get(where + 16)
            if contents_addr is None:
                continue
            try:
                (name_len,) = struct.unpack_from("<Q", data, file_offset(where + 8))
                if not 8 < name_len < 64:
                    continue
                name_at = file_offset(name_addr)
                raw_name = bytes(data[name_at:name_at + name_len])
                if not raw_name.endswith(b".json.br") or not raw_name.isascii():
                    continue
                (size,) = struct.unpack_from("<Q", data, file_offset(where + 24))
                entries.append((where, raw_name.decode(), file_offset(contents_addr), size))
            except ValueError:
                continue
        entries.sort()
        # one folder = a run of consecutive 40-byte entries whose names rise (include_dir sorts them)
        folders: list[dict[str, tuple[int, int]]] = []
        previous: tuple[int, str] | None = None
        for where, name, offset, size in entries:
            if previous is None or where - previous[0] != 40 or name <= previous[1]:
                folders.append({})
            folders[-1][name] = (offset, size)
            previous = (where, name)
        files: dict[str, dict[str, tuple[int, int]]] = {}
        for folder in folders:
            if ORDER_FILES[1] not in folder:
                continue
            decoded = self._decode(*folder[ORDER_FILES[1]])
            if not isinstance(decoded, dict) or "language" not in decoded:
                raise ModelsUnavailable(f"{self.library.name}'s unigram model names no language")
            files[str(decoded["language"])] = folder
        return files


@dataclass(frozen=True)
class Table:
    """One language's n-grams in :data:`SEGMENTS`: each segment's hashes sorted, with their log-probabilities
    (views of the memory-mapped cache files). An n-gram's length is part of its hash, so the 1- to 3-grams share
    one sorted run."""

    segments: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def load(cls, folder: Path) -> Table:
        keys = np.load(folder / "keys.npy", mmap_mode="r").view(np.ndarray)  # plain views: cheap to index
        logp = np.load(folder / "logp.npy", mmap_mode="r").view(np.ndarray)
        starts = np.load(folder / "starts.npy").tolist()
        return cls(tuple((keys[a:b], logp[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)))

    def lookup(self, n: int, hashes: np.ndarray) -> np.ndarray:
        """Log-probabilities of the ``n``-gram ``hashes`` (NaN where the language does not know the n-gram)."""
        keys, logp = self.segments[_SEGMENT_OF[n]]
        if not keys.size:
            return np.full(hashes.shape, np.nan)
        pos = keys.searchsorted(hashes)
        np.minimum(pos, keys.size - 1, out=pos)
        out = logp.take(pos)
        out[keys.take(pos) != hashes] = np.nan
        return out


class _Joined:
    """Keys ``(language block << 57) | (hash >> 7)``, sorted, with a directory: each block's keys are cut into
    buckets by their next bits (about as many buckets as the largest block has keys), so a key is found by
    reading its bucket of a few keys, with no binary search."""

    @classmethod
    def empty(cls) -> _Joined:
        return cls(np.empty(0, dtype=np.uint64), np.empty(0))

    def __init__(self, keys: np.ndarray, logp: np.ndarray) -> None:
        self.keys, self.logp = keys, logp
        self.width = 0
        if not keys.size:
            return
        per_block = np.bincount((keys >> np.uint64(57)).astype(np.int64))
        self.bits = max(1, int(np.ceil(np.log2(per_block.max()))))
        self.size = per_block.size << self.bits
        counts = np.bincount(self._bucket(keys), minlength=self.size)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.width = int(counts.max())

    def _bucket(self, keys: np.ndarray) -> np.ndarray:
        block = (keys >> np.uint64(57)).astype(np.int64)
        within = ((keys >> np.uint64(57 - self.bits)) & np.uint64((1 << self.bits) - 1)).astype(np.int64)
        return np.minimum((block << self.bits) | within, self.size - 1)

    def find(self, query: np.ndarray) -> np.ndarray:
        """The log-probability of each query key (NaN where it is absent)."""
        if not self.width or not query.size:
            return np.full(query.shape, np.nan)
        bucket = self._bucket(query)
        start = self.starts[bucket]
        step = np.arange(self.width)
        at = np.minimum(start[:, None] + step, self.keys.size - 1)
        hit = (self.keys[at] == query[:, None]) & (step < (self.starts[bucket + 1] - start)[:, None])
        col = hit.argmax(axis=1)
        rows = np.arange(query.size)
        return np.where(hit[rows, col], self.logp[at[rows, col]], np.nan)


class NgramTables:
    """Every language's n-gram table, each built once into the cache and memory-mapped (thread-safe)."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._tables: dict[str, Table] = {}
        self._embedded: EmbeddedModels | None = None
        # every segment's n-grams of the languages joined so far, in one sorted array each (see find)
        self._blocks: dict[str, int] = {}
        self._joined: list[_Joined] = [_Joined.empty() for _ in SEGMENTS]
        self._members: list[set[str]] = [set() for _ in SEGMENTS]
        self._long_uses: Counter[str] = Counter()

    @property
    def folder(self) -> Path:
        """The cache folder of this lingua build: ``<cache>/lingua-ngrams-<version>-<library size>-v<format>``."""
        if self._folder is None:
            library = lingua_library()
            version = importlib.metadata.version("lingua-language-detector")
            self._folder = cache_root() / f"lingua-ngrams-{version}-{library.stat().st_size}-v{CACHE_FORMAT}"
        return self._folder

    def cached(self, language: str) -> bool:
        """Whether ``language``'s table is in the cache already (no build needed)."""
        return (self.folder / language / "done").is_file()

    def prepare(self, languages: Sequence[str]) -> None:
        """Load ``languages``' tables, building the missing ones into the cache first (with a progress bar: about
        0.4 s a language, once)."""
        missing = [lang for lang in languages if lang not in self._tables and not self.cached(lang)]
        for lang in progress(missing, desc="language ID: caching lingua's models (once)"):
            self.table(lang)
        for lang in languages:
            self.table(lang)

    def table(self, language: str) -> Table:
        """``language``'s table (lingua's name, ``"ENGLISH"``), built into the cache the first time."""
        found = self._tables.get(language)
        if found is not None:
            return found
        with self._lock:
            found = self._tables.get(language)
            if found is None:
                folder = self.folder / language
                recover_dir(folder)
                if not (folder / "done").is_file():
                    self._build(language, folder, replace=False)
                try:
                    found = Table.load(folder)
                except (OSError, ValueError) as exc:  # a damaged cache is rebuilt, never trusted
                    logger.warning("language ID: the cache of %s is damaged (%s); rebuilding it", language, exc)
                    self._build(language, folder, replace=True)
                    found = Table.load(folder)
                self._tables[language] = found
        return found

    def find(self, languages: Sequence[str], columns: np.ndarray, lengths: np.ndarray, hashes: np.ndarray
             ) -> np.ndarray:
        """Log-probabilities of n-grams (their ``hashes`` and ``lengths``) each under one of ``languages`` (its
        column), NaN where the language does not know the n-gram.

        A language's 1- to 3-grams join the process's joined table (one array for every language, sorted by
        language block, then hash, with a directory: one search for all the languages) the first time it is
        weighed; its 4- and 5-grams (large: joining costs a copy) once it has been weighed in
        :data:`JOIN_LONG_AFTER` calls, so a short job never pays for the copy and a long one stops paying for a
        search a language. The answer is the same either way."""
        out = np.full(hashes.size, np.nan)
        if not hashes.size:
            return out
        missing = [lang for lang in languages if lang not in self._members[0]]
        if missing:
            self._join(0, missing)
        blocks = np.array([self._blocks[lang] for lang in languages], dtype=np.uint64)
        segment = np.array([_SEGMENT_OF.get(n, 0) for n in range(6)])[lengths]
        keys = (blocks[columns] << np.uint64(57)) | (hashes >> np.uint64(7))
        for s_index in range(len(SEGMENTS)):
            rows = np.flatnonzero(segment == s_index)
            if not rows.size:
                continue
            if s_index:
                weighed = np.zeros(len(languages), dtype=bool)
                weighed[columns[rows]] = True
                self._note_long_use([languages[j] for j in np.flatnonzero(weighed).tolist()])
                joined = np.array([lang in self._members[s_index] for lang in languages])
                inside = joined[columns[rows]]
                outside = rows[~inside]
                for j in np.flatnonzero(weighed & ~joined).tolist():  # not joined yet: language by language
                    at = outside[columns[outside] == j]
                    out[at] = self.table(languages[j]).lookup(SEGMENTS[s_index][0], hashes[at])
                rows = rows[inside]
            if rows.size:
                out[rows] = self._joined[s_index].find(keys[rows])
        return out

    def _note_long_use(self, languages: Sequence[str]) -> None:
        """Count the calls that weigh each language's 4- and 5-grams; join them once enough languages are due
        (at least half as many as are joined already, so the copies add up to about twice the final size)."""
        self._long_uses.update(languages)
        due = [lang for lang, uses in self._long_uses.items()
               if uses >= JOIN_LONG_AFTER and lang not in self._members[1]]
        if due and len(due) >= max(1, len(self._members[1]) // 2):
            for s_index in range(1, len(SEGMENTS)):
                self._join(s_index, due)

    def _join(self, s_index: int, languages: Sequence[str]) -> None:
        """Add ``languages`` to segment ``s_index``'s joined table (rebuilt: one array sorted by language block,
        then hash)."""
        tables = {lang: self.table(lang) for lang in languages}
        with self._lock:
            for lang in languages:
                self._blocks.setdefault(lang, len(self._blocks))
            if len(self._blocks) > 127:
                raise ModelsUnavailable("more than 127 languages in one process")
            members = self._members[s_index] | set(languages)
            order = sorted(members, key=self._blocks.__getitem__)
            parts = [(self._blocks[lang], (tables.get(lang) or self._tables[lang]).segments[s_index])
                     for lang in order]
            keys = np.concatenate([(np.uint64(block) << np.uint64(57)) | (k >> np.uint64(7))
                                   for block, (k, _) in parts])
            self._joined[s_index] = _Joined(keys, np.concatenate([lp for _, (_, lp) in parts]))
            self._members[s_index] = members

    def _build(self, language: str, folder: Path, *, replace: bool) -> None:
        """Read ``language``'s models out of lingua's library into ``folder`` (atomically). Without ``replace``,
        a folder another process finished meanwhile is kept."""
        if self._embedded is None:
            self._embedded = EmbeddedModels(lingua_library())
        files = self._embedded.files.get(language)
        if files is None:
            raise ModelsUnavailable(f"lingua's library has no models for {language}")
        logger.info("language ID: reading lingua's models for %s into %s (once)", language.title(), folder.parent)
        all_keys, all_logp, starts = [], [], [0]
        for segment in SEGMENTS:
            grams: list[str] = []
            logps: list[np.ndarray] = []
            for n in segment:
                name = ORDER_FILES[n]
                ngrams = self._embedded.read(language, name)["ngrams"] if name in files else {}
                for fraction, joined in ngrams.items():
                    numerator, denominator = fraction.split("/")
                    words = [w for w in joined.split(" ") if len(w) == n]
                    grams += words
                    logps.append(np.full(len(words), np.log(int(numerator) / int(denominator))))
            keys = hash_ngrams(grams)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            if keys.size and np.any((keys[1:] >> np.uint64(7)) == (keys[:-1] >> np.uint64(7))):
                # the joined tables key on a hash's top 57 bits (see NgramTables.find)
                raise ModelsUnavailable(f"two n-grams of {language} share a hash; cannot cache them")
            all_keys.append(keys)
            all_logp.append((np.concatenate(logps) if logps else np.empty(0))[order])
            starts.append(starts[-1] + keys.size)
        try:
            with atomic_dir(folder, overwrite=replace) as tmp:
                np.save(tmp / "keys.npy", np.concatenate(all_keys))
                np.save(tmp / "logp.npy", np.concatenate(all_logp))
                np.save(tmp / "starts.npy", np.asarray(starts, dtype=np.int64))
                (tmp / "done").write_text(json.dumps({"language": language, "format": CACHE_FORMAT,
                                                      "ngrams": starts[-1]}))
        except FileExistsError:
            return  # another process made it first: the same bytes


_SHARED: NgramTables | None = None
_SHARED_LOCK = threading.Lock()


def shared_tables() -> NgramTables:
    """The process-wide tables (every detector shares the memory-mapped models)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = NgramTables()
        return _SHARED


class _Windows:
    """Every n-gram window of a batch of texts, hashed at once: the texts' code points end to end, each position
    with its word (lingua's words, :data:`WORDS`), and the hash of the 1- to n-character windows starting there
    (up to the highest order the batch scores)."""

    def __init__(self, texts: Sequence[str], trigrams_only: bool) -> None:
        n_texts = len(texts)
        lowered = [t.lower() for t in texts]
        spans = [[m.span() for m in WORDS.finditer(t)] for t in lowered]
        lengths = np.fromiter((len(t) for t in lowered), dtype=np.int64, count=n_texts)
        base = np.cumsum(lengths) - lengths
        self.codes = np.frombuffer("".join(lowered).encode("utf-32-le"), dtype="<u4").astype(np.uint64)
        total = self.codes.size
        bounds = np.fromiter((base[t] + x for t, sp in enumerate(spans) for span in sp for x in span),
                             dtype=np.int64).reshape(-1, 2)
        starts, ends = bounds[:, 0], bounds[:, 1]
        self.n_words = np.fromiter((len(sp) for sp in spans), dtype=np.int64, count=n_texts)
        self.word_text = np.repeat(np.arange(n_texts), self.n_words)
        letters = np.bincount(self.word_text, weights=ends - starts, minlength=n_texts)
        # the word of each position (-1 between words): words are disjoint runs
        inside = np.cumsum(np.bincount(starts, minlength=total + 1) - np.bincount(ends, minlength=total + 1))
        self.word = np.where(inside[:-1] > 0, np.cumsum(np.bincount(starts, minlength=total + 1))[:-1] - 1, -1)
        self.text = np.repeat(np.arange(n_texts), lengths)
        self.scored = (self.n_words > 0) & ~(trigrams_only & (letters < 3))
        # order n is scored for a text when its letters reach n, and only order 3 for long texts (lingua's rule)
        short = self.scored & ~(trigrams_only | (letters >= LONG_TEXT_LETTERS))
        used = {n: (self.scored if n == 3 else short) & (letters >= n) for n in ORDER_FILES}
        self.orders = {n: u for n, u in used.items() if u.any()}
        top = max(self.orders, default=0)
        padded = np.concatenate([self.codes, np.zeros(max(top, 1), dtype=np.uint64)])
        word_padded = np.concatenate([self.word, np.full(top, -1)])
        levels = max(top, 1)  # the marked letters need the 1-character hashes
        states = np.empty((levels, total), dtype=np.uint64)
        state = np.full(total, _FNV_OFFSET, dtype=np.uint64)
        for n in range(1, levels + 1):
            state = (state ^ padded[n - 1:n - 1 + total]) * _FNV_PRIME
            states[n - 1] = state
        #: ``hashes[n - 1, i]``: the hash of the n characters from position i
        self.hashes = _finalize(states, np.arange(1, levels + 1))
        self.valid = {n: (self.word >= 0) & (word_padded[n - 1:n - 1 + total] == self.word) & used[self.text]
                      for n, used in self.orders.items()}


def _per_text(values: np.ndarray, owners: np.ndarray, n_texts: int) -> np.ndarray:
    """Sums of ``values`` rows by their (non-decreasing) owner: ``(n_texts, columns)``."""
    out = np.zeros((n_texts, values.shape[1]))
    if owners.size:
        starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
        out[owners[starts]] = np.add.reduceat(values, starts, axis=0)
    return out


def language_totals(tables: NgramTables, texts: Sequence[str], languages: Sequence[str], *,
                    trigrams_only: bool = False, allowed: np.ndarray | None = None) -> np.ndarray:
    """Every text's lingua score under every language, ``(texts, languages)``: the summed log-probabilities
    divided by the text's known letters (see the module's docstring). 0 where the language has no evidence, is
    ruled out by a letter it does not know (:data:`KNOWN_LETTER_LOGP`), or is not ``allowed`` for the text
    (``(texts, languages)`` booleans; default all): each text is weighed against its own languages."""
    n_texts, n_langs = len(texts), len(languages)
    allowed = np.ones((n_texts, n_langs), dtype=bool) if allowed is None else allowed
    if not n_texts:
        return np.zeros((0, n_langs))
    win = _Windows(texts, trigrams_only)
    # each order's distinct n-grams per text: the position of one occurrence (its prefixes are the same strings)
    grams: dict[int, np.ndarray] = {}
    for n, valid in win.valid.items():
        pos = np.flatnonzero(valid)
        if pos.size:
            pos = pos[np.lexsort((win.hashes[n - 1, pos], win.text[pos]))]
            text, key = win.text[pos], win.hashes[n - 1, pos]
            grams[n] = pos[np.concatenate(([True], (text[1:] != text[:-1]) | (key[1:] != key[:-1])))]
    marked = np.flatnonzero((win.word >= 0) & (win.codes > 127) & win.scored[win.text])
    # one row per n-gram (orders ascending), then one per marked letter; a value per (row, language)
    orders = sorted(grams)
    pos = np.concatenate([grams[n] for n in orders] + [marked])
    length = np.concatenate([np.full(grams[n].size, n) for n in orders] + [np.ones(marked.size, dtype=np.int64)])
    owner = win.text[pos]
    hashes = win.hashes
    value = np.full((pos.size, n_langs), np.nan)
    ask = allowed[owner]
    current = length.copy()
    while True:  # the n-gram itself, then its prefixes, one shorter a round, only where still unknown
        rows, cols = np.nonzero(ask)
        if not rows.size:
            break
        value[rows, cols] = tables.find(languages, cols, current[rows], hashes[current[rows] - 1, pos[rows]])
        current -= 1
        ask &= np.isnan(value) & (current >= 1)[:, None]
    # each (order, text)'s sum: the rows run order by order, texts in order within each
    n_grams = pos.size - marked.size
    unknown = np.isnan(value[:n_grams])
    group = np.repeat(np.arange(len(orders)), [grams[n].size for n in orders]) * n_texts + owner[:n_grams]
    sums = _per_text(np.where(unknown, 0.0, value[:n_grams]), group, len(orders) * n_texts)
    total = np.where(sums < 0, sums, 0.0).reshape(len(orders), n_texts, n_langs).sum(axis=0)
    known_letters = np.zeros((n_texts, n_langs))
    if 1 in grams:  # the orders ascend: the letters' rows come first
        letters = slice(0, grams[1].size)
        known_letters = _per_text((~unknown[letters]).astype(float), owner[letters], n_texts)
    start = n_grams
    total = np.where(known_letters > 0, total / np.maximum(known_letters, 1.0), total)
    total[~allowed] = 0.0
    if marked.size:
        # a language that does not know the special letters of at least half the words is ruled out, as lingua's
        # rule engine rules out languages by their alphabets (here read from each language's own unigrams)
        letter_known = ~np.isnan(value[start:]) & (np.nan_to_num(value[start:]) >= KNOWN_LETTER_LOGP)
        words = win.word[marked]
        first = np.flatnonzero(np.concatenate(([True], words[1:] != words[:-1])))
        word_known = np.minimum.reduceat(letter_known.astype(np.int8), first, axis=0).astype(float)
        word_owner = win.word_text[words[first]]
        marked_words = np.bincount(word_owner, minlength=n_texts)
        half = win.n_words[:, None] / 2
        knows = (_per_text(word_known, word_owner, n_texts) >= half) & allowed
        applies = (marked_words[:, None] >= half) & knows.any(axis=1, keepdims=True)
        total[applies & ~knows] = 0.0
    total[~win.scored] = 0.0
    return total


def confidences(totals: np.ndarray, languages: Sequence[str]) -> list[list[tuple[str, float]]]:
    """Each row of :func:`language_totals` as lingua's confidences (a softmax over the languages with a nonzero
    score), best first; ``[]`` for a text no language has evidence for."""
    out: list[list[tuple[str, float]]] = []
    for row in totals:
        live = np.flatnonzero(row != 0)
        if not live.size:
            out.append([])
            continue
        e = np.exp(row[live] - row[live].max())
        conf = e / e.sum()
        ranked = sorted(zip(live.tolist(), conf.tolist(), strict=True), key=lambda p: (-p[1], languages[p[0]]))
        out.append([(languages[j], c) for j, c in ranked])
    return out


def score_each(tables: NgramTables, texts: Sequence[str], languages_of: Sequence[Sequence[str]], *,
               trigrams_only: bool = False) -> list[list[tuple[str, float]]]:
    """lingua's confidences for every text over its own languages (lingua's names, ``"ENGLISH"``), best first;
    languages the text gives no evidence for are left out, and a text with none, or with fewer than two languages,
    gets ``[]``. The batch is scored at once under the union of the languages (a language's score of a text does
    not depend on the others), then each text is normalized over its own. ``trigrams_only``: lingua's
    low-accuracy mode (trigrams; texts under 3 letters get ``[]``)."""
    names = sorted(set().union(*languages_of)) if languages_of else []
    column = {name: j for j, name in enumerate(names)}
    allowed = np.zeros((len(texts), len(names)), dtype=bool)
    for i, langs in enumerate(languages_of):
        if len(langs) >= 2:  # lingua weighs two languages or more
            allowed[i, [column[name] for name in langs]] = True
    return confidences(language_totals(tables, texts, names, trigrams_only=trigrams_only, allowed=allowed), names)

