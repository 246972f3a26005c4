from __future__ import annotations

import os
import unicodedata

import pytest

from babelcart.text.clean import clean_batch, clean_text


def test_already_clean_text_has_no_flags():
    r = clean_text("Great shoes, fast delivery!")
    assert r.text == "Great shoes, fast delivery!"
    assert r.flags == [] and not r.changed


@pytest.mark.parametrize(
    ("raw", "want", "flag"),
    [
        ("cafÃ© au lait", "café au lait", "mojibake"),
        ("<p>Nice&nbsp;&amp; warm</p><script>x()</script>", "Nice & warm", "html"),
        ("Ｓｉｚｅ　Ｍ　１２３", "Size M 123", "width"),
        ("ﬁne", "fine", "normalized"),
        ("a\x00b\x07c", "abc", "control"),
        ("  many   spaces\n\there ", "many spaces here", "whitespace"),
    ],
)
def test_each_repair_sets_its_flag(raw, want, flag):
    r = clean_text(raw)
    assert r.text == want
    assert flag in r.flags


def test_cjk_text_survives_and_fullwidth_punctuation_next_to_cjk_is_kept():
    raw = "你好，世界！「テスト」。한국어 ひらがな ＡＢＣ－１２３"
    r = clean_text(raw)
    assert r.text == "你好，世界！「テスト」。한국어 ひらがな ABC-123"
    assert "width" in r.flags


def test_halfwidth_katakana_is_widened_and_voiced_marks_combine():
    r = clean_text("ｶﾞｲﾄﾞ｡")
    assert r.text == "ガイド。"
    assert r.flags == ["width"]


def test_no_width_folding_keeps_fullwidth_but_still_composes():
    r = clean_text("Ｓｉｚｅ e\u0301", fold_width=False)
    assert r.text == "Ｓｉｚｅ é"
    assert r.flags == ["normalized"]


def test_emoji_and_zwj_sequences_are_kept():
    raw = "Love it 😀👍🏽 👨\u200d👩\u200d👧"
    assert clean_text(raw).text == raw


def test_urls_removed_only_when_asked():
    raw = "see https://shop.example.com/p?id=1. and www.example.org"
    assert "https://" in clean_text(raw).text
    r = clean_text(raw, remove_urls=True)
    assert "http" not in r.text and "www." not in r.text
    assert r.text == "see . and"
    assert "url" in r.flags


def test_not_html_is_left_alone():
    assert clean_text("a < b > c, 3 <4").text == "a < b > c, 3 <4"
    assert clean_text("<b>x</b>", strip_html=False).text == "<b>x</b>"


def test_bytes_and_binary_junk_do_not_raise():
    r = clean_text(b"ok \xff\xfe bytes")
    assert r.text.startswith("ok") and "control" in r.flags
    junk = os.urandom(20000).decode("latin-1")
    r = clean_text(junk)
    assert isinstance(r.text, str)
    assert "\x00" not in r.text
    assert all(unicodedata.category(ch) != "Cc" for ch in r.text)


def test_empty_and_whitespace_only():
    assert clean_text("").text == ""
    r = clean_text(" \t\n ")
    assert r.text == "" and r.flags == ["whitespace"]


def test_one_megabyte_text():
    raw = ("Great product 很好 <b>bold</b> cafÃ© ") * 30000
    r = clean_text(raw)
    assert len(r.text) > 500_000
    assert "<b>" not in r.text and "café" in r.text
    assert set(r.flags) >= {"mojibake", "html", "whitespace"}


def test_wrong_type_raises_clear_error():
    with pytest.raises(TypeError, match="str or bytes"):
        clean_text(123)  # type: ignore[arg-type]


def test_clean_batch_keeps_order():
    out = clean_batch(["a  b", "Ｘ", ""])
    assert [r.text for r in out] == ["a b", "X", ""]
