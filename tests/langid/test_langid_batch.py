"""Batch language ID: the same answers as one text at a time, and a bad row is marked, never fatal."""

from __future__ import annotations

from typing import Any

from babelcart.text.langid import LanguageDetector

TEXTS: list[Any] = [
    "wireless earbuds with charging case", "Die Lieferung kam zu spät, aber die Qualität stimmt.",
    "barangnya bagus banget, pengiriman cepat", "蓝牙耳机音质很好", "무선 이어폰", "Отличный товар, рекомендую",
    "هذا المنتج رائع", "बहुत अच्छा उत्पाद", "hej", "kjole", "", None, b"caf\xc3\xa9 au lait", 12345,
    "\ud800 broken surrogate text", "SUPER FAST SHIPPING THANK YOU",
]


def test_batch_equals_one_by_one() -> None:
    det = LanguageDetector()
    assert det.detect_batch(TEXTS) == [det.detect(t) for t in TEXTS]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text here")


def test_a_bad_row_does_not_sink_the_batch() -> None:
    det = LanguageDetector()
    guesses = det.detect_batch(["wireless earbuds with charging case", Unprintable(), "蓝牙耳机音质很好"])
    assert [g.lang for g in guesses] == ["en", "und", "zh"]
    assert guesses[1].method == "error"
