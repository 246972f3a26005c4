"""The curl examples of docs/serve.md, run against the app of `babelcart serve --demo` (hash encoder: fast)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "serve.md"


def documented_calls() -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path with query, JSON body) of every curl line in the docs' demo block."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("Every call below works against `babelcart serve --demo`", 1)[1].split("```bash", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    calls = []
    for line in block.splitlines():
        if not line.strip().startswith("curl"):
            continue
        args = shlex.split(line)
        url = next(a for a in args if a.startswith("localhost:8000"))
        body = json.loads(args[args.index("-d") + 1]) if "-d" in args else None
        calls.append(("POST" if body is not None else "GET", url.removeprefix("localhost:8000"), body))
    return calls


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    from babelcart.config import load_settings
    from babelcart.serve.app import create_app
    from babelcart.serve.demo import prepare_demo

    root = tmp_path_factory.mktemp("docs-demo")
    base = load_settings(None, encoder="hash:256", models_dir=root / "no-models")
    settings, keys = prepare_demo(base, root / "demo")
    with TestClient(create_app(settings)) as client:
        yield client, keys


def test_the_docs_list_the_calls() -> None:
    paths = [p for _, p, _ in documented_calls()]
    assert any(p.startswith("/v1/classify/sentiment") for p in paths)
    assert any(p.startswith("/v1/recommend/item/") for p in paths)
    assert any(p.startswith("/v1/recommend/user/") for p in paths)


@pytest.mark.parametrize(("method", "path", "body"), documented_calls(), ids=lambda x: x if isinstance(x, str) else "")
def test_documented_call_works_under_the_demo(demo: Any, method: str, path: str, body: Any) -> None:
    client, keys = demo
    res = client.request(method, path, json=body, headers={"X-API-Key": keys["read"]})
    assert res.status_code == 200, (path, res.text)
    out = res.json()
    if path.startswith("/v1/classify/"):
        assert len(out["results"]) == len(body["texts"]) and {"neg", "pos"} <= set(out["labels"])
        assert all(r["pred"] in out["labels"] for r in out["results"])
    elif path.startswith("/v1/search"):
        assert out["results"]
    elif path.startswith("/v1/recommend/item/"):
        item = re.match(r"/v1/recommend/item/([^?]+)", path).group(1)  # type: ignore[union-attr]
        assert out["results"] and item not in [r["id"] for r in out["results"]]
    elif path.startswith("/v1/recommend/user/"):
        assert out["results"] == [] and "babelcart ingest events" in out["note"]
