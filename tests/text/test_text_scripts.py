"""One Unicode script table for every module: real review text in each script, as each consumer sees it."""

from __future__ import annotations

import random

import pytest

from babelcart.apps.search.analyzers import analyze, guess_script_lang
from babelcart.text.clean import clean_text
from babelcart.text.dedupe import shingles
from babelcart.text.scripts import LETTERS_RE, WORD_RE, _run_counts, script_counts
from babelcart.text.subword import fertility

# (script, text without digits or punctuation, written with spaces between words?)
SAMPLES = [
    ("latin", "Très bon produit livraison rapide", True),
    ("han", "这个产品质量很好", False),
    ("kana", "スニーカーはとてもかるい", False),
    ("hangul", "배송이 빠르고 좋아요", True),
    ("thai", "สินค้าดีมาก ส่งเร็ว", False),
    ("lao", "ສິນຄ້າດີຫຼາຍ", False),
    ("khmer", "ផលិតផលល្អណាស់", False),
    ("myanmar", "ပစ္စည်းကောင်းပါတယ်", False),
    ("arabic", "مَرْحَبًا منتج رائع جدا", True),
    ("hebrew", "שָׁלוֹם מוצר מצוין", True),
    ("cyrillic", "Отличный товар быстрая доставка", True),
    ("devanagari", "बहुत अच्छा उत्पाद", True),
    ("tamil", "மிகவும் நல்ல பொருள்", True),
    ("greek", "Πολύ καλό προϊόν", True),
    ("bengali", "খুব ভালো পণ্য", True),
    ("georgian", "ძალიან კარგი", True),
    ("armenian", "Շատ լավ ապրանք", True),
]
IDS = [s for s, _, _ in SAMPLES]


@pytest.mark.parametrize(("script", "text", "spaced"), SAMPLES, ids=IDS)
def test_every_letter_and_mark_counts_for_its_script(script: str, text: str, spaced: bool) -> None:
    counts = script_counts(text)
    assert counts == {script: len(text.replace(" ", ""))}


@pytest.mark.parametrize(("script", "text", "spaced"), SAMPLES, ids=IDS)
def test_words_keep_their_combining_marks(script: str, text: str, spaced: bool) -> None:
    # vowel signs, viramas, harakat and niqqud are marks: a word is not cut at them
    assert WORD_RE.findall(text) == text.split()
    assert LETTERS_RE.findall(text) == text.split()


@pytest.mark.parametrize(("script", "text", "spaced"), SAMPLES, ids=IDS)
def test_search_analyzer_bigrams_cjk_and_unspaced_scripts_only(script: str, text: str, spaced: bool) -> None:
    terms = analyze(text, for_query=True)
    if script in ("han", "kana", "hangul", "thai", "lao", "khmer", "myanmar"):
        expected = [w[i:i + 2] for w in text.split() for i in range(len(w) - 1)]
        # Thai, Lao, Khmer and Myanmar runs keep their vowel signs inside the bigrams
        assert terms == expected
    elif script == "latin":
        assert terms == ["tres", "bon", "produit", "livraison", "rapide"]
    else:
        assert terms == text.lower().split()


@pytest.mark.parametrize(("script", "text", "spaced"), SAMPLES, ids=IDS)
def test_dedupe_shingles_per_character_or_per_word(script: str, text: str, spaced: bool) -> None:
    sh = shingles(text, char_ngram=3, word_ngram=2)
    if script in ("han", "kana", "hangul", "thai", "lao", "khmer", "myanmar"):
        assert all(" " not in s and len(s) <= 3 for s in sh if s != text)
    else:
        words = text.casefold().split()
        assert sh == {" ".join(words[i:i + 2]) for i in range(len(words) - 1)}


def test_subword_fertility_is_per_character_for_unspaced_scripts() -> None:
    class OneTokenPerCodePoint:
        def encode(self, text: str) -> list[str]:
            return [ch for ch in text if ch != " "]

    for script, text, spaced in SAMPLES:
        report = fertility(OneTokenPerCodePoint(), [text], [None])["und"]  # type: ignore[arg-type]
        assert report["unit"] == ("word" if spaced else "char"), script


def test_width_folding_keeps_full_width_punctuation_next_to_cjk_only() -> None:
    assert clean_text("質量很好！").text == "質量很好！"
    assert clean_text("とても良い！").text == "とても良い！"
    assert clean_text("좋아요！").text == "좋아요！"
    assert clean_text("Très bon！").text == "Très bon!"
    assert clean_text("Отлично！").text == "Отлично!"


def test_script_guess_for_search_language() -> None:
    assert [guess_script_lang(t) for _, t, _ in SAMPLES[:4]] == [None, "zh", "ja", "ko"]
    assert guess_script_lang("新しい靴") == "ja"  # one Kana character makes Han text Japanese


def test_mixed_script_text_counts_each_part() -> None:
    assert script_counts("iPhone 15 手机壳 ケース 케이스 Привет ١٢٣") == {
        "latin": 6, "han": 3, "kana": 3, "hangul": 3, "cyrillic": 6}
    assert script_counts("日々") == {"han": 2}  # the iteration mark counts with Han
    assert script_counts("Ꭰ") == {"other": 1}  # Cherokee: a letter of a script without a rule


@pytest.mark.parametrize("top", [0x80, 0x100, 0x300, 0x400])
def test_per_character_fast_paths_count_like_the_script_regex(top: int) -> None:
    rng = random.Random(top)
    texts = ["".join(chr(rng.randrange(top)) for _ in range(rng.randrange(40))) for _ in range(3000)]
    texts += ["naïve café ª º µ ß", "Łódź Ǆemal ȘȚ", ""]
    for text in texts:
        assert script_counts(text) == _run_counts(text), repr(text)
