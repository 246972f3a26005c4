"""A catalog indexed by the distributed job (``index_catalog``: shard folders + shards.json) is searched as one
index, with no hand-picked shard: ``SearchIndex.load``, ``babelcart search`` and the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CATALOG = [{"id": f"p{i}", "title": f"{w} model {i}", "lang": "en"}
           for i, w in enumerate(["Wireless earbuds", "Running shoes", "Leather handbag", "Ceramic mug",
                                  "Desk lamp", "Rain jacket", "Steel bottle", "Office chair"] * 3)]


def test_the_sharded_catalog_answers_as_one(local_ray: str, tmp_path: Path) -> None:
    from babelcart.apps.search import SearchIndex
    from babelcart.apps.search.sharded import ShardedSearchIndex
    from babelcart.cli import app
    from babelcart.scale import ray_jobs

    src = tmp_path / "catalog.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in CATALOG) + "\n", encoding="utf-8")
    manifest = ray_jobs.index_catalog([src], tmp_path / "idx", encoder="hash:64", num_shards=3)
    assert manifest["num_shards"] == 3 and manifest["products"] == len(CATALOG)
    ix = SearchIndex.load(tmp_path / "idx")
    assert isinstance(ix, ShardedSearchIndex) and len(ix) == len(CATALOG)
    assert ix.search("model 13", mode="bm25", k=1)[0]["id"] == "p13"
    res = CliRunner().invoke(app, ["search", str(tmp_path / "idx"), "model 21", "--mode", "bm25", "-k", "1"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in reversed(res.output.splitlines()) if ln.startswith("{"))
    assert json.loads(line)["results"][0]["id"] == "p21"

    from fastapi.testclient import TestClient

    from babelcart.config import load_settings
    from babelcart.serve.app import create_app

    settings = load_settings(None, index_dir=tmp_path / "idx", auth_enabled=False, encoder="hash:64",
                             keys_file=tmp_path / "keys.json", models_dir=tmp_path / "models")
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/search", json={"query": "model 5", "mode": "bm25", "k": 1})
        assert r.status_code == 200 and r.json()["results"][0]["id"] == "p5"
