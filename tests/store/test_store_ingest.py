"""Ingestion: per-line errors, re-ingest skips unchanged, deletes/prune, PII masking, dup flags, index sync."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from babelcart.ingest import (
    IngestReport,
    TextPipeline,
    exact_duplicates,
    ingest_events,
    ingest_products,
    ingest_reviews,
)
from babelcart.store import Store


def _fake_pipeline(calls: list[str]) -> TextPipeline:
    """Deterministic, instant stand-ins for babelcart.text (the real ones are tested in one slow test)."""

    def clean(t: str) -> str:
        calls.append(t)
        return re.sub(r"<[^>]+>", "", t).strip()

    def detect(texts: list[str]) -> list[str | None]:
        return ["zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en" for t in texts]

    def mask(t: str) -> str:
        return re.sub(r"\S+@\S+", "<EMAIL>", t)

    return TextPipeline(clean=clean, detect=detect, mask=mask, duplicates=exact_duplicates)


def _get(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return row


@pytest.fixture()
def store() -> Iterator[Store]:
    s = Store("sqlite://")
    yield s
    s.close()


PRODUCTS: list[dict[str, Any]] = [
    {"id": "p1", "title": "<b>Red dress</b>", "category": "dress", "price": 30, "color": "red"},
    {"id": "p2", "title": "蓝牙耳机", "price": "19.5"},
    {"id": "p3", "title": "  "},
    {"id": "p4", "title": "Socks", "price": "cheap"},
    {"_line": 5, "error": "line 5 is not valid JSON"},
    {"title": "no id"},
    {"id": "p7", "title": "Hat", "price": -2},
]


def _status(report: IngestReport) -> list[str]:
    return [r["status"] for r in report.results]


def test_products_per_line_results_and_cleaning(store: Store) -> None:
    calls: list[str] = []
    rep = ingest_products(PRODUCTS, store, pipeline=_fake_pipeline(calls))
    assert _status(rep) == ["inserted", "inserted", "error", "error", "error", "error", "error"]
    assert [r["line"] for r in rep.results] == [1, 2, 3, 4, 5, 6, 7]
    assert rep.counts()["inserted"] == 2 and rep.errors == 5
    p1 = _get(store.get_product("p1"))
    assert p1["title"] == "Red dress" and p1["lang"] == "en" and p1["attrs"] == {"color": "red"}
    assert _get(store.get_product("p2"))["lang"] == "zh" and _get(store.get_product("p2"))["price"] == 19.5
    assert store.product_ids() == {"p1", "p2"}


def test_reingest_processes_only_what_changed(store: Store) -> None:
    calls: list[str] = []
    pipe = _fake_pipeline(calls)
    ingest_products(PRODUCTS[:2], store, pipeline=pipe)
    calls.clear()
    rep = ingest_products(PRODUCTS[:2], store, pipeline=pipe)
    assert _status(rep) == ["unchanged", "unchanged"] and calls == []  # nothing re-cleaned
    changed = [{**PRODUCTS[0], "price": 25}, PRODUCTS[1], {"id": "p9", "title": "New"}]
    rep = ingest_products(changed, store, pipeline=pipe)
    assert _status(rep) == ["updated", "unchanged", "inserted"]
    assert calls == ["<b>Red dress</b>", "New"]
    assert _get(store.get_product("p1"))["price"] == 25


def test_duplicate_ids_deletes_and_prune(store: Store) -> None:
    pipe = _fake_pipeline([])
    rep = ingest_products([{"id": "a", "title": "old"}, {"id": "b", "title": "B"}, {"id": "a", "title": "new"}],
                          store, pipeline=pipe)
    assert _status(rep) == ["superseded", "inserted", "inserted"] and "line 3" in rep.results[0]["warning"]
    assert _get(store.get_product("a"))["title"] == "new"
    rep = ingest_products([{"id": "a", "deleted": True}, {"id": "zz", "deleted": True}], store, pipeline=pipe)
    assert _status(rep) == ["deleted", "deleted"] and "warning" in rep.results[1]
    assert store.product_ids() == {"b"}
    ingest_products([{"id": "c", "title": "C"}], store, pipeline=pipe)
    rep = ingest_products([{"id": "c", "title": "C"}], store, pipeline=pipe, prune=True)
    assert store.product_ids() == {"c"} and rep.counts()["deleted"] == 1


def test_reviews_mask_dedupe_warn_and_errors(store: Store) -> None:
    pipe = _fake_pipeline([])
    ingest_products([{"id": "p1", "title": "Dress"}], store, pipeline=pipe)
    reviews: list[dict[str, Any]] = [
        {"id": "r1", "product_id": "p1", "text": "Great! mail me: jane@example.com", "rating": 5,
         "ts": "2025-01-02T03:04:05Z"},
        {"id": "r2", "product_id": "p1", "text": "great!! mail me: bob@example.com", "rating": "4"},
        {"product_id": "p404", "text": "很好", "rating": 4},
        {"id": "r4", "text": "x", "rating": 6},
        {"id": "r5", "text": "x", "rating": 2.5},
        {"id": "r6", "text": ""},
        {"id": "r7", "text": "x", "ts": "not a time"},
    ]
    rep = ingest_reviews(reviews, store, pipeline=pipe)
    assert _status(rep) == ["inserted", "inserted", "inserted", "error", "error", "error", "error"]
    assert "unknown product_id" in rep.results[2]["warning"]
    r1 = _get(store.get_review("r1"))
    assert r1["text"] == "Great! mail me: <EMAIL>" and r1["rating"] == 5 and r1["lang"] == "en"
    assert _get(store.get_review("r2"))["dup_of"] == "r1" and r1["dup_of"] is None
    derived = rep.results[2]["id"]
    assert derived.startswith("r-") and _get(store.get_review(derived))["lang"] == "zh"
    again = ingest_reviews(reviews, store, pipeline=pipe)
    assert _status(again)[:3] == ["unchanged"] * 3  # stable derived id → idempotent


def test_events_validation_unknown_items_and_idempotence(store: Store) -> None:
    ingest_products([{"id": "p1", "title": "A"}, {"id": "p2", "title": "B"}], store, pipeline=_fake_pipeline([]))
    evs = [{"user_id": "u1", "item_id": "p1", "type": "view", "ts": "2025-01-01T00:00:00Z"},
           {"user_id": "u1", "item_id": "p2", "type": "purchase", "ts": "2025-01-01T00:01:00Z"},
           {"user_id": "u1", "item_id": "p2", "type": "purchase", "ts": "2025-01-01T00:01:00Z"},
           {"user_id": "u1", "item_id": "nope", "type": "view", "ts": "2025-01-01T00:00:00Z"},
           {"user_id": "u1", "item_id": "p1", "type": "like", "ts": "2025-01-01T00:00:00Z"},
           {"user_id": "u1", "item_id": "p1", "type": "view", "ts": "soon"},
           {"item_id": "p1", "type": "view", "ts": "2025-01-01T00:00:00Z"}]
    rep = ingest_events(evs, store)
    assert _status(rep) == ["inserted", "inserted", "duplicate", "error", "error", "error", "error"]
    assert "unknown item_id" in rep.results[3]["error"] and "event type" in rep.results[4]["error"]
    assert store.counts()["events"] == 2
    assert _status(ingest_events(evs[:2], store)) == ["duplicate", "duplicate"]
    assert store.counts()["events"] == 2


def test_index_sync_adds_changed_and_deletes_removed(store: Store, tmp_path) -> None:
    from babelcart.apps.search import SearchIndex

    pipe = _fake_pipeline([])
    idx = tmp_path / "idx"
    rep = ingest_products([{"id": "p1", "title": "red dress"}, {"id": "p2", "title": "blue shoes"}], store,
                          pipeline=pipe, index_dir=idx, encoder_spec="hash:64")
    assert rep.indexed == 2 and store.products_to_index() == []
    ix = SearchIndex.load(idx)
    assert set(ix.row_of_) == {"p1", "p2"}
    rep = ingest_products([{"id": "p1", "title": "red dress"}, {"id": "p2", "title": "green shoes"},
                           {"id": "p3", "title": "wool hat"}], store, pipeline=pipe, index_dir=idx,
                          encoder_spec="hash:64")
    assert rep.indexed == 2  # p2 changed, p3 new; p1 untouched
    rep = ingest_products([{"id": "p1", "deleted": True}], store, pipeline=pipe, index_dir=idx,
                          encoder_spec="hash:64")
    assert rep.index_deleted == 1
    ix = SearchIndex.load(idx)
    assert set(ix.row_of_) == {"p2", "p3"}
    assert ix.titles_[ix.row_of_["p2"]] == "green shoes"
    assert ix.search("green shoes", k=1, mode="dense", lang="en")[0]["id"] == "p2"


@pytest.mark.slow
def test_default_pipeline_end_to_end(store: Store) -> None:
    """The real babelcart.text steps: PII masked, language detected, near-duplicate flagged."""
    ingest_products([{"id": "p1", "title": "Robe d'été rouge en coton"}], store)
    assert _get(store.get_product("p1"))["lang"] == "fr"
    rep = ingest_reviews([
        {"id": "r1", "product_id": "p1", "text": "Sehr schönes Kleid, schreib mir an anna@example.de, danke!",
         "rating": 5},
        {"id": "r2", "product_id": "p1", "text": "Sehr schönes Kleid, schreib mir an anna@example.de, danke!!",
         "rating": 5}], store)
    assert rep.errors == 0
    r1 = _get(store.get_review("r1"))
    assert "anna@example.de" not in r1["text"] and r1["lang"] == "de"
    assert _get(store.get_review("r2"))["dup_of"] == "r1"
