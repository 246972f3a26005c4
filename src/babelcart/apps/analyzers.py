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
import re
import unicodedata
from collections.abc import Iterator

from babelcart.text.marks import combining_marks


@functools.lru_cache(maxsize=1)
def _word_re() -> re.Pattern[str]:
    """A word: letters, digits and underscore (``\\w``) plus combining marks (vowel signs, viramas, harakat)."""
    return re.compile(f"[\\w{combining_marks()}]+", re.UNICODE)

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

# script classes of a character: bigram scripts (CJK and the scripts written without spaces), Latin, digits,
# any other script, and combining marks (which belong to the run of the character before them)
_CJK, _LATIN, _DIGIT, _OTHER, _MARK = 0, 1, 2, 3, 4


def _char_class(ch: str) -> int:
    o = ord(ch)
    if ch.isdigit():
        return _DIGIT
    if o < 0x250 or 0x1E00 <= o <= 0x1EFF:  # Basic Latin .. Latin Extended-B, Latin Extended Additional
        return _LATIN
    if unicodedata.category(ch)[0] == "M":
        return _MARK
    if (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FA1F or 0xF900 <= o <= 0xFAFF
            or 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F  # kana
            or 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F  # hangul
            or 0x0E00 <= o <= 0x0EFF or 0x1000 <= o <= 0x109F or 0x1780 <= o <= 0x17FF):  # Thai, Lao, Myanmar, Khmer
        return _CJK
    return _OTHER


def script_runs(word: str) -> Iterator[tuple[int, str]]:
    """Split one word into (script class, run) pieces; digits join a neighbouring Latin run, marks their run."""
    if not word:
        return
    cur = _char_class(word[0])
    start = 0
    for i in range(1, len(word)):
        c = _char_class(word[i])
        same = c in (cur, _MARK) or (c == _DIGIT and cur == _LATIN) or (c == _LATIN and cur == _DIGIT)
        if not same:
            yield (_LATIN if cur == _DIGIT else cur), word[start:i]
            cur, start = c, i
        elif cur == _DIGIT and c == _LATIN:
            cur = _LATIN
    yield (_LATIN if cur == _DIGIT else cur), word[start:]


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
    """(script class, run) pieces of ``text`` after NFKC normalization."""
    text = unicodedata.normalize("NFKC", text)
    for m in _word_re().finditer(text):
        w = m.group().replace("_", "")
        if w:
            yield from script_runs(w)


def analyze(text: str, *, lang: str | None = None, for_query: bool = False) -> list[str]:
    """Index terms of ``text`` in language ``lang`` (None: no stemming). Documents get CJK unigrams too."""
    out: list[str] = []
    for cls, run in iter_words(text):
        if cls == _CJK:
            out.extend(cjk_tokens(run, unigrams=not for_query))
        else:
            w = fold(run) if cls == _LATIN else run.lower()
            out.append(stem(w, lang) if cls != _DIGIT else w)
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
    han = kana = hangul = 0
    for ch in text[:500]:
        o = ord(ch)
        if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
            hangul += 1
        elif 0x3040 <= o <= 0x30FF:
            kana += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            han += 1
    if hangul:
        return "ko"
    if kana:
        return "ja"
    if han:
        return "zh"
    return None
