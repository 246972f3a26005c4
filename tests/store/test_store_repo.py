"""Store: upserts, deletes, queries, alerts, model registry, migrations — on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from babelcart.store import SCHEMA_VERSION, Store
from babelcart.store.repo import MIGRATIONS
from babelcart.store.schema import Base

PG_URL = os.environ.get("BABELCART_TEST_PG_URL")


def _pg_store(request: pytest.FixtureRequest) -> Store:
    """A clean store on BABELCART_TEST_PG_URL when set (scripts/start_postgres.sh), else on the session's
    embedded PostgreSQL (the ``pg_url`` fixture)."""
    url = PG_URL or request.getfixturevalue("pg_url")
    try:
        store = Store(url)
    except Exception as exc:  # noqa: BLE001 - unreachable server → skip with the reason
        pytest.skip(f"PostgreSQL at BABELCART_TEST_PG_URL unreachable: {type(exc).__name__}: {exc}")
    with store.engine.begin() as conn:  # a clean database for every test
        Base.metadata.drop_all(conn)
    store.close()
    return Store(url)


def _get(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return row


@pytest.fixture(params=["sqlite-memory", "sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite-memory":
        s = Store("sqlite://")
    elif request.param == "sqlite-file":
        s = Store(str(tmp_path / "bc.db"))
    else:
        s = _pg_store(request)
    yield s
    s.close()


T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_fresh_database_is_migrated(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"products", "reviews", "events", "models", "alerts", "schema_version"} <= set(store.table_names())


def test_product_upsert_is_idempotent_and_detects_changes(store: Store) -> None:
    recs: list[dict[str, Any]] = [{"id": "p1", "title": "Red dress", "price": 30.0, "category": "dress", "attrs": {"size": "M"}},
            {"id": "p2", "title": "连衣裙", "lang": "zh"}]
    assert store.upsert_products(recs).as_dict() == {"inserted": 2, "updated": 0, "unchanged": 0}
    first = _get(store.get_product("p1"))
    assert first is not None and first["attrs"] == {"size": "M"} and first["price"] == 30.0
    again = store.upsert_products(recs)
    assert again.as_dict() == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert _get(store.get_product("p1"))["updated_at"] == first["updated_at"]  # unchanged row not rewritten
    res = store.upsert_products([{"id": "p1", "title": "Red dress", "price": 25.0, "category": "dress"}])
    assert res.updated == ["p1"]
    assert _get(store.get_product("p1"))["price"] == 25.0
    assert _get(store.get_product("p2"))["title"] == "连衣裙"
    assert store.counts()["products"] == 2


def test_duplicate_ids_in_one_call_last_wins(store: Store) -> None:
    res = store.upsert_products([{"id": "p1", "title": "old"}, {"id": "p1", "title": "new"}])
    assert res.inserted == ["p1"]
    assert _get(store.get_product("p1"))["title"] == "new"


@pytest.mark.parametrize("bad", [{"id": "x"}, {"id": "x", "title": "  "}, {"id": "x", "title": "t", "price": -1},
                                 {"title": "no id"}])
def test_bad_products_raise_clear_errors(store: Store, bad: dict) -> None:
    with pytest.raises(ValueError):
        store.upsert_products([bad])
    assert store.counts()["products"] == 0


def test_get_list_delete_products_and_index_bookkeeping(store: Store) -> None:
    store.upsert_products([{"id": f"p{i}", "title": f"item {i}", "category": "a" if i % 2 else "b"}
                           for i in range(5)])
    assert [p["id"] for p in store.get_products(["p3", "nope", "p1"])] == ["p3", "p1"]
    assert [p["id"] for p in store.list_products(category="a")] == ["p1", "p3"]
    assert len(store.products_to_index()) == 5
    store.mark_indexed(["p0", "p1"])
    assert {p["id"] for p in store.products_to_index()} == {"p2", "p3", "p4"}
    store.upsert_products([{"id": "p1", "title": "item 1 changed", "category": "a"}])
    assert "p1" in {p["id"] for p in store.products_to_index()}
    assert store.delete_products(["p0", "p1", "missing"]) == 2
    assert store.product_ids() == {"p2", "p3", "p4"}
    assert store.get_product("p0") is None


def test_reviews_upsert_query_delete(store: Store) -> None:
    store.upsert_products([{"id": "p1", "title": "t"}])
    recs = [{"id": f"r{i}", "product_id": "p1", "text": f"review {i}", "rating": 1 + i % 5,
             "ts": (T0 + timedelta(days=i)).isoformat(), "lang": "en"} for i in range(4)]
    assert len(store.upsert_reviews(recs).inserted) == 4
    assert store.upsert_reviews(recs).as_dict()["unchanged"] == 4
    got = store.list_reviews(product_id="p1", since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))
    assert [r["id"] for r in got] == ["r1", "r2"]
    assert got[0]["ts"] == T0 + timedelta(days=1)
    with pytest.raises(ValueError, match="rating"):
        store.upsert_reviews([{"id": "rb", "text": "x", "rating": 2.5}])
    with pytest.raises(ValueError, match="timestamp"):
        store.upsert_reviews([{"id": "rb", "text": "x", "ts": "yesterday"}])
    assert store.delete_products(["p1"], with_reviews=True) == 1
    assert store.counts()["reviews"] == 0


def test_events_dedupe_validate_and_query(store: Store) -> None:
    evs: list[dict[str, Any]] = [{"user_id": "u1", "item_id": "p1", "type": "view", "ts": "2025-03-01T12:00:00Z"},
           {"user_id": "u1", "item_id": "p2", "type": "purchase", "ts": "2025-03-01T12:05:00+00:00"},
           {"user_id": "u2", "item_id": "p1", "type": "click", "ts": T0 + timedelta(hours=1)}]
    assert store.add_events(evs) == 3
    assert store.add_events(evs + evs) == 0  # same events again: nothing new
    assert store.user_ids() == {"u1", "u2"}
    u1 = store.list_events(user_id="u1")
    assert [e["item_id"] for e in u1] == ["p1", "p2"] and u1[0]["ts"] == T0
    assert [e["user_id"] for e in store.list_events(item_id="p1")] == ["u1", "u2"]
    assert len(store.list_events(types=["purchase"])) == 1
    with pytest.raises(ValueError, match="event type"):
        store.add_events([{"user_id": "u", "item_id": "p", "type": "like", "ts": T0}])
    with pytest.raises(ValueError, match="ts"):
        store.add_events([{"user_id": "u", "item_id": "p", "type": "view"}])
    assert store.delete_events(user_id="u1") == 2
    with pytest.raises(ValueError):
        store.delete_events()
    assert store.counts()["events"] == 1


def test_alerts_queue(store: Store) -> None:
    a = store.add_alert({"lang": "de", "product_id": "p1"}, {"metric": "neg_rate", "value": 0.4}, ts=T0)
    b = store.add_alert({"lang": "en"}, {"metric": "neg_rate", "value": 0.3})
    assert [x["id"] for x in store.list_alerts(delivered=False)] == [a, b]
    assert store.mark_delivered(a, delivered=False)  # a failed attempt
    assert _get(store.get_alert(a))["attempts"] == 1 and not _get(store.get_alert(a))["delivered"]
    assert store.mark_delivered(a)
    got = _get(store.get_alert(a))
    assert got["delivered"] and got["attempts"] == 2 and got["scope"] == {"lang": "de", "product_id": "p1"}
    assert [x["id"] for x in store.list_alerts(delivered=False)] == [b]
    assert not store.mark_delivered(999)


def test_model_registry(store: Store) -> None:
    store.register_model("sent-v1", "/m/1", "sentiment", metrics={"f1": 0.8},
                         created_at=T0)
    store.register_model("sent-v2", "/m/2", "sentiment", metrics={"f1": 0.85})
    store.register_model("cat", "/m/c", "category")
    assert [m["name"] for m in store.list_models("sentiment")] == ["sent-v2", "sent-v1"]
    store.register_model("sent-v1", "/m/1b", "sentiment", metrics={"f1": 0.9}, created_at=T0)
    assert _get(store.get_model("sent-v1"))["path"] == "/m/1b" and _get(store.get_model("sent-v1"))["metrics"] == {"f1": 0.9}
    assert store.delete_model("cat") and store.get_model("cat") is None


def test_reopen_keeps_data_and_version(tmp_path) -> None:
    path = str(tmp_path / "re.db")
    with Store(path) as s:
        s.upsert_products([{"id": "p", "title": "t"}])
    with Store(f"sqlite:///{path}") as s:
        assert s.schema_version == SCHEMA_VERSION and s.product_ids() == {"p"}


def test_newer_database_is_refused(tmp_path) -> None:
    path = str(tmp_path / "new.db")
    with Store(path) as s, s.engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    with pytest.raises(RuntimeError, match="newer"):
        Store(path)
