"""hf: encoder on tiny models built in code: shapes, normalization, prefixes, truncation, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.encoders.hf import parse_spec_arg, resolve_prefixes  # noqa: E402

pytestmark = pytest.mark.torch

TEXTS = ["great product, fast shipping", "质量很好，物流很快", "produk bagus", ""]


@pytest.fixture(scope="module")
def bert_enc(tiny_bert: Path) -> Any:
    return get_encoder(f"hf:{tiny_bert}")


def test_shapes_and_unit_norm(bert_enc) -> None:
    vecs = bert_enc.encode(TEXTS, role="passage")
    assert vecs.shape == (4, 32) and vecs.dtype == np.float32
    assert bert_enc.dim == 32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(v, 5)) for v in vecs}) == 4  # different texts, different vectors


def test_matches_manual_mean_pooling(tiny_bert: Path, bert_enc) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModel.from_pretrained(tiny_bert).eval()
    batch = tok(TEXTS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    want = (hidden * mask).sum(1) / mask.sum(1)
    want = torch.nn.functional.normalize(want, dim=-1).numpy()
    np.testing.assert_allclose(bert_enc.encode(TEXTS[:2]), want, atol=1e-5)


def test_batching_does_not_change_vectors(bert_enc) -> None:
    one_by_one = np.vstack([bert_enc.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(bert_enc.encode(TEXTS, batch_size=3), one_by_one, atol=1e-5)


def test_prefixes(tiny_bert: Path, bert_enc) -> None:
    assert (bert_enc.query_prefix, bert_enc.passage_prefix) == ("", "")  # auto: not an e5 name
    np.testing.assert_allclose(bert_enc.encode(TEXTS, role="query"), bert_enc.encode(TEXTS, role="passage"))
    e5: Any = get_encoder(f"hf:{tiny_bert}?prefix=e5")
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    q, p = e5.encode(TEXTS, role="query"), e5.encode(TEXTS, role="passage")
    assert not np.allclose(q, p)
    # the prefix is really prepended: e5 query == plain encoder on "query: " + text
    np.testing.assert_allclose(q, bert_enc.encode(["query: " + t for t in TEXTS]), atol=1e-5)
    custom = get_encoder(f"hf:{tiny_bert}", query_prefix="search: ")
    np.testing.assert_allclose(custom.encode(TEXTS[:1], role="query"), bert_enc.encode(["search: " + TEXTS[0]]),
                               atol=1e-5)
    assert resolve_prefixes("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert resolve_prefixes("/models/my-e5-small/", "none") == ("", "")


def test_long_texts_are_truncated_and_windowed(bert_enc, tiny_xlmr: Path) -> None:
    # tiny BERT has 128 positions: longer inputs must be cut, never crash
    assert bert_enc.max_length == 128
    long_words = "great product fast shipping " * 600
    long_cjk = "质量很好物流很快" * 400
    vecs = bert_enc.encode([long_words, long_cjk, "short"])
    assert vecs.shape == (3, 32) and np.isfinite(vecs).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    xlmr: Any = get_encoder(f"hf:{tiny_xlmr}?max_length=64")
    assert xlmr.max_length == 64
    out = xlmr.encode([long_words, long_cjk])
    assert out.shape == (2, 32) and np.isfinite(out).all()


def test_spec_options_and_errors(tiny_bert: Path, tmp_path: Path) -> None:
    assert parse_spec_arg("org/model?prefix=e5&max_length=64") == ("org/model", {"prefix": "e5", "max_length": "64"})
    with pytest.raises(ValueError, match="unknown hf: option"):
        get_encoder(f"hf:{tiny_bert}?pooling=cls")
    with pytest.raises(ValueError, match="prefix must be"):
        get_encoder(f"hf:{tiny_bert}?prefix=bge")
    with pytest.raises(ValueError, match="max_length"):
        get_encoder(f"hf:{tiny_bert}?max_length=abc")
    with pytest.raises(ValueError, match="needs a model"):
        get_encoder("hf:")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_encoder(f"hf:{tmp_path / 'missing'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="local folder without config.json"):
        get_encoder(f"hf:{empty}")


def test_encode_rejects_a_single_string(bert_enc) -> None:
    with pytest.raises(TypeError):
        bert_enc.encode("one string")


def test_cache_roundtrip(tiny_bert: Path, tmp_path: Path) -> None:
    enc = get_encoder(f"hf:{tiny_bert}", cache_dir=tmp_path / "cache")
    first = enc.encode(TEXTS)
    np.testing.assert_allclose(enc.encode(TEXTS), first)
