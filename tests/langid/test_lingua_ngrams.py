"""lingua's models read into babelcart's cache and scored with numpy: lingua's own numbers, from a cache that is
built once, atomically, and batch-independent scores."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from babelcart.text import lingua_ngrams
from babelcart.text.langid import LanguageDetector
from babelcart.text.langid_models import CachedLinguaModels, LinguaModels
from babelcart.text.lingua_ngrams import (
    EmbeddedModels,
    ModelsUnavailable,
    NgramTables,
    hash_ngrams,
    language_totals,
    lingua_library,
    score_each,
)

LANGUAGES = ["en", "de", "fr", "es", "id", "nl"]
#: Plain ASCII texts (lingua's letter rules stay silent, so its scores are its models' alone), short and long.
TEXTS = [
    "the delivery was fast and the box was fine",
    "die lieferung war schnell und gut verpackt",
    "la livraison etait rapide et bien emballee",
    "el envio fue rapido y llego bien",
    "barang sampai dengan cepat dan rapi",
    "de levering was snel en goed verpakt",
    "tas ransel",
    "reset password",
    "zapatillas running",
    "ok",
    "great product " * 12,  # 120+ letters: lingua scores trigrams only
]


@pytest.fixture(scope="module")
def pair() -> tuple[CachedLinguaModels, LinguaModels]:
    return CachedLinguaModels(LANGUAGES), LinguaModels(LANGUAGES)


@pytest.mark.parametrize("low", [False, True], ids=["full", "trigrams"])
def test_the_scores_are_linguas_own(pair: tuple[CachedLinguaModels, LinguaModels], low: bool) -> None:
    cached, own = pair
    ours = cached.scores(TEXTS, None, low)
    theirs = own.scores(TEXTS, None, low)
    assert ours is not None and theirs is not None
    for text, a, b in zip(TEXTS, ours, theirs, strict=True):
        expected = {code: value for code, value in b if value > 0}
        got = dict(a)
        assert got.keys() == expected.keys(), text
        assert all(abs(got[k] - expected[k]) < 1e-9 for k in got), (text, a, b)


def test_each_text_is_weighed_against_its_own_languages(pair: tuple[CachedLinguaModels, LinguaModels]) -> None:
    cached, own = pair
    subsets = [frozenset({"en", "de"}), frozenset({"fr", "es", "nl"}), None, frozenset({"id"})]
    texts = TEXTS[:4]
    got = cached.scores_each(texts, subsets)
    want = own.scores_each(texts, subsets)
    for a, b in zip(got, want, strict=True):
        assert [c for c, _ in a] == [c for c, v in b if v > 0]
        assert np.allclose([v for _, v in a], [v for _, v in b if v > 0], atol=1e-9)
    assert got[3] == []  # one language: nothing for lingua to weigh


def test_a_text_scores_the_same_alone_and_in_any_batch() -> None:
    tables = lingua_ngrams.shared_tables()
    names = ["ENGLISH", "GERMAN", "INDONESIAN", "MALAY", "TURKISH"]
    texts = TEXTS + ["Perşembe", "", "12345", "ŞÇĞ üöä", "蓝牙 earbuds"]
    together = language_totals(tables, texts, names)
    alone = np.vstack([language_totals(tables, [t], names) for t in texts])
    reversed_batch = language_totals(tables, texts[::-1], names)[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reversed_batch)


def test_a_letter_a_language_does_not_write_rules_it_out() -> None:
    """``ş`` is Turkish; Malay's models have seen it (noise) but do not write with it."""
    three = [["TURKISH", "MALAY", "ENGLISH"]]
    scores = score_each(lingua_ngrams.shared_tables(), ["Perşembe"], three)[0]
    assert [lang for lang, _ in scores] == ["TURKISH"]
    plain = score_each(lingua_ngrams.shared_tables(), ["Persembe"], three)[0]
    assert len(plain) == 3  # without the letter every language keeps its say


def test_no_letters_no_scores() -> None:
    assert score_each(lingua_ngrams.shared_tables(), ["", "123 !!", "ab"], [["ENGLISH", "GERMAN"]] * 3,
                       trigrams_only=True) == [[], [], []]


def test_the_library_holds_every_languages_models() -> None:
    files = EmbeddedModels(lingua_library()).files
    assert len(files) >= 70 and {"ENGLISH", "INDONESIAN", "BOKMAL"} <= files.keys()
    assert all(name in files["ENGLISH"] for name in lingua_ngrams.ORDER_FILES.values())


def test_a_library_without_linguas_models_is_refused_cleanly() -> None:
    other = Path(np._core._multiarray_umath.__file__)  # an ELF library with no embedded models
    with pytest.raises(ModelsUnavailable):
        EmbeddedModels(other)


def test_the_cache_is_built_once_then_only_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    first = NgramTables(folder=tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="babelcart.text.lingua_ngrams"):
        first.prepare(["ENGLISH", "GERMAN"])
    assert "reading lingua's models for English" in caplog.text
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ENGLISH", "GERMAN"]  # no leftovers
    assert sorted(p.name for p in (tmp_path / "cache" / "ENGLISH").iterdir()) == [
        "done", "keys.npy", "logp.npy", "starts.npy"]

    def no_library(*args: object) -> None:
        raise AssertionError("a cached language must not be read from lingua's library again")

    monkeypatch.setattr(lingua_ngrams, "EmbeddedModels", no_library)
    again = NgramTables(folder=tmp_path / "cache")
    texts = ["the delivery was fast", "die lieferung war schnell"]
    assert np.array_equal(language_totals(again, texts, ["ENGLISH", "GERMAN"]),
                          language_totals(first, texts, ["ENGLISH", "GERMAN"]))


def test_a_language_another_process_cached_first_is_kept(tmp_path: Path) -> None:
    NgramTables(folder=tmp_path).prepare(["ENGLISH"])
    made = (tmp_path / "ENGLISH" / "keys.npy").stat().st_mtime_ns
    late = NgramTables(folder=tmp_path)  # it found no cache, then lost the race to write it
    late._build("ENGLISH", tmp_path / "ENGLISH", replace=False)
    assert (tmp_path / "ENGLISH" / "keys.npy").stat().st_mtime_ns == made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ENGLISH"]  # no leftover temporary folder


def test_a_damaged_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    NgramTables(folder=tmp_path).prepare(["ENGLISH", "GERMAN"])
    (tmp_path / "ENGLISH" / "keys.npy").write_bytes(b"not a numpy file")
    with caplog.at_level(logging.WARNING, logger="babelcart.text.lingua_ngrams"):
        totals = language_totals(NgramTables(folder=tmp_path), ["the delivery was fast"], ["ENGLISH", "GERMAN"])
    assert "damaged" in caplog.text
    assert np.array_equal(totals, language_totals(lingua_ngrams.shared_tables(), ["the delivery was fast"],
                                                  ["ENGLISH", "GERMAN"]))


def test_hashes_are_stable_and_distinct() -> None:
    grams = ["a", "ab", "abc", "abcd", "abcde", "b", "ba", "ş", "蓝"]
    hashed = hash_ngrams(grams)
    assert len(set(hashed.tolist())) == len(grams)
    assert hash_ngrams(["abc"])[0] == hashed[2]  # the same in any list


def test_without_a_cache_lingua_loads_its_own_models(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    det = LanguageDetector(gate=False)

    def unreadable(self: NgramTables, languages: object) -> None:
        raise ModelsUnavailable("test: another layout")

    monkeypatch.setattr(NgramTables, "prepare", unreadable)
    with caplog.at_level(logging.WARNING, logger="babelcart.text.langid"):
        guess = det.detect("tas ransel kulit")
    assert "lingua loads them itself" in caplog.text
    reference = LanguageDetector(gate=False)
    reference.lingua = LinguaModels(reference.languages)
    assert guess == reference.detect("tas ransel kulit")
