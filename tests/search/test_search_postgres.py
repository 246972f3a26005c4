"""The PostgreSQL + pgvector search backend on a real server (the session's embedded PostgreSQL): same answers
as the folder backend, live updates, last write wins, per-line errors, HNSW above the threshold."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from babelcart.apps.search import SearchIndex
from babelcart.apps.search import documents as search_documents
from babelcart.apps.search.analyzers import guess_script_lang

pytestmark = pytest.mark.postgres
psycopg = pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
from sample_catalog import PRODUCTS  # noqa: E402

from babelcart.apps.search.postgres import PostgresSearchIndex  # noqa: E402

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("running shoes", {}), ("leather wallet", {"explain": True}), ("耳机", {"mode": "bm25"}),
    ("shoes", {"filters": {"category": "Shoes"}}), ("headphones", {"filters": {"price_min": 40, "price_max": 79}}),
    ("chaussures", {"lang": "fr", "mode": "dense", "k": 6}), ("shoes", {"filters": {"lang": "fr"}}),
    ("trail shoe", {"mode": "bm25", "explain": True}), ("!!!", {}),
]


@pytest.fixture(autouse=True)
def _script_lang_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_documents, "detect_langs",
                        lambda texts, **_: [guess_script_lang(t) or "en" for t in texts])


_n = iter(range(10**6))


@pytest.fixture(autouse=True)
def _close_pools(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Close every index's connections at the end of the test (a pool left to the garbage collector warns)."""
    made: list[PostgresSearchIndex] = []
    init = PostgresSearchIndex.__init__

    def track(self: PostgresSearchIndex, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(PostgresSearchIndex, "__init__", track)
    yield
    for ix in made:
        ix.close()


@pytest.fixture()
def url(pg_url: str) -> str:
    """The session's PostgreSQL with a schema of this test's own."""
    return f"{pg_url}&schema=t{next(_n)}"


def _ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["id"] for h in hits]


def test_same_answers_as_the_folder_backend(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    folder = SearchIndex.build(PRODUCTS, encoder=hash_encoder)
    PostgresSearchIndex.build(PRODUCTS, url, encoder=hash_encoder)
    pg = SearchIndex.load(url, encoder=hash_encoder)
    assert isinstance(pg, PostgresSearchIndex) and len(pg) == 6
    for q, kw in QUERIES:
        a, b = folder.search(q, **kw), pg.search(q, **kw)
        assert b == a, (q, kw)
        assert (b.relevance, b.no_good_match) == (a.relevance, a.no_good_match)
    assert pg.search_batch(["running shoes", "耳机"]) == folder.search_batch(["running shoes", "耳机"])
    with pytest.raises(ValueError, match="unknown filter"):
        pg.search("shoes", filters={"colour": "red"})


def test_updates_match_a_rebuilt_index(url: str, pg_url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    pg = PostgresSearchIndex.build(PRODUCTS, url, encoder=hash_encoder)
    rep = pg.add([{"id": "p7", "title": "Trail running shoes, red"}, {"id": "p2", "title": "Running shoes v2"},
                  {"id": "bad"}, {"title": "no id"}, {"id": "p8", "title": "x", "price": "cheap"}])
    assert (rep.added, rep.replaced) == (2, 1)
    assert [(e["index"], e.get("id")) for e in rep.errors] == [(2, "bad"), (3, None), (4, "p8")]
    gone = pg.delete(["p1", "nope"])
    assert (gone.deleted, gone.missing) == (["p1"], ["nope"])
    assert len(pg) == 6 and "p1" not in pg.live_ids()
    final = [p for p in PRODUCTS if p["id"] not in ("p1", "p2")] + [
        {"id": "p7", "title": "Trail running shoes, red"}, {"id": "p2", "title": "Running shoes v2"}]
    rebuilt = PostgresSearchIndex.build(final, f"{pg_url}&schema=rebuilt_{next(_n)}", encoder=hash_encoder)
    for q in ("running shoes", "headphones", "shoes red", "wallet"):
        got, want = pg.search(q, mode="bm25"), rebuilt.search(q, mode="bm25")
        assert [(h["id"], h["score"]) for h in got] == [(h["id"], h["score"]) for h in want]  # exact statistics
        assert set(_ids(pg.search(q, k=10))) == set(_ids(rebuilt.search(q, k=10)))
    assert pg.search("Running shoes v2", mode="bm25")[0]["title"] == "Running shoes v2"


def test_build_replaces_the_catalog_for_open_readers(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    PostgresSearchIndex.build(PRODUCTS, url, encoder=hash_encoder)
    reader = SearchIndex.load(url, encoder=hash_encoder)
    assert _ids(reader.search("wallet", mode="bm25")) == ["p5"]
    PostgresSearchIndex.build([{"id": "n1", "title": "Leather wallet, black"}], url, encoder=hash_encoder)
    assert _ids(reader.search("wallet", mode="bm25")) == ["n1"] and len(reader) == 1


def test_two_writers_on_one_product_last_write_wins(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    PostgresSearchIndex.build(PRODUCTS, url, encoder=hash_encoder)
    writers = [SearchIndex.load(url, encoder=hash_encoder) for _ in range(2)]
    errors: list[BaseException] = []

    def write(w: Any, tag: str) -> None:
        try:
            for i in range(15):
                w.add([{"id": "p5", "title": f"Leather wallet {tag}{i}"}, {"id": f"{tag}-{i}", "title": "Mug"}])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, t)) for w, t in zip(writers, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    writers[0].add([{"id": "p5", "title": "Leather wallet final"}])
    with psycopg.connect(writers[0].conninfo) as conn:
        rows = conn.execute(f"SELECT title FROM {writers[0].schema}.products WHERE id = 'p5'").fetchall()
        n_stats = conn.execute(f"SELECT sum(n) FROM {writers[0].schema}.stats").fetchone()[0]
    assert rows == [("Leather wallet final",)]
    assert len(writers[1]) == n_stats == 6 + 30  # the statistics count each product once
    assert writers[1].search("wallet", mode="bm25")[0]["title"] == "Leather wallet final"


def test_hnsw_above_the_threshold(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    pg = PostgresSearchIndex.build(PRODUCTS[:3], url, encoder=hash_encoder, hnsw_threshold=4)
    with psycopg.connect(pg.conninfo) as conn:
        assert not pg._has_hnsw(conn)
    pg.add(PRODUCTS[3:])
    with psycopg.connect(pg.conninfo) as conn:
        assert pg._has_hnsw(conn)
    folder = SearchIndex.build(PRODUCTS, encoder=hash_encoder)
    for q in ("running shoes", "wallet", "Kaffeebecher"):
        assert _ids(pg.search(q, mode="dense", k=3)) == _ids(folder.search(q, mode="dense", k=3))
    assert set(_ids(pg.search("shoes", mode="dense", filters={"category": "audio"}))) == {"p1", "p4"}


def test_open_errors(pg_url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match="no babelcart search index"):
        SearchIndex.load(f"{pg_url}&schema=nothing_here", encoder=hash_encoder)
    with pytest.raises(ValueError, match="plain lower-case name"):
        SearchIndex.load(f"{pg_url}&schema=Bad;Name", encoder=hash_encoder)


def test_vectors_given_skip_encoding(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    vecs = hash_encoder.encode([f"{p['title']}\n{p.get('description', '')}".strip() for p in PRODUCTS],
                               role="passage")
    pg = PostgresSearchIndex.build(PRODUCTS, url, encoder=hash_encoder, vectors=np.asarray(vecs))
    assert _ids(pg.search("running shoes", k=1)) == ["p2"]


def _last_json(output: str) -> dict[str, Any]:
    import json

    return json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("{")))


def test_cli_builds_searches_and_ingests_into_postgres(url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from babelcart.cli import app

    runner = CliRunner()
    cat = tmp_path / "catalog.jsonl"
    cat.write_text("\n".join(json.dumps(p) for p in PRODUCTS) + "\n{broken\n", encoding="utf-8")
    res = runner.invoke(app, ["index", "build", "-c", str(cat), "-o", url, "-e", "hash:256"])
    assert res.exit_code == 0, res.output
    assert "indexed 6 products" in res.output and "line 7" in res.output
    res = runner.invoke(app, ["search", url, "leather wallet", "-k", "1"])
    assert res.exit_code == 0, res.output
    assert _last_json(res.output)["results"][0]["id"] == "p5"
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "n1", "title": "Trail sneakers, waterproof", "lang": "en"}) + "\n"
                    + json.dumps({"id": "n2"}) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["ingest", "products", str(more), "--db", f"sqlite:///{tmp_path / 's.db'}",
                              "--index", url, "--encoder", "hash:256"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["search", url, "trail sneakers", "-k", "1", "--mode", "bm25"])
    assert _last_json(res.output)["results"][0]["id"] == "n1"
    res = runner.invoke(app, ["search", url.replace("schema=", "schema=x"), "wallet"])
    assert res.exit_code == 2 and "no babelcart search index" in res.output


def test_ties_break_the_same_way_on_both_backends(url: str, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    same = [{"id": f"m{i:02d}", "title": "Ceramic coffee mug", "lang": "en"} for i in range(30)]
    folder = SearchIndex.build(same, encoder=hash_encoder)
    pg = PostgresSearchIndex.build(same, url, encoder=hash_encoder)
    want = [f"m{i:02d}" for i in range(5)]  # equal scores: the earlier product first
    assert _ids(folder.search("coffee mug", mode="bm25", k=5)) == want
    assert _ids(pg.search("coffee mug", mode="bm25", k=5)) == want
