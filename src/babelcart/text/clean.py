"""Repair and normalize raw text: mojibake, HTML, Unicode width, control characters, whitespace, URLs.

Every change is reported as a flag, in the order the steps run:

``control``
    C0/C1 control characters (tab/newline excepted), NUL bytes, lone surrogates, byte-order marks and
    Unicode non-characters removed.
``mojibake``
    UTF-8 read as Latin-1/cp1252 (``cafÃ©``) repaired with ``ftfy.fix_encoding``.
``html``
    tags, comments, ``<script>``/``<style>`` bodies removed and entities (``&amp;``, ``&#233;``) decoded.
``width``
    full-width Latin letters and digits (``ＡＢＣ１２３``) folded to ASCII, the ideographic space to a space,
    half-width katakana (``ｶﾞ``) to full-width katakana (``ガ``).
``normalized``
    any other Unicode normalization change (NFKC compatibility forms such as ``ﬁ``, ``①``, ``…``; NFC
    composition of combining marks).
``url``
    URLs removed (only with ``remove_urls=True``).
``whitespace``
    runs of whitespace collapsed to one space, ends stripped.

Width policy (``fold_width=True``): NFKC everywhere except full-width *punctuation* (``，！？（）：`` …) that
sits next to CJK text: ``你好，世界`` keeps its Chinese comma, while ``ＡＢＣ－１２３`` becomes ``ABC-123``.
CJK ideographs, Hangul, Kana and CJK punctuation (``。、「」``) are never altered by NFKC. Half-width
katakana are *widened* (NFKC's choice, which we keep: full-width is the standard form that tokenizers,
search analyzers and the encoders were trained on, and the voiced marks combine: ``ｶﾞ`` → ``ガ``).
With ``fold_width=False`` only NFC is applied.

>>> clean_text("Ｈｅｌｌｏ　&lt;3 <b>café</b>").text
'Hello <3 café'
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import regex

from babelcart.text.scripts import CJK_CLASS

logger = logging.getLogger(__name__)

__all__ = ["CleanResult", "clean_batch", "clean_text"]

#: Control characters removed (tab, LF, CR are whitespace and handled by the whitespace step).
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\ufdd0-\ufdef]"
)
_TAG_HINT_RE = re.compile(r"<[A-Za-z!/?][^<>]*>|&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SCRIPT_RE = re.compile(r"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_BLOCK_TAG_RE = re.compile(
    r"</?(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|section|article|header|footer|blockquote|pre|hr)\b[^<>]*>",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<![A-Za-z][^<>]*>|<\?[^<>]*\?>")
_URL_RE = re.compile(r"(?:\bhttps?://|\bftp://|\bwww\.)[^\s<>\"'\u3000-\u303f\uff01-\uff60]+", re.IGNORECASE)
_URL_TRAIL = ".,;:!?)]}'\""
_WS_RE = re.compile(r"\s+")
#: Full-width ASCII punctuation: folded to ASCII only when no neighbour is CJK.
_FW_PUNCT_RE = re.compile("[\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff60]")
_WIDTH_RE = re.compile("[\uff01-\uff60\uff61-\uffdc\u3000]")
#: Han, Kana, Hangul and the punctuation written with them (CJK symbols block, half-width 「」、。・).
_CJK_RE = regex.compile(f"[{CJK_CLASS}\\p{{Block=CJK_Symbols_and_Punctuation}}\\uff61-\\uff65]")
_PROTECT = "\x00"  # placeholder for kept full-width punctuation while NFKC runs (NULs are gone by then)


@dataclass
class CleanResult:
    """A cleaned text and the list of changes made (empty when the text was already clean)."""

    text: str
    flags: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.flags)


def _strip_html(text: str) -> str:
    text = _SCRIPT_RE.sub(" ", text)
    text = _COMMENT_RE.sub(" ", text)
    text = _BLOCK_TAG_RE.sub(" ", text)
    text = _TAG_RE.sub("", text)
    return html.unescape(text)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and _CJK_RE.match(ch) is not None


def _fold_width(text: str) -> str:
    """NFKC, keeping full-width punctuation that touches CJK characters."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    kept: list[str] = []

    def keep_or_fold(m: re.Match[str]) -> str:
        i = m.start()
        before = text[i - 1] if i > 0 else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if _is_cjk(before) or _is_cjk(after):
            kept.append(m.group())
            return _PROTECT
        return m.group()

    protected = _FW_PUNCT_RE.sub(keep_or_fold, text)
    folded = unicodedata.normalize("NFKC", protected)
    if not kept:
        return folded
    it = iter(kept)
    return re.sub(_PROTECT, lambda _m: next(it), folded)


def _remove_urls(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        url = m.group()
        stripped = url.rstrip(_URL_TRAIL)
        return " " + url[len(stripped):]

    return _URL_RE.sub(repl, text)


def clean_text(
    text: str | bytes, *, remove_urls: bool = False, strip_html: bool = True, fold_width: bool = True
) -> CleanResult:
    """Repair and normalize one text; see the module docstring for the steps and their flags.

    ``bytes`` are decoded as UTF-8 (undecodable bytes become U+FFFD and add the ``control`` flag).
    Emoji are kept. Never raises on odd input (binary junk, NULs, 1 MB texts).

    >>> clean_text("  Ã¼ber\\x00  uns ").flags
    ['control', 'mojibake', 'whitespace']
    """
    flags: list[str] = []
    if isinstance(text, (bytes, bytearray)):
        raw_bytes = bytes(text)
        try:
            text = raw_bytes.decode("utf-8")
        except UnicodeDecodeError:
            text = raw_bytes.decode("utf-8", errors="replace")
            flags.append("control")
    elif not isinstance(text, str):
        raise TypeError(f"clean_text expects str or bytes, got {type(text).__name__}")

    out = _CONTROL_RE.sub("", text)
    if out != text and "control" not in flags:
        flags.append("control")

    if not out.isascii():
        import ftfy

        try:
            fixed = ftfy.fix_encoding(out)
        except Exception:  # noqa: BLE001 - a repair library must not sink the pipeline
            logger.debug("ftfy failed", exc_info=True)
            fixed = out
        if fixed != out:
            fixed = _CONTROL_RE.sub("", fixed)
            flags.append("mojibake")
            out = fixed

    if strip_html and _TAG_HINT_RE.search(out):
        stripped = _strip_html(out)
        stripped = _CONTROL_RE.sub("", stripped)
        if stripped != out:
            flags.append("html")
            out = stripped

    if not out.isascii():
        if fold_width:
            width_before = bool(_WIDTH_RE.search(out))
            normed = _fold_width(out)
            if normed != out:
                # Which kind of change? Compare against a pass that leaves width characters alone.
                if width_before:
                    flags.append("width")
                    nfc_rest = unicodedata.normalize("NFKC", _WIDTH_RE.sub("", out))
                    if nfc_rest != _WIDTH_RE.sub("", out):
                        flags.append("normalized")
                else:
                    flags.append("normalized")
                out = normed
        else:
            normed = unicodedata.normalize("NFC", out)
            if normed != out:
                flags.append("normalized")
                out = normed

    if remove_urls:
        no_urls = _remove_urls(out)
        if no_urls != out:
            flags.append("url")
            out = no_urls

    collapsed = _WS_RE.sub(" ", out).strip()
    if collapsed != out:
        flags.append("whitespace")
        out = collapsed
    return CleanResult(text=out, flags=flags)


def clean_batch(
    texts: Iterable[str | bytes], *, remove_urls: bool = False, strip_html: bool = True, fold_width: bool = True
) -> list[CleanResult]:
    """:func:`clean_text` over many texts, in order."""
    return [
        clean_text(t, remove_urls=remove_urls, strip_html=strip_html, fold_width=fold_width) for t in texts
    ]
