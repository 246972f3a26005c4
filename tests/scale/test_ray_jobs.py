"""Ray Data jobs on a local one-CPU Ray: every line back in order, bad lines marked, same vectors as local."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ray")

from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.scale import ray_jobs  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    ray_jobs.init_ray(num_cpus=1)
    yield
    ray.shutdown()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_embed_catalog_keeps_order_and_errors(local_ray: None, tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [
        json.dumps({"id": "a", "text": "wireless earbuds"}),
        "{broken json",
        json.dumps({"id": "c", "title": "no text field"}),
        json.dumps({"id": "d", "text": "无线蓝牙耳机", "price": None, "tags": ["x", {"y": 1}]}),
        json.dumps({"id": "e", "text": "Handyhülle"}),
    ])
    dest = tmp_path / "out.jsonl"
    n, k = ray_jobs.embed_catalog(src, dest, encoder="hash:64", batch_size=2)  # type: ignore[misc]
    rows = [json.loads(x) for x in dest.read_text(encoding="utf-8").splitlines()]
    assert (n, k) == (5, 2) and len(rows) == 5
    assert [r.get("id") for r in rows] == ["a", None, "c", "d", "e"]
    assert "error" in rows[1] and "error" in rows[2] and "text" in rows[2]["error"]
    assert rows[3]["tags"] == ["x", {"y": 1}] and rows[3]["price"] is None  # record comes back as it went in
    local = get_encoder("hash:64").encode(["wireless earbuds", "无线蓝牙耳机", "Handyhülle"], role="passage")
    got = np.array([rows[i]["embedding"] for i in (0, 3, 4)], dtype=np.float32)
    np.testing.assert_allclose(got, local, atol=1e-5)
    assert rows[0]["encoder"] == "hash:64"


def test_classify_catalog_matches_local_predictions(local_ray: None, tmp_path: Path) -> None:
    from babelcart.apps.classify import load_classifier
    from babelcart.learn.train import train_model

    train = [{"text": t, "label": lab} for t, lab in [
        ("great product love it", "pos"), ("excellent quality very happy", "pos"), ("works perfectly", "pos"),
        ("terrible broke after a day", "neg"), ("awful waste of money", "neg"), ("bad quality do not buy", "neg"),
    ] * 3]
    model = train_model(train=train, out=tmp_path / "model", encoder="hash:256", task="classify", align="none")
    records: list[dict[str, Any]] = [{"id": 1, "text": "love it, great"}, {"id": 2}, {"id": 3, "text": "awful, broke"}]
    out, n, k = ray_jobs.classify_catalog(records, None, model_dir=model)  # type: ignore[misc]
    assert (n, k) == (3, 1)
    assert [r["id"] for r in out] == [1, 2, 3] and "error" in out[1]
    local = load_classifier(model).predict(["love it, great", "awful, broke"])
    assert [out[0]["pred"], out[2]["pred"]] == [p["pred"] for p in local]
    with pytest.raises(FileNotFoundError):
        ray_jobs.classify_catalog(records, None, model_dir=tmp_path / "missing")


def test_index_catalog_builds_loadable_shards(local_ray: None, tmp_path: Path) -> None:
    from babelcart.apps.search import SearchIndex

    products = [
        {"id": "p1", "title": "Wireless earbuds", "description": "bluetooth, charging case"},
        {"id": "p2", "title": "蓝牙耳机", "lang": "zh"},
        {"id": "p3", "title": "Rotes Kleid", "description": "Sommerkleid aus Baumwolle"},
        {"id": "p4", "title": "Running shoes"},
        {"title": "no id"},
        {"id": "p6", "title": "Leather handbag"},
    ]
    manifest = ray_jobs.index_catalog(products, tmp_path / "idx", encoder="hash:64", num_shards=2)
    assert manifest["num_shards"] == 2 and manifest["products"] == 5
    assert len(manifest["skipped"]) == 1 and "id" in manifest["skipped"][0]["error"]
    on_disk = json.loads((tmp_path / "idx" / "shards.json").read_text(encoding="utf-8"))
    assert on_disk["products"] == 5
    found: set[str] = set()
    for shard in manifest["shards"]:
        ix = SearchIndex.load(tmp_path / "idx" / shard["path"])
        assert len(ix) == shard["products"]
        found |= set(ix.ids_)
        if "p4" in ix.ids_:
            assert ix.search("running shoes", k=1, mode="bm25")[0]["id"] == "p4"
    assert found == {"p1", "p2", "p3", "p4", "p6"}


def test_embed_cli_engine_ray(local_ray: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    src = _write(tmp_path / "in.jsonl", [json.dumps({"id": i, "body": t}) for i, t in
                                         enumerate(["red dress", "rotes Kleid", "robe rouge"])] + ["{bad"])
    dest = tmp_path / "out.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["embed", str(src), "--out", str(dest), "--encoder", "hash:32", "--engine", "ray",
                              "--text-field", "body"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in dest.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in rows] == [0, 1, 2, None] and "error" in rows[3]
    assert all(len(r["embedding"]) == 32 for r in rows[:3])
    assert "4 lines, 1 error" in res.stderr
    strict = runner.invoke(app, ["embed", str(src), "--out", str(dest), "--encoder", "hash:32", "--engine", "ray",
                                 "--text-field", "body", "--strict"])
    assert strict.exit_code == 1
    bad = runner.invoke(app, ["embed", str(src), "--engine", "spark"])
    assert bad.exit_code != 0


def test_index_build_cli_engine_ray(local_ray: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    src = _write(tmp_path / "catalog.jsonl", [json.dumps(p) for p in (
        {"id": "p1", "title": "Running shoes"}, {"id": "p2", "title": "Rotes Kleid"}, {"title": "no id"})])
    res = CliRunner().invoke(app, ["index", "build", "--catalog", str(src), "--out", str(tmp_path / "idx"),
                                   "--encoder", "hash:32", "--engine", "ray", "--shards", "2"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "idx" / "shards.json").read_text(encoding="utf-8"))
    assert manifest["num_shards"] == 2 and manifest["products"] == 2 and len(manifest["skipped"]) == 1
    assert "indexed 2 products into 2 shard(s)" in res.stderr


def test_predict_cli_engine_ray(local_ray: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app
    from babelcart.learn.train import train_model

    train = [{"text": t, "label": lab} for t, lab in [
        ("great product love it", "pos"), ("excellent quality", "pos"), ("terrible broke", "neg"),
        ("awful waste of money", "neg")] * 3]
    model = train_model(train=train, out=tmp_path / "m", encoder="hash:128", task="classify", align="none")
    src = _write(tmp_path / "in.jsonl", [json.dumps({"text": "love it"}), json.dumps({"x": 1}),
                                         json.dumps({"text": "awful"})])
    dest = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["predict", str(model), str(src), "--out", str(dest), "--engine", "ray"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in dest.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and "pred" in rows[0] and "error" in rows[1] and "pred" in rows[2]
    assert "3 lines, 1 error" in res.stderr
