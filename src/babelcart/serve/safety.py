"""Input limits and PII-safe logging for the service."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from babelcart.config import Settings
from babelcart.serve.errors import BadRequestError, TooLargeError
from babelcart.text.pii import mask_pii

logger = logging.getLogger(__name__)

_FALLBACK = [
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<EMAIL>"),
    (re.compile(r"\+?\d[\d\s().-]{6,}\d"), "<NUMBER>"),
]


def check_texts(texts: Sequence[str], settings: Settings, *, field: str = "texts") -> None:
    """413 when the batch has more than ``max_batch_items`` texts, 422 when a text is too long."""
    if len(texts) > settings.max_batch_items:
        raise TooLargeError(f"{field} has {len(texts)} items; the limit is {settings.max_batch_items} per request")
    for i, t in enumerate(texts):
        if len(t) > settings.max_text_chars:
            raise BadRequestError(f"{field}[{i}] has {len(t)} characters; the limit is {settings.max_text_chars}")


def check_text(text: str, settings: Settings, *, field: str = "text") -> None:
    if len(text) > settings.max_text_chars:
        raise BadRequestError(f"{field} has {len(text)} characters; the limit is {settings.max_text_chars}")


def redact(text: str) -> str:
    """``text`` with personal data masked (:func:`babelcart.text.pii.mask_pii`; a coarse regex fallback if it
    fails). Use it on anything user-provided that may reach a log line.
    """
    text = str(text)[:2000]
    try:
        return mask_pii(text).text
    except Exception:  # noqa: BLE001 - logging must never fail; fall back to coarse masking
        for pattern, repl in _FALLBACK:
            text = pattern.sub(repl, text)
        return text
