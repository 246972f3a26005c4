"""Per-language lexical analyzers for BM25: CJK character bigrams, folded + stemmed Latin words, others lowercased.

Text is cut into word runs (letters, digits and the combining marks that belong to them, so that Hindi,
Tamil or Thai words are not cut at every vowel sign) and each run into script runs, so mixed-script text
such as ``"iPhone 15 手机壳"`` is handled piece by piece:

- Han / Kana / Hangul runs, and Thai / Lao / Khmer / Myanmar runs (written without spaces between words),
  become overlapping character bigrams (a one-character run becomes a unigram); documents also index
  unigrams so that one-character queries can match.
- Latin runs are lowercased, accent-folded (NFKD, marks dropped) and Snowball-stemmed in the text's language
  when snowballstemmer has that language (else left unstemmed).
- Any other script (Cyrillic, Arabic, Devanagari, Tamil...) becomes lowercase word tokens (Cyrillic and Greek
  are stemmed too when the language is known and has a stemmer).

>>> analyze("Les chaussures rouges", lang="fr")
['le', 'chaussur', 'roug']
>>> analyze("蓝牙耳机", for_query=True)
['蓝牙', '牙耳', '耳机']
>>> analyze("नमस्ते दुनिया")   # vowel signs and viramas stay inside their words
['नमस्ते', 'दुनिया']
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

import regex

from babelcart.text.scripts import CHAR_NGRAM_CLASS, script_counts

#: ISO 639-1 code → snowballstemmer algorithm name.
SNOWBALL_LANGS: dict[str, str] = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "st": "sesotho", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}

CJK_LANGS = frozenset({"zh", "ja", "ko"})

# Script classes of a run: bigram scripts (CJK and the scripts written without spaces), Latin (digits join
# it), any other script. Combining marks belong to the run of the character before them.
_CJK, _LATIN, _OTHER = 0, 1, 2
_NGRAM_CHAR = f"[[{CHAR_NGRAM_CLASS}]&&\\w]"  # letters and marks of those scripts, not their punctuation
_RUN_RE = regex.compile(
    f"(?P<cjk>{_NGRAM_CHAR}(?:{_NGRAM_CHAR}|\\p{{M}})*)"
    r"|(?P<latin>[\p{Latin}\d][\p{Latin}\d\p{M}]*)"
    f"|(?P<other>[^\\W\\d_\\p{{Latin}}{CHAR_NGRAM_CLASS}]+)",
    regex.VERSION1,
)
_CLASS = {"cjk": _CJK, "latin": _LATIN, "other": _OTHER}


def fold(text: str) -> str:
    """Lowercase and strip accents (NFKD, combining marks dropped): ``"Crème Brûlée"`` → ``"creme brulee"``."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=64)
def _stemmer(lang: str | None):  # type: ignore[no-untyped-def]
    if not lang:
        return None
    name = SNOWBALL_LANGS.get(lang.split("-")[0].lower())
    if name is None:
        return None
    import snowballstemmer

    return snowballstemmer.stemmer(name)


def has_stemmer(lang: str | None) -> bool:
    """True when snowballstemmer knows ``lang`` (ISO 639-1)."""
    return _stemmer(lang) is not None


@functools.lru_cache(maxsize=200_000)
def stem(word: str, lang: str | None) -> str:
    """Stem one folded word in ``lang`` (unchanged when there is no stemmer for it)."""
    st = _stemmer(lang)
    return st.stemWord(word) if st is not None else word


def cjk_tokens(run: str, *, unigrams: bool) -> list[str]:
    """Character bigrams of a CJK run; a one-character run gives its unigram; ``unigrams`` adds all unigrams."""
    if len(run) == 1:
        return [run]
    out = [run[i:i + 2] for i in range(len(run) - 1)]
    if unigrams:
        out.extend(run)
    return out


def iter_words(text: str) -> Iterator[tuple[int, str]]:
    """(script class, run) pieces of ``text`` after NFKC normalization (underscores join, like ``a_b`` → ``ab``)."""
    for m in _RUN_RE.finditer(unicodedata.normalize("NFKC", text).replace("_", "")):
        yield _CLASS[m.lastgroup], m.group()  # type: ignore[index]


def analyze(text: str, *, lang: str | None = None, for_query: bool = False) -> list[str]:
    """Index terms of ``text`` in language ``lang`` (None: no stemming). Documents get CJK unigrams too."""
    out: list[str] = []
    for cls, run in iter_words(text):
        if cls == _CJK:
            out.extend(cjk_tokens(run, unigrams=not for_query))
        else:
            w = fold(run) if cls == _LATIN else run.lower()
            out.append(stem(w, lang))
    return out


def query_word_candidates(text: str, *, langs: list[str | None]) -> list[list[str]]:
    """Per query word, the terms it may appear as in the index: its stem in each of ``langs`` (deduplicated).

    The query's own language comes first in ``langs``; the catalog's languages follow. A word counts as matched
    when any of its candidates matches, so a wrong language guess or a mixed-language catalog still matches.
    """
    words: list[list[str]] = []
    for cls, run in iter_words(text):
        if cls == _CJK:
            words.extend([t] for t in cjk_tokens(run, unigrams=False))
            continue
        w = fold(run) if cls == _LATIN else run.lower()
        cands: list[str] = []
        for lg in langs:
            s = stem(w, lg)
            if s not in cands:
                cands.append(s)
        if w not in cands:
            cands.append(w)
        words.append(cands)
    return words


def guess_script_lang(text: str) -> str | None:
    """A script-only language guess: Hangul → ko, Kana → ja, Han → zh, else None."""
    counts = script_counts(text[:500])
    for script, lang in (("hangul", "ko"), ("kana", "ja"), ("han", "zh")):
        if counts.get(script):
            return lang
    return None
