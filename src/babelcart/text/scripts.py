"""Unicode scripts in one place: which script a letter is written in, and the word patterns built on that.

Everything here is a Unicode property of the ``regex`` package (``\\p{Han}``, ``\\p{Hiragana}``, ``\\p{M}``...),
so the tables follow the Unicode version of ``regex`` instead of hand-written code-point ranges. Patterns are
compiled once, at import. Users: language ID (script rules), the search analyzers (which runs become
character bigrams), near-duplicate shingles, width folding in ``clean`` and the subword tokenizer's
per-character fertility.

- A *word* (``WORD_RE``) is a run of letters, digits, underscores **and combining marks**: the standard
  library's ``\\w`` leaves marks out and cuts Hindi, Tamil or Thai words at every vowel sign.
- Marks count with the letters before them (Arabic harakat and the combining accents are script
  "Inherited" in Unicode; here they belong to their base letter's run).

>>> WORD_RE.findall("नमस्ते दुनिया")
['नमस्ते', 'दुनिया']
>>> script_counts("iPhone 手机壳 ケース 케이스")
{'latin': 6, 'han': 3, 'kana': 3, 'hangul': 3}
"""

from __future__ import annotations

import regex

__all__ = [
    "CHAR_NGRAM_CLASS", "CJK_CLASS", "LETTERS_RE", "SCRIPTS", "UNSPACED_CLASS", "WORD_RE", "script_counts",
]

#: Script name → body of a regex character class for its characters (letters, marks, digits of that script).
#: Kana also takes what Unicode files under "Common" or "Inherited" but only Japanese uses: the prolonged sound
#: mark (``ー``, ``ｰ``), the (half-width) voiced sound marks, ``・``, ``゠`` and ``〆``.
SCRIPTS: dict[str, str] = {
    "latin": r"\p{Latin}", "greek": r"\p{Greek}", "cyrillic": r"\p{Cyrillic}", "armenian": r"\p{Armenian}",
    "hebrew": r"\p{Hebrew}", "arabic": r"\p{Arabic}", "syriac": r"\p{Syriac}", "thaana": r"\p{Thaana}",
    "devanagari": r"\p{Devanagari}", "bengali": r"\p{Bengali}", "gurmukhi": r"\p{Gurmukhi}",
    "gujarati": r"\p{Gujarati}", "oriya": r"\p{Oriya}", "tamil": r"\p{Tamil}", "telugu": r"\p{Telugu}",
    "kannada": r"\p{Kannada}", "malayalam": r"\p{Malayalam}", "sinhala": r"\p{Sinhala}", "thai": r"\p{Thai}",
    "lao": r"\p{Lao}", "tibetan": r"\p{Tibetan}", "myanmar": r"\p{Myanmar}", "georgian": r"\p{Georgian}",
    "hangul": r"\p{Hangul}", "ethiopic": r"\p{Ethiopic}", "khmer": r"\p{Khmer}", "mongolian": r"\p{Mongolian}",
    "kana": r"\p{Hiragana}\p{Katakana}\u3006\u3099-\u309c\u30a0\u30fb\u30fc\uff70\uff9e\uff9f", "han": r"\p{Han}",
}

#: Han, Kana and Hangul.
CJK_CLASS = SCRIPTS["han"] + SCRIPTS["kana"] + SCRIPTS["hangul"]
#: Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese): a text in them
#: is measured per character, not per word.
UNSPACED_CLASS = SCRIPTS["han"] + SCRIPTS["kana"] + SCRIPTS["thai"] + SCRIPTS["lao"] + SCRIPTS["khmer"] \
    + SCRIPTS["myanmar"]
#: Scripts whose runs become character n-grams in search and near-duplicate shingles: the unspaced scripts
#: plus Hangul (Korean words are short and glue on particles, so bigrams match better than whole words).
CHAR_NGRAM_CLASS = UNSPACED_CLASS + SCRIPTS["hangul"]

#: A word: letters, digits, underscores and combining marks (``regex``'s ``\w`` keeps marks).
WORD_RE = regex.compile(r"\w+")
#: Letters with their combining marks (no digits, no underscores).
LETTERS_RE = regex.compile(r"[^\W\d_]+")

# One alternative per script: a letter of that script, then its letters and any combining marks.
_COUNT_RE = regex.compile(
    "|".join(f"(?P<{name}>[[{cls}]&&\\p{{L}}](?:[[{cls}]&&\\p{{L}}]|\\p{{M}})*)" for name, cls in SCRIPTS.items())
    + r"|(?P<other>\p{L}\p{M}*)",
    regex.VERSION1,
)
#: Below the combining marks (U+0300) no character joins another's run, so a text made only of such characters
#: is counted character by character, per script by deleting that script's letters (``bytes.translate`` up to
#: U+00FF, ``str.translate`` above). The tables are read off ``_COUNT_RE`` itself, so all paths count alike.
_UNMARKED_END = "\u0300"


def _unmarked_letters() -> dict[str, list[int]]:
    by_script: dict[str, list[int]] = {}
    for cp in range(ord(_UNMARKED_END)):
        m = _COUNT_RE.fullmatch(chr(cp))
        if m is not None and m.lastgroup is not None:
            by_script.setdefault(m.lastgroup, []).append(cp)
    return by_script


_UNMARKED = _unmarked_letters()
_LATIN1_DELETE = tuple((name, bytes(cp for cp in cps if cp < 256)) for name, cps in _UNMARKED.items())
_UNMARKED_DELETE = tuple((name, dict.fromkeys(cps)) for name, cps in _UNMARKED.items())


def script_counts(text: str) -> dict[str, int]:
    """Letters (with their combining marks) of ``text`` per script: ``latin``, ``han``, ``kana``, ``hangul``...

    Letters of scripts not in :data:`SCRIPTS` count as ``other``; digits, spaces and punctuation not at all.
    """
    try:  # ASCII and Latin-1: one byte per character (encoding checks that in C, ``max(text)`` is slower)
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        if max(text) >= _UNMARKED_END:
            return _run_counts(text)
        # Latin Extended
        counts = {name: len(text) - len(text.translate(table)) for name, table in _UNMARKED_DELETE}
    else:
        counts = {name: len(raw) - len(raw.translate(None, letters)) for name, letters in _LATIN1_DELETE}
    return {name: n for name, n in counts.items() if n}


def _run_counts(text: str) -> dict[str, int]:
    """``script_counts`` by the script regex: each run of one script's letters and marks counts for it."""
    counts: dict[str, int] = {}
    for m in _COUNT_RE.finditer(text):
        name = m.lastgroup
        assert name is not None
        counts[name] = counts.get(name, 0) + m.end() - m.start()
    return counts
