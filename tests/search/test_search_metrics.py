"""Ranking metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from babelcart.apps.search_metrics import evaluate, mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_hand_computed() -> None:
    # relevant b (grade 1) at rank 2, c (grade 2) at rank 3; ideal: c then b
    got = ndcg_at_k(["a", "b", "c"], {"b": 1, "c": 2}, 10)
    dcg = 1 / math.log2(3) + 3 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert got == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["c", "b"], {"b": 1, "c": 2}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "b", "c"], {"c": 1}, 2) == 0.0
    assert ndcg_at_k(["a"], {}, 10) == 0.0


def test_ndcg_counts_a_repeated_doc_once() -> None:
    assert ndcg_at_k(["b", "b"], {"b": 1, "c": 1}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_mrr_and_recall() -> None:
    assert mrr_at_k(["a", "b", "c"], {"c": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "b", "c"], {"c": 1}, 2) == 0.0
    assert recall_at_k(["a", "b", "c"], {"a": 1, "c": 1, "d": 1}, 1) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "c"], {"a": 1, "c": 1, "d": 1}, 10) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


def test_evaluate_overall_and_per_language() -> None:
    run = {"q1": ["x", "y"], "q2": ["z"], "q3": ["w"]}
    qrels = {"q1": {"y": 1}, "q2": {"z": 1}, "q3": {"w": 0}, "q4": {"v": 1}}
    rep = evaluate(run, qrels, query_langs={"q1": "de", "q2": "zh", "q4": "de"})
    assert rep["skipped"] == 1  # q3 has no relevant document
    overall = rep["overall"]
    assert overall["queries"] == 3
    assert overall["MRR@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)  # q4 missing from the run scores 0
    assert rep["by_lang"]["de"]["R@1"] == 0.0
    assert rep["by_lang"]["zh"]["R@1"] == 1.0
    assert rep["by_lang"]["de"]["queries"] == 2
