"""st: encoder on a tiny sentence-transformers model built in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from tiny_models import build_tiny_sentence_transformer  # noqa: E402

from babelcart.encoders import get_encoder  # noqa: E402

pytestmark = pytest.mark.torch

TEXTS = ["great product", "质量很好", "kualitas buruk"]


@pytest.fixture(scope="module")
def st_paths(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("st")
    plain = build_tiny_sentence_transformer(root / "plain", base=tiny_bert)
    prompted = build_tiny_sentence_transformer(root / "prompted", base=tiny_bert,
                                               prompts={"query": "query: ", "passage": "passage: "})
    return plain, prompted


def test_st_matches_hf_mean_pooling(st_paths: tuple[Path, Path], tiny_bert: Path) -> None:
    st = get_encoder(f"st:{st_paths[0]}")
    hf = get_encoder(f"hf:{tiny_bert}")
    assert st.dim == 32
    a = st.encode(TEXTS, role="query")
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # same weights, same pooling: same vectors as the hf: encoder
    np.testing.assert_allclose(a, hf.encode(TEXTS), atol=1e-4)
    np.testing.assert_allclose(a, st.encode(TEXTS, role="passage"), atol=1e-6)  # no prompts defined


def test_st_prompts_by_role(st_paths: tuple[Path, Path], tiny_bert: Path) -> None:
    st: Any = get_encoder(f"st:{st_paths[1]}")
    assert st.query_prompt == "query: " and st.passage_prompt == "passage: "
    hf = get_encoder(f"hf:{tiny_bert}?prefix=e5")
    np.testing.assert_allclose(st.encode(TEXTS, role="query"), hf.encode(TEXTS, role="query"), atol=1e-4)
    np.testing.assert_allclose(st.encode(TEXTS, role="passage"), hf.encode(TEXTS, role="passage"), atol=1e-4)


def test_st_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        get_encoder(f"st:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="unknown st: option"):
        get_encoder(f"st:{tmp_path}?prefix=e5")
