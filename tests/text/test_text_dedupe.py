from __future__ import annotations

import random

import pytest

from babelcart.text.dedupe import Deduplicator, find_duplicates, normalize_for_hash, shingles


def test_exact_duplicates_after_normalization():
    r = find_duplicates(["Great shoes, fast delivery!", "great shoes   fast DELIVERY", "Bad quality"])
    assert r.keep == [True, False, True]
    assert r.duplicate_of == [None, 0, None]
    assert r.similarity == [None, 1.0, None]
    assert r.clusters == [[0, 1]]


def test_cjk_shingles_are_character_ngrams():
    sh = shingles("质量很好 good shoes")
    assert {"质量很", "量很好", "good shoes"} <= sh
    assert all(" " not in s for s in sh if all("\u4e00" <= c <= "\u9fff" for c in s))


def test_near_duplicates_in_chinese_and_english():
    texts = [
        "这件衣服质量很好，物流也很快，非常满意，下次还会再来购买",
        "这个手机屏幕太差了，完全不值这个价格",
        "这件衣服质量很好，物流也很快，非常满意，下次还会再来",
        "The dress fits perfectly and the fabric is soft and warm, I love the color and will buy again",
        "The dress fits perfectly and the fabric is soft and warm, I love the colour and will buy again",
    ]
    r = find_duplicates(texts, threshold=0.7)
    assert r.duplicate_of == [None, None, 0, None, 3]
    assert r.similarity[2] is not None and 0.7 <= r.similarity[2] < 1.0
    assert r.cluster == [0, 1, 0, 3, 3]


def test_unrelated_texts_are_kept():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    texts = [" ".join(rng.choices(words, k=12)) for _ in range(300)]
    r = find_duplicates(texts)
    assert all(r.keep)
    assert r.clusters == []


def test_incremental_matches_batch_and_keeps_first():
    texts = ["red cotton shirt size M", "red cotton shirt size L", "blue jeans", "red cotton shirt size M"]
    d = Deduplicator(threshold=0.5)
    got = [d.add(t)[0] for t in texts]
    assert got == find_duplicates(texts, threshold=0.5).duplicate_of == [None, 0, None, 0]


def test_empty_and_punctuation_only_texts():
    r = find_duplicates(["", "!!!", "", "ok"])
    assert r.keep == [True, False, False, True]  # "" and "!!!" normalize to the same empty key
    assert normalize_for_hash("  A, b!! ") == "a b"


def test_bad_threshold():
    with pytest.raises(ValueError):
        find_duplicates(["a"], threshold=0)
