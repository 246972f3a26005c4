"""The stratified hold-out split that auto scores candidates on and a fine-tune calibrates on."""

from __future__ import annotations

from babelcart.learn.data import split_holdout


def test_holdout_is_stratified_and_source_only() -> None:
    recs = [{"label": c, "text": "t"} for c in ["a"] * 50 + ["b"] * 10] + [{"label": "a", "text": "t"}] * 5
    langs = ["en"] * 60 + ["xx"] * 5
    train, held = split_holdout(recs, "label", langs, "en", seed=0, fraction=0.2, max_rows=1000)
    assert sorted(train + held) == list(range(65))
    assert [recs[i]["label"] for i in held].count("a") == 10 and [recs[i]["label"] for i in held].count("b") == 2
    assert all(langs[i] == "en" for i in held)


def test_holdout_respects_the_row_cap_and_keeps_a_row_per_class() -> None:
    recs = [{"label": c} for c in ["a"] * 100 + ["b"] * 100 + ["c"]]
    langs = ["en"] * len(recs)
    _, held = split_holdout(recs, "label", langs, "en", seed=1, fraction=0.5, max_rows=20)
    assert len(held) == 20
    assert 200 not in held  # the single "c" row stays in training
    assert split_holdout(recs, "label", langs, "en", seed=1, fraction=0.5, max_rows=20)[1] == held  # seeded
