from __future__ import annotations

import json

import pytest

from babelcart.text.subword import load_tokenizer, sampling_probs, train_tokenizer


@pytest.fixture(scope="module")
def corpus(read_sample):
    """Real reviews bundled in tests/data: 300 English, 150 Chinese and 40 Indonesian (the small language)."""
    rows = read_sample("reviews_en_zh_id.jsonl")
    return [r["text"] for r in rows], [r["lang"] for r in rows]


def test_sampling_probs_temperature():
    p1 = sampling_probs({"en": 900, "id": 100}, 1.0)
    assert p1["en"] == pytest.approx(0.9)
    p_inf = sampling_probs({"en": 900, "id": 100}, 1000.0)
    assert p_inf["id"] == pytest.approx(0.5, abs=0.01)
    assert sampling_probs({"en": 900, "id": 100}, 3.0)["id"] > p1["id"]
    with pytest.raises(ValueError):
        sampling_probs({"en": 1}, 0)


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_train_report_save_load(corpus, tmp_path, model):
    texts, langs = corpus
    tok = train_tokenizer(texts, langs, vocab_size=2500, model=model, temperature=3.0)
    fert = tok.config["fertility"]
    assert set(fert) == {"en", "id", "zh"}
    assert fert["zh"]["unit"] == "char" and fert["en"]["unit"] == "word"
    assert 1.0 <= fert["en"]["fertility"] < 5
    assert 0.3 <= fert["zh"]["fertility"] <= 1.5
    langs_cfg = tok.config["languages"]
    assert langs_cfg["id"]["p"] > langs_cfg["id"]["texts"] / len(texts)  # small language up-weighted
    out = tok.save(tmp_path / "tok")
    assert sorted(p.name for p in out.iterdir()) == ["babelcart_tokenizer.json", "tokenizer.json"]
    again = load_tokenizer(out)
    sample = "质量很好 great dress bagus"
    assert again.encode(sample) == tok.encode(sample)
    assert again.decode(again.encode_ids("great dress")).strip() == "great dress"


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_tokenizer(tmp_path / "nope")
    (tmp_path / "t").mkdir()
    with pytest.raises(FileNotFoundError, match="tokenizer.json is missing"):
        load_tokenizer(tmp_path / "t")
    (tmp_path / "t" / "tokenizer.json").write_text("{}")
    (tmp_path / "t" / "babelcart_tokenizer.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format version"):
        load_tokenizer(tmp_path / "t")


def test_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        train_tokenizer(["a"], vocab_size=100, model="wordpiece")
    with pytest.raises(ValueError, match="no non-empty"):
        train_tokenizer(["", "  "], vocab_size=100)
    with pytest.raises(ValueError, match="vocab"):
        train_tokenizer(["".join(chr(0x4E00 + i) for i in range(300))] * 5, vocab_size=50, model="unigram")
    with pytest.raises(ValueError, match="languages"):
        train_tokenizer(["a", "b"], ["en"], vocab_size=100)


def test_load_recovers_a_save_killed_between_its_renames(tmp_path):
    tok = train_tokenizer(["ein kleiner Test", "a small test", "un petit test"] * 20, vocab_size=120)
    tok.save(tmp_path / "stage")
    (tmp_path / "stage").rename(tmp_path / ".tok.old-99999999")  # the old copy beside a missing target
    again = load_tokenizer(tmp_path / "tok")
    assert again.encode("a small test") == tok.encode("a small test")
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]
