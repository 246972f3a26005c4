"""Per-language analyzers: CJK bigrams, accent folding, stemming, mixed scripts."""

from __future__ import annotations

from babelcart.apps.search.analyzers import analyze, fold, guess_script_lang, query_word_candidates


def test_cjk_bigrams_and_doc_unigrams() -> None:
    assert analyze("蓝牙耳机", for_query=True) == ["蓝牙", "牙耳", "耳机"]
    doc = analyze("蓝牙耳机")
    assert set(doc) >= {"蓝牙", "耳机", "蓝", "机"}
    # a one-character query becomes a unigram that a document's unigrams match
    assert analyze("鞋", for_query=True) == ["鞋"]
    assert "鞋" in analyze("运动鞋")


def test_kana_and_hangul_are_cjk_runs() -> None:
    assert analyze("スニーカー", for_query=True)[:2] == ["スニ", "ニー"]
    assert analyze("운동화", for_query=True) == ["운동", "동화"]


def test_latin_folding_and_stemming_per_language() -> None:
    assert fold("Crème BRÛLÉE") == "creme brulee"
    assert analyze("Running shoes", lang="en") == ["run", "shoe"]
    assert analyze("chaussures rouges", lang="fr") == ["chaussur", "roug"]
    # no stemmer for the language: folded words only
    assert analyze("Running shoes", lang="zz") == ["running", "shoes"]
    assert analyze("Running shoes", lang=None) == ["running", "shoes"]


def test_combining_marks_stay_inside_their_words() -> None:
    # Devanagari / Tamil vowel signs and viramas are combining marks, not word breaks
    assert analyze("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
    assert analyze("வயர்லெஸ் ஹெட்ஃபோன்") == ["வயர்லெஸ்", "ஹெட்ஃபோன்"]
    assert analyze("שָׁלוֹם") == ["שָׁלוֹם"]


def test_unspaced_scripts_are_bigram_runs() -> None:
    # Thai is written without spaces between words: a query word matches inside a longer title
    title = set(analyze("หูฟังไร้สายบลูทูธ"))
    assert set(analyze("หูฟัง", for_query=True)) <= title
    assert not set(analyze("รองเท้า", for_query=True)) & title  # "shoes" shares no bigram with it
    assert analyze("ឧបករណ៍", for_query=True)[0] == "ឧប"  # Khmer likewise


def test_mixed_script_split_into_runs() -> None:
    toks = analyze("iPhone15手机壳 Привет", lang="en", for_query=True)
    assert toks == ["iphone15", "手机", "机壳", "привет"]


def test_punctuation_only_gives_no_tokens() -> None:
    assert analyze("?!... ---", lang="en") == []


def test_query_word_candidates_cover_languages() -> None:
    cands = query_word_candidates("chaussures", langs=["fr", "en"])
    assert len(cands) == 1
    assert "chaussur" in cands[0] and "chaussures" in cands[0]


def test_script_guess() -> None:
    assert guess_script_lang("蓝牙耳机") == "zh"
    assert guess_script_lang("スニーカー") == "ja"
    assert guess_script_lang("운동화") == "ko"
    assert guess_script_lang("shoes") is None
