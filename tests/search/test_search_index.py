"""SearchIndex: build/add/delete/search/save/load, filters, fusion, bad input. Hash encoder unless noted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sample_catalog import PRODUCTS

from babelcart.apps.search import COVERAGE_POWER, IndexFormatError, SearchIndex
from babelcart.apps.search import documents as search_documents
from babelcart.apps.search.analyzers import guess_script_lang


@pytest.fixture(autouse=True)
def _script_lang_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real detector (babelcart.text.langid) is tested by its owner and slow to load: use script rules."""
    monkeypatch.setattr(search_documents, "detect_langs",
                        lambda texts, **_: [guess_script_lang(t) or "en" for t in texts])



@pytest.fixture()
def index(hash_encoder) -> SearchIndex:  # type: ignore[no-untyped-def]
    return SearchIndex.build(PRODUCTS, encoder=hash_encoder)


def ids(results: list[dict]) -> list[str]:
    return [r["id"] for r in results]


def test_build_and_modes(index: SearchIndex) -> None:
    assert len(index) == 6
    assert ids(index.search("running shoes", mode="bm25"))[0] == "p2"
    assert ids(index.search("耳机", mode="bm25")) == ["p4"]
    assert ids(index.search("chaussures", mode="bm25", lang="fr")) == ["p3"]
    dense = index.search("running shoes", mode="dense", k=6)
    assert len(dense) == 6 and dense[0]["id"] == "p2"
    assert all(dense[i]["score"] >= dense[i + 1]["score"] for i in range(5))
    top = index.search("running shoes", k=3)[0]
    assert top["id"] == "p2" and top["title"] == "Running shoes" and top["lang"] == "en"
    assert top["category"] == "shoes" and top["price"] == 80.0


def test_explain_reports_components(index: SearchIndex) -> None:
    res = index.search("leather wallet", k=2, explain=True)
    ex = res[0]["explain"]
    assert res[0]["id"] == "p5"
    assert ex["bm25"]["rank"] == 1 and ex["dense"]["rank"] == 1
    assert ex["weights"]["bm25"] == pytest.approx(ex["bm25"]["coverage"]) and ex["fusion"] == "doc-coverage"
    rrf = ex["weights"]["bm25"] / 61 + ex["weights"]["dense"] / 61
    assert ex["fused_score"] == pytest.approx(rrf, abs=1e-6) and 0.0 <= res[0]["score"] <= 1.0


def test_filters(index: SearchIndex) -> None:
    assert set(ids(index.search("shoes", k=10, filters={"category": "shoes"}))) == {"p2", "p3"}
    assert set(ids(index.search("shoes", k=10, filters={"category": ["Audio", "kitchen"]}))) == {"p1", "p4", "p6"}
    got = ids(index.search("headphones", k=10, filters={"price_min": 40, "price_max": 79}))
    assert set(got) == {"p1", "p3"}  # p5 has no price: never passes a price filter
    assert set(ids(index.search("shoes", k=10, filters={"lang": "fr"}))) == {"p3"}
    assert index.search("shoes", filters={"category": "nothing-like-this"}) == []
    with pytest.raises(ValueError, match="unknown filter"):
        index.search("shoes", filters={"colour": "red"})
    with pytest.raises(ValueError, match="price_min"):
        index.search("shoes", filters={"price_min": "cheap"})


def test_bad_queries(index: SearchIndex) -> None:
    assert index.search("") == []
    assert index.search("   ") == []
    assert index.search("?!... ¿¡") == []
    long = ("shoes running trail " * 600)[:10_000]
    res = index.search(long, k=3)
    assert res and res[0]["id"] in {"p2", "p3"}
    # a language the catalog lacks: no crash, BM25 side empty, dense results still come back
    assert index.search("جوارب", mode="bm25") == []
    assert len(index.search("جوارب", k=3)) == 3
    with pytest.raises(ValueError, match="mode"):
        index.search("shoes", mode="fuzzy")
    with pytest.raises(ValueError, match="k must"):
        index.search("shoes", k=0)
    with pytest.raises(TypeError):
        index.search(None)  # type: ignore[arg-type]


def test_cross_lingual_query_falls_back_to_dense(index: SearchIndex) -> None:
    # no query term is in the catalog: BM25 weight 0, hybrid order == dense order
    q = "ヘッドホン"
    hybrid = index.search(q, k=6, explain=True)
    assert all(r["explain"]["weights"]["bm25"] == 0.0 and r["explain"]["bm25"] is None for r in hybrid)
    assert ids(hybrid) == ids(index.search(q, k=6, mode="dense"))


def test_partial_overlap_lowers_bm25_weight(index: SearchIndex) -> None:
    full = index.search("leather wallet", explain=True)[0]["explain"]["bm25"]
    assert full["coverage"] == pytest.approx(1.0)
    part = index.search("leather zzqx ywvu", mode="hybrid", explain=True, k=6)
    hit = next(r for r in part if r["id"] == "p5")["explain"]
    assert 0.0 < hit["bm25"]["coverage"] < 0.5
    assert hit["weights"]["bm25"] == pytest.approx(hit["bm25"]["coverage"] ** COVERAGE_POWER, abs=1e-6)


class TableEncoder:
    """Fixed vectors per text: lets a test say exactly how close the dense side finds each product."""

    spec = "table:test"

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {k: np.asarray(v, np.float32) / np.linalg.norm(v) for k, v in vectors.items()}
        self.dim = len(next(iter(vectors.values())))

    def encode(self, texts, *, role="passage", batch_size=64, show_progress=None):  # type: ignore[no-untyped-def]
        return np.stack([self.vectors[t] for t in texts])


def test_one_shared_word_does_not_outvote_a_strong_dense_match() -> None:
    # the web page's example: "chocolat au lait" shares only "lait" with a body lotion and only "chocolat"
    # (a rarer stem match) with the milk chocolates, which the dense side ranks clearly first
    cos = {"Lindt, frog prince milk chocolate": 0.865, "Sorini, passion, assorted milk chocolate": 0.856,
           "Aloe vera Lait corps hydratant": 0.832, "Douche Fraîcheur Epicée": 0.823, "Salade poulet caesar": 0.822}
    vectors = {"chocolat au lait": [1.0, 0, 0, 0, 0, 0], "lait corps": [1.0, 0, 0, 0, 0, 0]}
    for i, (title, c) in enumerate(cos.items()):
        v = [c, 0, 0, 0, 0, 0]
        v[i + 1] = float(np.sqrt(1 - c * c))
        vectors[title] = v
    langs = {"Aloe vera Lait corps hydratant": "fr", "Douche Fraîcheur Epicée": "fr", "Salade poulet caesar": "fr"}
    products = [{"id": f"p{i}", "title": t, "lang": langs.get(t, "en")} for i, t in enumerate(cos)]
    enc = TableEncoder(vectors)
    ix = SearchIndex.build(products, encoder=enc)
    bm25 = ix.search("chocolat au lait", k=3, mode="bm25", lang="fr")
    assert bm25[0]["title"].startswith("Aloe")  # lexically the lotion is the best (one-word) match
    hybrid = [r["title"] for r in ix.search("chocolat au lait", k=3, lang="fr")]
    assert hybrid[:2] == list(cos)[:2] and hybrid[2].startswith("Aloe")
    # linear coverage weights (the earlier fusion) let the single shared word win
    linear = SearchIndex.build(products, encoder=enc, coverage_power=1.0)
    assert linear.search("chocolat au lait", k=1, lang="fr")[0]["title"].startswith("Aloe")
    # a query the lotion matches in full still puts it first, against the dense order
    assert ix.search("lait corps", k=1, lang="fr")[0]["title"].startswith("Aloe")
    with pytest.raises(ValueError, match="coverage_power"):
        SearchIndex(coverage_power=0)


def test_fusion_variants(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    q = "leather zzqx ywvu"
    got = {}
    for fusion in ("doc-coverage", "list-coverage", "rrf"):
        ix = SearchIndex.build(PRODUCTS, encoder=hash_encoder, fusion=fusion)
        res = ix.search(q, k=6, explain=True)
        got[fusion] = next(r for r in res if r["id"] == "p5")["explain"]["weights"]["bm25"]
    assert got["rrf"] == 1.0
    assert got["list-coverage"] == pytest.approx(got["doc-coverage"])  # p5 is the best (only) BM25 hit
    assert got["doc-coverage"] < 0.5
    with pytest.raises(ValueError, match="fusion"):
        SearchIndex(fusion="max")


def test_bad_catalog_lines_are_reported_rest_indexed(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    products: list[Any] = [
        {"id": "a", "title": "Red mug"},
        {"id": "b", "description": "no title here"},
        {"line": 3, "error": "line 3 is not valid JSON"},  # as the reader returns an unreadable line
        {"title": "no id"},
        {"id": "c", "title": "Blue mug", "price": "cheap"},
        "not an object",
        {"id": "d", "title": "   "},
        {"id": "e", "title": "Green mug", "price": "4.5"},
    ]
    ix = SearchIndex.build(products, encoder=hash_encoder)  # type: ignore[arg-type]
    rep = ix.build_report_
    assert rep.added == 2 and len(ix) == 2
    assert [e["index"] for e in rep.errors] == [1, 2, 3, 4, 5, 6]
    assert rep.errors[1]["line"] == 3
    assert "title" in rep.errors[0]["error"] and "price" in rep.errors[3]["error"]
    assert ix.search("mug", filters={"price_max": 5})[0]["id"] == "e"


def test_duplicate_ids_last_wins(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    ix = SearchIndex.build([{"id": "x", "title": "old kettle"}, {"id": "y", "title": "teapot"},
                            {"id": "x", "title": "new toaster"}], encoder=hash_encoder)
    assert len(ix) == 2 and ix.build_report_.replaced == 1
    assert ix.search("kettle", mode="bm25") == []
    assert ix.search("toaster", mode="bm25")[0]["title"] == "new toaster"
    rep = ix.add([{"id": "y", "title": "glass teapot"}])
    assert rep.replaced == 1 and len(ix) == 2
    assert [r["title"] for r in ix.search("teapot", k=5)].count("glass teapot") == 1
    assert "teapot" not in [r["title"] for r in ix.search("teapot", k=5)]


def test_delete_matches_rebuild(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    ix = SearchIndex.build(PRODUCTS, encoder=hash_encoder)
    rep = ix.delete(["p2", "nope", "p2"])
    assert rep.deleted == ["p2"] and rep.missing == ["nope", "p2"]
    assert len(ix) == 5
    rebuilt = SearchIndex.build([p for p in PRODUCTS if p["id"] != "p2"], encoder=hash_encoder)
    for q in ["running shoes trail", "leather", "bluetooth headphones"]:
        for mode in ("bm25", "dense", "hybrid"):
            a, b = ix.search(q, k=5, mode=mode), rebuilt.search(q, k=5, mode=mode)
            assert ids(a) == ids(b)
            assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-5)
    assert "p2" not in ids(ix.search("running shoes", k=10))


def test_hnsw_grow_delete_and_filter(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    words = ["red", "blue", "mug", "shoe", "lamp", "desk", "chair", "cable", "phone", "case"]
    prods: list[dict[str, Any]] = [{"id": f"i{i}", "title": " ".join(rng.choice(words, 3)) + f" item{i}",
              "category": "even" if i % 2 == 0 else "odd", "price": float(i)} for i in range(60)]
    ix = SearchIndex.build(prods[:20], encoder=hash_encoder, hnsw_threshold=30)
    assert ix.dense_ is not None and ix.dense_.kind == "flat"
    ix.add(prods[20:])
    assert ix.dense_.kind == "hnsw"  # grew past the threshold: converted without losing rows
    assert ix.search(prods[7]["title"], mode="dense", k=1)[0]["id"] == "i7"
    ix.delete(["i7"])
    assert "i7" not in ids(ix.search(prods[7]["title"], mode="dense", k=60))
    assert len(ix.search("item", mode="dense", k=100)) == 59
    odd = ix.search("item", mode="dense", k=100, filters={"category": "odd"})
    assert len(odd) == 29 and all(int(r["id"][1:]) % 2 == 1 for r in odd)
    before = {m: ix.search("red mug item", mode=m, k=10) for m in ("bm25", "hybrid")}
    ix.compact()  # drops the tombstoned vector and postings; results do not change
    assert ix.dense_.ntotal == 59
    assert {m: ix.search("red mug item", mode=m, k=10) for m in ("bm25", "hybrid")} == before


def test_save_load_roundtrip(tmp_path: Path, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    ix = SearchIndex.build(PRODUCTS, encoder=hash_encoder)
    ix.delete(["p5"])
    out = ix.save(tmp_path / "idx")
    assert sorted(p.name for p in out.iterdir()) == ["bm25.npz", "dense.faiss", "docs.json", "manifest.json",
                                                     "terms.json"]
    back = SearchIndex.load(out, encoder=hash_encoder)
    assert len(back) == 5
    for q in ["running shoes", "耳机", "kaffeebecher", "wallet"]:
        for mode in ("bm25", "dense", "hybrid"):
            assert back.search(q, k=6, mode=mode) == ix.search(q, k=6, mode=mode)
    back.add([{"id": "p7", "title": "Yoga mat"}])
    assert back.search("yoga mat")[0]["id"] == "p7"


def test_encoder_is_rebuilt_from_spec(tmp_path: Path) -> None:
    ix = SearchIndex.build(PRODUCTS, encoder_spec="hash:64")
    ix.save(tmp_path / "idx")
    back = SearchIndex.load(tmp_path / "idx")
    assert back.encoder.spec == "hash:64"
    assert ids(back.search("leather wallet", k=2)) == ids(ix.search("leather wallet", k=2))


def test_bm25_only_index(tmp_path: Path) -> None:
    ix = SearchIndex.build(PRODUCTS, encoder_spec=None)
    assert ix.dense_ is None
    assert ids(ix.search("running shoes"))[0] == "p2"  # hybrid falls back to BM25
    back = SearchIndex.load(ix.save(tmp_path / "bm25only"))
    assert ids(back.search("wallet")) == ["p5"]


@pytest.fixture()
def saved(tmp_path: Path, hash_encoder) -> Path:  # type: ignore[no-untyped-def]
    return SearchIndex.build(PRODUCTS, encoder=hash_encoder).save(tmp_path / "idx")


def test_load_missing_or_not_an_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        SearchIndex.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFormatError, match="manifest.json is missing"):
        SearchIndex.load(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(IndexFormatError, match="not a folder"):
        SearchIndex.load(tmp_path / "file")


def test_load_corrupted_files(saved: Path) -> None:
    faiss_file = saved / "dense.faiss"
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="dense.faiss is corrupted"):
        SearchIndex.load(saved)
    faiss_file.write_bytes(data[:-8] + b"\0" * 8)  # same size, different bytes
    with pytest.raises(IndexFormatError, match="checksum"):
        SearchIndex.load(saved)
    faiss_file.unlink()
    with pytest.raises(IndexFormatError, match="dense.faiss is missing"):
        SearchIndex.load(saved)


def test_load_bad_manifest(saved: Path) -> None:
    m = saved / "manifest.json"
    manifest = json.loads(m.read_text())
    m.write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(IndexFormatError, match="version 99"):
        SearchIndex.load(saved)
    m.write_text(json.dumps({**manifest, "format": "something-else"}))
    with pytest.raises(IndexFormatError, match="not a babelcart search index"):
        SearchIndex.load(saved)
    m.write_text("{ truncated")
    with pytest.raises(IndexFormatError, match="corrupted"):
        SearchIndex.load(saved)


def test_inconsistent_parts_are_caught_without_checksums(saved: Path) -> None:
    docs = saved / "docs.json"
    d = json.loads(docs.read_text())
    d["ids"] = d["ids"][:-1]
    text = json.dumps(d)
    docs.write_text(text)
    m = saved / "manifest.json"
    manifest = json.loads(m.read_text())
    manifest["files"]["docs.json"]["bytes"] = len(text.encode())
    m.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="docs.json does not match"):
        SearchIndex.load(saved, verify=False)


def test_failed_save_leaves_old_index(saved: Path, hash_encoder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from babelcart.apps.search import vector_index

    before = sorted((p.name, p.stat().st_size) for p in saved.iterdir())
    ix = SearchIndex.build(PRODUCTS[:2], encoder=hash_encoder)

    def boom(self, path):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(vector_index.VectorIndex, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        ix.save(saved)
    assert sorted((p.name, p.stat().st_size) for p in saved.iterdir()) == before
    assert len(SearchIndex.load(saved, encoder=hash_encoder)) == len(PRODUCTS)
    assert not [p for p in saved.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_cross_lingual_with_e5(e5) -> None:  # type: ignore[no-untyped-def]
    prods = [{"id": "shoe", "title": "Running shoes for men", "lang": "en"},
             {"id": "phone", "title": "Wireless bluetooth headphones", "lang": "en"},
             {"id": "mug", "title": "Ceramic coffee mug", "lang": "en"},
             {"id": "wallet", "title": "Brown leather wallet", "lang": "en"}]
    ix = SearchIndex.build(prods, encoder=e5)
    assert ix.search("蓝牙耳机", k=1)[0]["id"] == "phone"
    assert ix.search("Kaffeetasse aus Keramik", k=1, lang="de")[0]["id"] == "mug"
    assert ix.search("portefeuille en cuir", k=1)[0]["id"] == "wallet"


def test_precomputed_vectors(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    prods = [{"id": "a", "title": "red mug"}, {"id": "b"}, {"id": "c", "title": "blue lamp"}]
    vecs = hash_encoder.encode(["red mug", "x", "blue lamp"], role="passage")
    ix = SearchIndex.build(prods, encoder=hash_encoder, vectors=vecs)
    ref = SearchIndex.build(prods, encoder=hash_encoder)
    assert len(ix) == 2
    assert ix.search("blue lamp", mode="dense") == ref.search("blue lamp", mode="dense")
    with pytest.raises(ValueError, match="one row per product"):
        SearchIndex.build(prods, encoder=hash_encoder, vectors=vecs[:2])


def test_products_without_lang_are_detected(hash_encoder) -> None:  # type: ignore[no-untyped-def]
    ix = SearchIndex.build([{"id": "a", "title": "运动鞋"}, {"id": "b", "title": "Sneakers"}], encoder=hash_encoder)
    assert [r["lang"] for r in ix.search("运动鞋", mode="bm25")] == ["zh"]
    assert ix.search("sneakers", filters={"lang": "en"})[0]["id"] == "b"
