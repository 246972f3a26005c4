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


# fastText is unsure of these, so they go to lingua: a long one (its trigram models, grouped by language subset), short
# ones (the trigram shortlist, then the full models), one fastText is clueless on; mixed with texts decided earlier
MIXED: list[Any] = [
    "Kualitas oke sesuai harga, tapi keren parah sekali kakak seller", "tas ransel", "how do I return an item",
    "kaos kaki", "Det var en fin kjole, men den var for lille", "wireless earbuds with charging case", "蓝牙耳机",
    "barangnya bagus, pengiriman agak lama tapi oke", "reset password", "hej", "", None,
]


def test_the_same_text_gets_the_same_answer_alone_and_in_any_batch() -> None:
    """Batch independence: lingua scores a batch per language subset, one call per group; a text's answer must not
    depend on which other texts share its batch, its group or its position."""
    det = LanguageDetector()
    alone = [det.detect_batch([t])[0] for t in MIXED]
    assert any(g.method in ("ensemble", "lingua") for g in alone)  # lingua really took part
    assert det.detect_batch(MIXED) == alone
    assert det.detect_batch(MIXED[::-1]) == alone[::-1]
    doubled = det.detect_batch(MIXED + MIXED[3:] + TEXTS)
    assert doubled[:len(MIXED)] == alone and doubled[len(MIXED):2 * len(MIXED) - 3] == alone[3:]
    fresh = LanguageDetector()  # models loaded in another order
    assert fresh.detect_batch(MIXED[::2] + MIXED[1::2]) == alone[::2] + alone[1::2]


# xSID utterances fastText reads as Danish, Norwegian or Swedish without being sure: lingua weighs the same three
# languages for each (one group), and its answers differ
SCANDINAVIAN = {"Hvornår viser Santikos Theatres animerede film": "da", "Er tannlegetimen min i påminnelsene mine?": "no",
                "Spill en sang av Juanes på LastFm.": "no", "Skal det regne nær min lokation klokken 0 ?": "da"}


def test_texts_that_lingua_weighs_together_keep_their_own_answers() -> None:
    det = LanguageDetector()
    texts = list(SCANDINAVIAN)
    together = det.detect_batch(texts)
    assert [g.lang for g in together] == list(SCANDINAVIAN.values())
    assert all(g.method == "ensemble" for g in together)
    assert together == [LanguageDetector().detect(t) for t in texts]


def test_a_lingua_failure_leaves_fasttexts_answer() -> None:
    det = LanguageDetector()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("lingua is down")

    det.lingua.scores_each = broken  # type: ignore[method-assign]
    guesses = det.detect_batch(["tas ransel", "wireless earbuds with charging case", "蓝牙耳机"])
    assert [g.lang for g in guesses][1:] == ["en", "zh"]
    assert guesses[0].method in ("fasttext", "error")
