"""The shop profile: one place for a shop's languages, read by every command that detects a language."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.config import Settings, load_settings, read_toml
from babelcart.shop import (
    ShopProfile,
    active_profile,
    detect_listings,
    read_profile,
    resolve_profile,
)
from babelcart.text.langid import default_detector

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("no_shop_profile")


def _bundled(name: str) -> list[dict]:
    text = (resources.files("babelcart.datasets") / "demo" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_profile_from_toml_env_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "babelcart.toml"
    cfg.write_text('port = 9000\n[shop]\nlanguages = ["en", "zh", "id"]\nprior = 4\n', encoding="utf-8")
    assert read_toml(cfg)["shop"]["languages"] == ["en", "zh", "id"]
    assert load_settings(cfg).shop == {"languages": ["en", "zh", "id"], "prior": 4}
    from_file = resolve_profile(settings_shop=read_toml(cfg)["shop"], environ={})
    assert from_file is not None and from_file.languages == ("en", "zh", "id") and from_file.prior == 4.0
    env = resolve_profile(environ={"BABELCART_LANGUAGES": "fr, de"}, settings_shop=read_toml(cfg)["shop"])
    assert env is not None and env.languages == ("fr", "de") and env.prior == 4.0
    cli = resolve_profile(languages="es", environ={"BABELCART_LANGUAGES": "fr"})
    assert cli is not None and cli.languages == ("es",)
    assert resolve_profile(environ={}) is None
    with pytest.raises(ValueError, match="unknown key"):
        ShopProfile.from_mapping({"languages": ["en"], "langs": 1})
    with pytest.raises(ValueError, match="comma-separated"):
        resolve_profile(languages=" , ", environ={})

    monkeypatch.setenv("BABELCART_CONFIG", str(cfg))
    res = runner.invoke(app, ["detect", "--text", "kaos kaki"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["lang"] == "id"
    assert active_profile() is not None and active_profile().languages == ("en", "zh", "id")


def test_bundled_profile_is_the_demo_shop() -> None:
    demo = read_profile("demo")
    assert demo.languages == ("en", "zh", "id") and demo.listings == "id" and not demo.only
    det = demo.detector()
    assert "ms" not in det.languages and {"fr", "de", "es"} <= set(det.languages)  # Malay is read as Indonesian


@pytest.mark.parametrize("query", ["kaos kaki", "tas ransel", "tisu basah"])
def test_short_indonesian_queries_with_the_profile(query: str) -> None:
    res = runner.invoke(app, ["--languages", "en,zh,id", "detect", "--text", query])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["lang"] == "id"


def test_loanword_titles_need_a_profile_and_keep_english_titles() -> None:
    det = read_profile("demo").detector()
    assert det.detect("Kaos Kaki Pendek Japanese Cool Solid Line Wanita - GINGER").lang == "id"
    assert det.detect("Tas Ransel Laptop Backpack Waterproof Franzen Rapid Rulle Series 601 - Biru").lang == "id"
    assert det.detect("Lindt, frog prince milk chocolate").lang == "en"
    assert det.detect("wireless earbuds with charging case").lang == "en"
    assert ShopProfile(languages=("en", "fr")).detector().detect("robe rouge").lang == "fr"


def test_bundled_indonesian_reviews_with_the_profile() -> None:
    rows = [r for r in _bundled("reviews.jsonl") if r.get("source") == "prdect_id"]
    guesses = read_profile("demo").detector().detect_batch([r["text"] for r in rows])
    right = sum(g.lang == "id" for g in guesses)
    assert len(rows) >= 50 and right >= 0.97 * len(rows), [g.lang for g in guesses]


def test_index_build_labels_the_bundled_indonesian_titles_id(tmp_path: Path) -> None:
    from babelcart.apps.search import SearchIndex

    catalog = resources.files("babelcart.datasets") / "demo" / "products.jsonl"
    with resources.as_file(catalog) as cat:
        res = runner.invoke(app, ["--shop", "demo", "index", "build", "-c", str(cat), "-o", str(tmp_path / "i"),
                                  "-e", "hash:64"])
    assert res.exit_code == 0, res.output
    index = SearchIndex.load(tmp_path / "i")
    source = {p["id"]: p for p in _bundled("products.jsonl")}
    langs = [lg for pid, lg in zip(index.ids_, index.langs_, strict=True) if source[pid]["source"] == "prdect_id"]
    assert len(langs) == 58 and sum(lg == "id" for lg in langs) >= 0.95 * 58, langs
    given = [(source[pid]["lang"], lg) for pid, lg in zip(index.ids_, index.langs_, strict=True)
             if source[pid].get("lang")]
    assert all(a == b for a, b in given)  # a given lang is kept


def test_listings_without_profile_are_detected_plainly() -> None:
    titles = [p["title"] for p in _bundled("products.jsonl") if p["source"] == "prdect_id"]
    plain = detect_listings(titles)
    shop = detect_listings(titles, read_profile("demo"))
    assert sum(lg == "id" for lg in shop) > sum(lg == "id" for lg in plain) + 20


def test_serve_uses_the_settings_profile() -> None:
    from babelcart.serve.app import create_app

    create_app(Settings(shop={"languages": ["en", "zh", "id"]}, web_enabled=False))
    assert default_detector().served == frozenset({"en", "zh", "id"})
