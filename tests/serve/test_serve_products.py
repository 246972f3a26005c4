"""/v1/products on the folder backend (write scope, per-product errors, atomic folder, rollback on a failed
save) and /v1/search over a folder of shards (read-only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from babelcart.apps.search import SearchIndex
from babelcart.apps.search import documents as search_documents
from babelcart.apps.search.analyzers import guess_script_lang
from shard_folders import write_shards

CATALOG: list[dict[str, Any]] = [
    {"id": "p1", "title": "Running shoes", "category": "shoes", "price": 80.0, "lang": "en"},
    {"id": "p2", "title": "Leather wallet", "category": "accessories", "lang": "en"},
    {"id": "p3", "title": "Kaffeebecher aus Keramik", "category": "kitchen", "price": 12.5, "lang": "de"},
]


@pytest.fixture(autouse=True)
def _script_lang_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_documents, "detect_langs",
                        lambda texts, **_: [guess_script_lang(t) or "en" for t in texts])


@pytest.fixture()
def folder(tmp_path: Path, hash_encoder) -> Path:  # type: ignore[no-untyped-def]
    SearchIndex.build(CATALOG, encoder=hash_encoder).save(tmp_path / "idx")
    return tmp_path / "idx"


def _ids(client: Any, key: str, query: str) -> list[str]:
    r = client.post("/v1/search", json={"query": query, "mode": "bm25"}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def test_products_are_added_replaced_and_deleted(make_client, keys, folder: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(index_dir=str(folder))
    body = {"products": [{"id": "p9", "title": "Trail sneakers", "lang": "en"}, {"id": "bad"}, "not an object",
                         {"id": "p2", "title": "Leather wallet, black", "lang": "en"}]}
    assert client.post("/v1/products", json=body, headers={"X-API-Key": keys["read"]}).status_code == 403
    r = client.post("/v1/products", json=body, headers={"X-API-Key": keys["write"]})
    assert r.status_code == 422  # the body schema: products must be objects
    body["products"].remove("not an object")
    r = client.post("/v1/products", json=body, headers={"X-API-Key": keys["write"]})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 2 and r.json()["replaced"] == 1
    assert [(e["index"], e["id"]) for e in r.json()["errors"]] == [(1, "bad")]
    assert _ids(client, keys["read"], "sneakers") == ["p9"]
    on_disk = SearchIndex.load(folder)  # the folder was rewritten with the change
    assert on_disk.live_ids() == {"p1", "p2", "p3", "p9"}  # type: ignore[attr-defined]
    assert json.loads((folder / "docs.json").read_text())["titles"][-1] == "Leather wallet, black"
    r = client.request("DELETE", "/v1/products", json={"ids": ["p9", "zz"]}, headers={"X-API-Key": keys["write"]})
    assert r.json() == {"deleted": ["p9"], "missing": ["zz"]}
    r = client.delete("/v1/products/p1", headers={"X-API-Key": keys["write"]})
    assert r.json() == {"deleted": ["p1"], "missing": []}
    assert _ids(client, keys["read"], "sneakers shoes") == []
    assert SearchIndex.load(folder).live_ids() == {"p2", "p3"}  # type: ignore[attr-defined]


def test_a_failed_save_leaves_memory_and_folder_as_they_were(make_client, keys, folder: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from babelcart.apps.search import vector_index

    client = make_client(index_dir=str(folder), raise_server_exceptions=False)
    assert _ids(client, keys["read"], "wallet") == ["p2"]

    def boom(self: Any, path: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vector_index.VectorIndex, "save", boom)
    r = client.post("/v1/products", json={"products": [{"id": "p9", "title": "Trail sneakers"}]},
                    headers={"X-API-Key": keys["write"]})
    assert r.status_code == 500
    monkeypatch.undo()
    assert _ids(client, keys["read"], "sneakers") == []  # not in memory either
    assert SearchIndex.load(folder).live_ids() == {"p1", "p2", "p3"}  # type: ignore[attr-defined]


def test_too_many_products_is_413(make_client, keys, folder: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(index_dir=str(folder))
    r = client.post("/v1/products", json={"products": [{"id": str(i), "title": "x"} for i in range(9)]},
                    headers={"X-API-Key": keys["write"]})
    assert r.status_code == 413


def test_service_searches_shards_and_refuses_writes(make_client, keys, tmp_path: Path, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    sharded = tmp_path / "cat"
    write_shards(sharded, [{"id": f"p{i}", "title": f"model {i}", "lang": "en"} for i in range(30)], 3, hash_encoder)
    client = make_client(index_dir=str(sharded))
    r = client.post("/v1/search", json={"query": "model 21", "mode": "bm25", "k": 1},
                    headers={"X-API-Key": keys["read"]})
    assert r.status_code == 200 and r.json()["results"][0]["id"] == "p21"
    r = client.post("/v1/products", json={"products": [{"id": "x", "title": "y"}]},
                    headers={"X-API-Key": keys["write"]})
    assert r.status_code == 409 and "read-only" in r.json()["detail"]
