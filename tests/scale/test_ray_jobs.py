"""Ray Data jobs on a real local two-CPU Ray (conftest.local_ray): inputs read by read tasks, part files written by write tasks, every
line back with its position, bad lines marked, same vectors and predictions as local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ray")

from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.scale import (
    JobArgumentError,  # noqa: E402
    ray_jobs,  # noqa: E402
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_parts(folder: Path) -> list[dict[str, Any]]:
    """The records of a part-file folder, in the order its manifest lists the parts."""
    manifest = json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))
    return [json.loads(line) for part in manifest["parts"]
            for line in (folder / part).read_text(encoding="utf-8").splitlines()]


def test_embed_catalog_keeps_every_line_with_its_position(local_ray: str, tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [
        json.dumps({"id": "a", "text": "wireless earbuds"}),
        "{broken json",
        "",
        json.dumps({"id": "c", "title": "no text field"}),
        json.dumps({"id": "d", "text": "无线蓝牙耳机", "price": None, "tags": ["x", {"y": 1}]}),
        "[1, 2]",
        json.dumps({"id": "e", "text": "Handyhülle"}),
    ])
    res = ray_jobs.embed_catalog(src, tmp_path / "out", encoder="hash:64", batch_size=2, part_bytes=200)
    rows = read_parts(tmp_path / "out")
    assert (res.lines, res.errors) == (7, 4) and len(rows) == 7 and len(res.parts) >= 2
    assert [r["_line"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]  # line 3 is blank: an error record
    assert {r["_file"] for r in rows} == {str(src)}
    assert [r.get("id") for r in rows] == ["a", None, None, "c", "d", None, "e"]
    assert "not valid JSON" in rows[1]["error"] and rows[1]["line"] == 2 and rows[2]["error"] == "line 3 is blank"
    assert rows[3]["error"] == "missing field 'text'" and rows[3]["line"] == 4 and "not an object" in rows[5]["error"]
    assert rows[4]["tags"] == ["x", {"y": 1}] and rows[4]["price"] is None  # record comes back as it went in
    local = get_encoder("hash:64").encode(["wireless earbuds", "无线蓝牙耳机", "Handyhülle"], role="passage")
    got = np.array([rows[i]["embedding"] for i in (0, 4, 6)], dtype=np.float32)
    np.testing.assert_allclose(got, local, atol=1e-5)
    assert rows[0]["encoder"] == "hash:64"
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["lines"] == 7 and manifest["errors"] == 4 and manifest["sources"] == [str(src)]
    with pytest.raises(JobArgumentError, match="not empty"):  # old parts never mix with new ones
        ray_jobs.embed_catalog(src, tmp_path / "out", encoder="hash:64")


def test_glob_of_gzipped_files_and_parquet(local_ray: str, tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    for i in range(3):
        with gzip.open(tmp_path / f"reviews-{i}.jsonl.gz", "wt", encoding="utf-8") as fh:
            fh.write("".join(json.dumps({"id": f"{i}-{j}", "text": f"review {i} {j}"}) + "\n" for j in range(4)))
    (tmp_path / "notes.txt").write_text("not matched\n", encoding="utf-8")
    # two one-CPU actors take both CPUs of the test's Ray: reading and writing must still go on
    res = ray_jobs.embed_catalog(str(tmp_path / "reviews-*.jsonl.gz"), tmp_path / "out", encoder="hash:16",
                                 num_actors=2)
    rows = read_parts(tmp_path / "out")
    assert (res.lines, res.errors) == (12, 0)
    assert [r["id"] for r in rows] == [f"{i}-{j}" for i in range(3) for j in range(4)]
    assert [Path(r["_file"]).name for r in rows[::4]] == [f"reviews-{i}.jsonl.gz" for i in range(3)]

    table = pa.table({"id": ["p1", "p2", "p3"], "text": ["red dress", None, "robe rouge"],
                      "price": [9.5, 3.0, None]})
    pq.write_table(table, tmp_path / "catalog.parquet", row_group_size=2)
    res = ray_jobs.embed_catalog(tmp_path / "catalog.parquet", tmp_path / "pq-out", encoder="hash:16")
    rows = read_parts(tmp_path / "pq-out")
    assert (res.lines, res.errors) == (3, 1) and [r["_line"] for r in rows] == [1, 2, 3]
    assert rows[0]["price"] == 9.5 and "null" in rows[1]["error"] and len(rows[2]["embedding"]) == 16
    # URIs go through pyarrow's filesystems as s3:// and gs:// do (file:// needs no server)
    uri = tmp_path.as_uri()
    res = ray_jobs.embed_catalog(f"{uri}/reviews-1.jsonl.gz", f"{uri}/uri-out", encoder="hash:16")
    assert (res.lines, res.errors) == (4, 0) and read_parts(tmp_path / "uri-out")[0]["id"] == "1-0"
    res = ray_jobs.embed_catalog(f"{uri}/reviews-[02].jsonl.gz", f"{uri}/uri-glob", encoder="hash:16")
    assert [r["id"][0] for r in read_parts(tmp_path / "uri-glob")] == ["0"] * 4 + ["2"] * 4
    with pytest.raises(JobArgumentError, match="not empty"):
        ray_jobs.embed_catalog(f"{uri}/reviews-1.jsonl.gz", f"{uri}/uri-out", encoder="hash:16")
    with pytest.raises(FileNotFoundError, match="no input file matches"):
        ray_jobs.embed_catalog(str(tmp_path / "nothing-*.jsonl"), tmp_path / "x", encoder="hash:16")


def test_classify_catalog_matches_local_predictions(local_ray: str, tmp_path: Path) -> None:
    from babelcart.learn.train import train_model
    from babelcart.models import load_model

    train = [{"text": t, "label": lab} for t, lab in [
        ("great product love it", "pos"), ("excellent quality very happy", "pos"), ("works perfectly", "pos"),
        ("terrible broke after a day", "neg"), ("awful waste of money", "neg"), ("bad quality do not buy", "neg"),
    ] * 3]
    model = train_model(train=train, out=tmp_path / "model", encoder="hash:256", task="classify", align="none", method="head")
    src = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in (
        {"id": 1, "text": "love it, great"}, {"id": 2}, {"id": 3, "text": "awful, broke"})])
    res = ray_jobs.classify_catalog(src, tmp_path / "out", model_dir=model)
    out = read_parts(tmp_path / "out")
    assert (res.lines, res.errors) == (3, 1)
    assert [r["id"] for r in out] == [1, 2, 3] and "error" in out[1]
    local = load_model(model).predict(["love it, great", "awful, broke"])
    assert [out[0]["pred"], out[2]["pred"]] == [p["pred"] for p in local]
    with pytest.raises(FileNotFoundError):
        ray_jobs.classify_catalog(src, tmp_path / "out2", model_dir=tmp_path / "missing")


def test_index_catalog_builds_loadable_shards(local_ray: str, tmp_path: Path) -> None:
    from babelcart.apps.search import SearchIndex

    src = _write(tmp_path / "catalog.jsonl", [json.dumps(p) for p in (
        {"id": "p1", "title": "Wireless earbuds", "description": "bluetooth, charging case"},
        {"id": "p2", "title": "蓝牙耳机", "lang": "zh"},
        {"id": "p3", "title": "Rotes Kleid", "description": "Sommerkleid aus Baumwolle"},
        {"id": "p4", "title": "Running shoes"},
        {"title": "no id"},
        {"id": "p6", "title": "Leather handbag"},
        {"id": "p7", "price": 3},
    )] + ["{bad"])
    # a later file (named to sort first) updates p4: the last line in input order wins, as in a local build
    update = _write(tmp_path / "a-update.jsonl", [json.dumps({"id": "p4", "title": "Running shoes, new model"})])
    manifest = ray_jobs.index_catalog([src, update], tmp_path / "idx", encoder="hash:64", num_shards=2)
    assert manifest["num_shards"] == 2 and manifest["products"] == 5 and manifest["skipped_count"] == 3
    assert [(s["line"], s["id"]) for s in manifest["skipped"]] == [(5, None), (7, "p7"), (8, None)]
    assert "id" in manifest["skipped"][0]["error"] and "no text" in manifest["skipped"][1]["error"]
    on_disk = json.loads((tmp_path / "idx" / "shards.json").read_text(encoding="utf-8"))
    assert on_disk == manifest and on_disk["format"] == "babelcart-search-shards" and on_disk["version"] == 1
    found: set[str] = set()
    for shard in manifest["shards"]:
        ix = SearchIndex.load(tmp_path / "idx" / shard["path"])
        assert len(ix) == shard["products"]
        assert all(ray_jobs.shard_of(pid, 2) == int(shard["path"][-5:]) for pid in ix.ids_)
        found |= set(ix.ids_)
        if "p4" in ix.ids_:
            top = ix.search("running shoes", k=1, mode="bm25")[0]
            assert (top["id"], top["title"]) == ("p4", "Running shoes, new model")
    assert found == {"p1", "p2", "p3", "p4", "p6"}
    # replaced as a whole; a shard that gets no product is saved empty, so every id has its shard
    again = ray_jobs.index_catalog(src, tmp_path / "idx", encoder="hash:64", num_shards=12)
    assert again["num_shards"] == 12 and [s["path"] for s in again["shards"]] == [f"shard-{i:05d}" for i in range(12)]
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [f"shard-{i:05d}" for i in range(12)] + [
        "shards.json"]
    empty = next(s for s in again["shards"] if s["products"] == 0)
    assert len(SearchIndex.load(tmp_path / "idx" / empty["path"])) == 0


def test_embed_cli_engine_ray(local_ray: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    src = _write(tmp_path / "in.jsonl", [json.dumps({"id": i, "body": t}) for i, t in
                                         enumerate(["red dress", "rotes Kleid", "robe rouge"])] + ["{bad"])
    runner = CliRunner()
    res = runner.invoke(app, ["embed", str(src), "--out", str(tmp_path / "out"), "--encoder", "hash:32",
                              "--engine", "ray", "--text-field", "body"])
    assert res.exit_code == 0, res.output
    rows = read_parts(tmp_path / "out")
    assert [r.get("id") for r in rows] == [0, 1, 2, None] and "error" in rows[3]
    assert all(len(r["embedding"]) == 32 for r in rows[:3])
    assert "4 lines, 1 error" in res.stderr and "1 part file in" in res.stderr
    strict = runner.invoke(app, ["embed", str(src), "--out", str(tmp_path / "out2"), "--encoder", "hash:32",
                                 "--engine", "ray", "--text-field", "body", "--strict"])
    assert strict.exit_code == 1
    busy = runner.invoke(app, ["embed", str(src), "--out", str(tmp_path / "out"), "--engine", "ray"])
    assert busy.exit_code == 2 and busy.stderr.startswith("error: output folder") and len(
        busy.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["embed", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o3"),
                                  "--engine", "ray"])
    assert missing.exit_code == 2 and missing.stderr == f"error: input file not found: {tmp_path / 'nope.jsonl'}\n"
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all\n")
    failed = runner.invoke(app, ["embed", str(broken), "--out", str(tmp_path / "o4"), "--engine", "ray"])
    assert failed.exit_code == 1 and len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith(f"error: the Ray job failed: OSError: cannot read {broken}")
    assert not (tmp_path / "o4" / "_manifest.json").exists()
    no_out = runner.invoke(app, ["embed", str(src), "--engine", "ray"])
    assert no_out.exit_code == 2 and "--out FOLDER" in no_out.stderr
    bad = runner.invoke(app, ["embed", str(src), "--engine", "spark"])
    assert bad.exit_code != 0


def test_index_build_cli_engine_ray(local_ray: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    src = _write(tmp_path / "catalog.jsonl", [json.dumps(p) for p in (
        {"id": "p1", "title": "Running shoes"}, {"id": "p2", "title": "Rotes Kleid"}, {"title": "no id"})])
    res = CliRunner().invoke(app, ["index", "build", "--catalog", str(src), "--out", str(tmp_path / "idx"),
                                   "--encoder", "hash:32", "--engine", "ray", "--shards", "2"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "idx" / "shards.json").read_text(encoding="utf-8"))
    assert manifest["products"] == 2 and manifest["skipped_count"] == 1
    assert f"indexed 2 products into {manifest['num_shards']} shard(s)" in res.stderr
    assert "1 lines skipped" in res.stderr


def test_predict_cli_engine_ray(local_ray: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app
    from babelcart.learn.train import train_model

    train = [{"text": t, "label": lab} for t, lab in [
        ("great product love it", "pos"), ("excellent quality", "pos"), ("terrible broke", "neg"),
        ("awful waste of money", "neg")] * 3]
    model = train_model(train=train, out=tmp_path / "m", encoder="hash:128", task="classify", align="none", method="head")
    src = _write(tmp_path / "in.jsonl", [json.dumps({"text": "love it"}), json.dumps({"x": 1}),
                                         json.dumps({"text": "awful"})])
    res = CliRunner().invoke(app, ["predict", str(model), str(src), "--out", str(tmp_path / "out"),
                                   "--engine", "ray"])
    assert res.exit_code == 0, res.output
    rows = read_parts(tmp_path / "out")
    assert len(rows) == 3 and "pred" in rows[0] and "error" in rows[1] and "pred" in rows[2]
    assert "3 lines, 1 error" in res.stderr
