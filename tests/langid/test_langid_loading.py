"""Language ID loads only what the texts need, when they need it, and says so (INFO, shown by --verbose).

The default reads lingua's models from babelcart's memory-mapped cache (tests/langid/test_lingua_ngrams.py); the
tests that name lingua's own trigram and full models run on lingua's own loader, the fallback where the cache
cannot be made.
"""

from __future__ import annotations

import logging

import pytest

from babelcart.text import langid
from babelcart.text.langid import LanguageDetector
from babelcart.text.langid_models import CachedLinguaModels, LinguaModels

# fastText is unsure of it (4+ words, below FASTTEXT_SURE) and it is longer than LINGUA_LOW_CHARS
LONG_UNSURE = "Kualitas oke sesuai harga, tapi keren parah sekali kakak seller"


def linguas_own(det: LanguageDetector) -> LanguageDetector:
    """``det`` with lingua loading its models itself (the fallback)."""
    det.lingua = LinguaModels(det.languages, low_accuracy_only=det.lingua_low_accuracy)
    return det


def test_the_default_reads_the_cache() -> None:
    assert isinstance(LanguageDetector().lingua, CachedLinguaModels)


def test_script_decisions_load_nothing() -> None:
    det = LanguageDetector(languages=["en", "de"])
    assert [g.lang for g in det.detect_batch(["무선 이어폰", "ワイヤレス", "蓝牙耳机"])] == ["ko", "ja", "zh"]
    assert not det.fasttext.loaded and not det.lingua.loaded()


def test_sure_texts_load_fasttext_only() -> None:
    det = LanguageDetector(languages=["en", "de", "id", "ms"])
    det.detect_batch(["wireless earbuds with charging case, great sound", "Die Lieferung kam pünktlich und gut verpackt"])
    assert det.fasttext.loaded and not det.lingua.loaded()


def test_long_unsure_texts_use_linguas_trigram_models_only(caplog: pytest.LogCaptureFixture) -> None:
    assert len(LONG_UNSURE) >= langid.LINGUA_LOW_CHARS
    det = linguas_own(LanguageDetector(gate=False))
    with caplog.at_level(logging.INFO, logger="babelcart.text.langid"):
        g = det.detect(LONG_UNSURE)
    assert g.lang == "id" and g.method == "ensemble"  # lingua took part
    loaded = det.lingua.loaded()
    assert loaded and all(low for _, low in loaded), loaded  # no full (1-5-gram) models for a long text
    assert "loading lingua's trigram models" in caplog.text and "full models" not in caplog.text


def test_short_unsure_texts_load_full_models_for_the_shortlist_only(caplog: pytest.LogCaptureFixture) -> None:
    det = linguas_own(LanguageDetector(gate=False))
    with caplog.at_level(logging.INFO, logger="babelcart.text.langid"):
        assert det.detect("tas ransel").method == "ensemble"
    full = {code for code, low in det.lingua.loaded() if not low}
    assert "en" in full and len(full) <= 10, full  # the shortlist (and the prior's English), not all 52 Latin ones
    assert "loading lingua's full models" in caplog.text


def test_short_texts_trigram_pass_weighs_their_scripts_languages_only() -> None:
    det = linguas_own(LanguageDetector(gate=False))
    assert det.detect("tas ransel").method == "ensemble"
    trigram = {code for code, low in det.lingua.loaded() if low}
    assert {"en", "id"} <= trigram and not trigram & {"ru", "uk", "bg", "ar", "fa", "hi"}, trigram  # Latin only
    full = {code for code, low in det.lingua.loaded() if not low}
    assert len(full) <= langid.LINGUA_SHORTLIST + 3, full  # the trigram shortlist, fastText's best two, English


def test_the_shortlist_leaves_out_languages_far_below_the_trigram_best() -> None:
    det = LanguageDetector(prior={})
    cands = frozenset({"id", "ms", "sv", "no", "da"})
    trigram = [("id", 0.7), ("ms", 0.29), ("sv", 0.002), ("no", 0.001), ("da", 0.0)]
    assert det._shortlist(trigram, cands, {}) == {"id", "ms"}  # sv is under SHORTLIST_RATIO of id's confidence
    flat = [("id", 0.25), ("ms", 0.25), ("sv", 0.2), ("no", 0.15), ("da", 0.15)]
    assert det._shortlist(flat, cands, {}) == {"id", "ms", "sv", "no"}  # at most LINGUA_SHORTLIST
    assert det._shortlist(trigram, cands, {"da": 0.6, "no": 0.4}) == {"id", "ms", "da", "no"}  # + fastText's two


def test_without_trigram_evidence_fasttext_fills_the_shortlist_or_the_prior_decides() -> None:
    det = LanguageDetector(prior={})
    cands = frozenset({"id", "ms", "sv", "no", "da", "en"})
    no_evidence = [("id", 0.0), ("ms", 0.0)]  # words of one or two letters: lingua's trigram models see nothing
    ft = {"da": 0.4, "no": 0.3, "sv": 0.2, "en": 0.05, "id": 0.05}
    assert det._shortlist(no_evidence, cands, ft) == {"da", "no", "sv", "en"}  # fastText's best LINGUA_SHORTLIST
    assert det._shortlist(no_evidence, cands, {}) == frozenset()  # nothing to go on: lingua is not asked
    guess = LanguageDetector().detect("A")  # the default prior (English x2) decides, with a low confidence
    assert guess.lang == "en" and guess.method == "prior" and guess.confidence < 0.2


def test_a_batch_loads_the_models_it_needs_at_once_and_only_once(caplog: pytest.LogCaptureFixture) -> None:
    """preload: one announcement for every language the batch needs; later detectors for subsets load nothing."""
    det = linguas_own(LanguageDetector(languages=["en", "de", "id", "ms"], gate=False))
    with caplog.at_level(logging.INFO, logger="babelcart.text.langid"):
        det.lingua.preload(frozenset({"en", "de", "id"}))
        det.lingua.preload(frozenset({"en", "de"}))  # already loaded: nothing to do
        det.lingua.scores(["barang nya rusak"], frozenset({"id", "en"}))
    loads = [r.getMessage() for r in caplog.records if "loading lingua" in r.getMessage()]
    assert loads == ["language ID: loading lingua's full models (about 0.25 s a language) for de, en, id"], loads
    assert det.lingua.loaded() == {("de", False), ("en", False), ("id", False)}


@pytest.mark.parametrize("own", [False, True], ids=["cache", "linguas-own"])
def test_preloading_never_changes_an_answer(own: bool) -> None:
    texts = ["barang nya rusak", "bagus banget", LONG_UNSURE, "reset password", "zapatillas running", "Handyhülle"]
    make = (lambda: linguas_own(LanguageDetector(gate=False))) if own else (lambda: LanguageDetector(gate=False))
    lazy = make()
    alone = [lazy.detect(t) for t in texts]  # one text a call: each call loads what that text needs
    assert make().detect_batch(texts) == alone  # one batch: everything loaded at once


def test_the_cache_maps_the_languages_a_batch_weighs_once(caplog: pytest.LogCaptureFixture) -> None:
    det = LanguageDetector(languages=["en", "de", "id", "ms"], gate=False)
    with caplog.at_level(logging.INFO, logger="babelcart.text.langid"):
        det.lingua.preload(frozenset({"en", "de", "id"}))
        det.lingua.preload(frozenset({"en", "de"}))  # mapped already: nothing to do
        det.lingua.scores(["barang nya rusak"], frozenset({"id", "en"}))
    maps = [r.getMessage() for r in caplog.records if "lingua's models for" in r.getMessage()]
    assert len(maps) == 1 and maps[0].startswith("language ID: lingua's models for de, en, id (memory-mapped"), maps
    assert {code for code, _ in det.lingua.loaded()} == {"de", "en", "id"}


def test_a_long_unsure_text_maps_fasttexts_best_languages_only() -> None:
    det = LanguageDetector(gate=False)
    assert det.detect(LONG_UNSURE).method == "ensemble"
    mapped = {code for code, _ in det.lingua.loaded()}
    assert "id" in mapped and len(mapped) <= langid.LINGUA_TOP_K, mapped
