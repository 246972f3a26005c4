"""CLI: ingest products/events, recommend user/item/train, recommend-eval (hash encoder: instant, offline)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from babelcart.cli import app

runner = CliRunner()


def _write(path, rows) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return str(path)


def _world(tmp_path):
    products = [{"id": f"p{i}", "title": f"{['dress', 'shoes', 'hat'][i % 3]} model {i}",
                 "category": ["dress", "shoes", "hat"][i % 3], "price": 10 + i, "lang": "en"} for i in range(12)]
    events = []
    for u in range(30):
        cat = u % 3
        for j in range(6):
            item = (u + j) % 4 * 3 + cat
            events.append({"user_id": f"u{u}", "item_id": f"p{item}", "type": ["view", "click", "cart", "purchase"][j % 4],
                           "ts": f"2025-01-{1 + (u % 20):02d}T{10 + j:02d}:00:00Z"})
    return (_write(tmp_path / "p.jsonl", products), _write(tmp_path / "e.jsonl", events + ["{broken"]))


@pytest.mark.slow
def test_ingest_and_recommend_commands(tmp_path) -> None:
    pfile, efile = _world(tmp_path)
    db = f"sqlite:///{tmp_path / 'bc.db'}"
    r = runner.invoke(app, ["ingest", "products", pfile, "--db", db, "--quiet", "-o", str(tmp_path / "rep.jsonl")])
    assert r.exit_code == 0, r.output
    rep = [json.loads(x) for x in (tmp_path / "rep.jsonl").read_text().splitlines()]
    assert [x["status"] for x in rep] == ["inserted"] * 12
    r = runner.invoke(app, ["ingest", "events", efile, "--db", db, "--strict"])
    assert r.exit_code == 1 and "1 error;" in r.output  # the broken line, reported not dropped
    r = runner.invoke(app, ["recommend", "user", "u0", "-k", "3", "--db", db, "--encoder", "hash:64", "-q"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["user_id"] == "u0" and len(out["items"]) == 3 and not out["cold_start"]
    r = runner.invoke(app, ["recommend", "user", "ghost", "--db", db, "--encoder", "hash:64"])
    assert json.loads(r.stdout.splitlines()[-1])["cold_start"] is True
    r = runner.invoke(app, ["recommend", "item", "nope", "--db", db, "--encoder", "hash:64", "-q"])
    assert r.exit_code == 1 and r.stdout == "" and "unknown item 'nope'" in r.stderr
    model = tmp_path / "model"
    r = runner.invoke(app, ["recommend", "train", "--db", db, "--encoder", "hash:64", "-o", str(model)])
    assert r.exit_code == 0, r.output
    assert "12 items, 180 events" in r.stderr and "{" not in r.stderr  # readable, not a raw dict
    r = runner.invoke(app, ["recommend", "item", "p0", "--db", db, "--model", str(model), "-k", "2", "-q"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)["items"]) == 2


def test_recommend_without_events_says_so(tmp_path, caplog) -> None:
    pfile, _ = _world(tmp_path)
    db = f"sqlite:///{tmp_path / 'bc.db'}"
    assert runner.invoke(app, ["ingest", "products", pfile, "--db", db, "-q"]).exit_code == 0
    r = runner.invoke(app, ["recommend", "user", "u1", "--db", db, "--encoder", "hash:64", "-q"])
    assert r.exit_code == 1 and r.stdout == ""
    assert "no events" in r.stderr and "babelcart ingest events" in r.stderr
    assert "too few events" not in caplog.text  # the clear no-events error only, no warning before it
    r = runner.invoke(app, ["recommend", "item", "p0", "--db", db, "--encoder", "hash:64", "-q"])
    assert r.exit_code == 0 and json.loads(r.stdout)["items"][0]["category"] == "dress"  # text similarity
    r = runner.invoke(app, ["recommend", "train", "--db", db, "--encoder", "hash:64", "-o", str(tmp_path / "m")])
    assert r.exit_code == 0 and "0 events" in r.stderr and "ingest events" in r.stderr


@pytest.mark.slow
def test_recommend_eval_command(tmp_path) -> None:
    pfile, efile = _world(tmp_path)
    out = tmp_path / "m.json"
    r = runner.invoke(app, ["recommend-eval", "--events", efile, "--products", pfile, "--encoder", "hash:64",
                            "-k", "5", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert set(res["results"]) == {"random", "popularity", "cooc", "similar", "profile", "repeat", "mf", "hybrid"}
    assert res["bad_lines"] == 1 and "popularity" in r.stdout
    r = runner.invoke(app, ["recommend-eval", "--events", str(tmp_path / "missing.jsonl")])
    assert r.exit_code != 0
