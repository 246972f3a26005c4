"""The HTTP API end to end through TestClient: auth, scopes, limits, errors, models, metrics."""

from __future__ import annotations

import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from babelcart.encoders import get_encoder
from babelcart.serve.auth import KeyStore


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# ------------------------------------------------------------------ auth
def test_healthz_needs_no_key(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "bc_00000000_nope"}, {"X-API-Key": "garbage"},
                                     {"Authorization": "Bearer bc_12345678_xyz"}])
def test_missing_or_wrong_key_is_401(client, keys, headers):
    r = client.post("/v1/embed", json={"texts": ["hello"]}, headers=headers)
    assert r.status_code == 401
    assert "API key" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_valid_key_in_header_or_bearer(client, keys):
    assert client.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["read"])).status_code == 200
    r = client.post("/v1/embed", json={"texts": ["x"]}, headers={"Authorization": f"Bearer {keys['read']}"})
    assert r.status_code == 200


def test_tampered_secret_is_401(client, keys):
    key = keys["admin"]
    bad = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    assert client.post("/v1/embed", json={"texts": ["x"]}, headers=h(bad)).status_code == 401


def test_revoked_key_is_401(client, keys, serve_settings):
    key_id = keys["read"].split("_")[1]
    KeyStore(serve_settings.keys_file).revoke(key_id)
    r = client.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["read"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_wrong_scope_is_403_and_scopes_are_ordered(client, keys):
    body = {"reviews": [{"text": "great", "rating": 5, "lang": "en"}]}
    r = client.post("/v1/reviews", json=body, headers=h(keys["read"]))
    assert r.status_code == 403 and "needs 'write'" in r.json()["detail"]
    assert client.post("/v1/reviews", json=body, headers=h(keys["write"])).status_code == 200
    assert client.post("/v1/reviews", json=body, headers=h(keys["admin"])).status_code == 200
    # write and admin keys can also read
    assert client.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["write"])).status_code == 200


def test_keys_file_stores_only_hashes(keys, serve_settings):
    raw = Path(serve_settings.keys_file).read_text()
    for key in keys.values():
        assert key not in raw and key.split("_", 2)[2] not in raw
    assert oct(os.stat(serve_settings.keys_file).st_mode & 0o777) == "0o600"


# ------------------------------------------------------------------ limits
def test_too_many_requests_is_429_with_retry_after(make_client, keys):
    c = make_client(rate_limit_per_s=0.01, rate_limit_burst=2)
    codes = [c.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["read"])).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = c.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["read"]))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "rate limit" in r.json()["detail"]
    # buckets are per key: another key still passes
    assert c.post("/v1/embed", json={"texts": ["x"]}, headers=h(keys["write"])).status_code == 200


def test_oversized_body_is_413(client, keys):
    big = {"texts": ["a" * 30_000]}
    r = client.post("/v1/embed", json=big, headers=h(keys["read"]))
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_oversized_streamed_body_without_length_is_413(client, keys):
    def chunks():
        yield b'{"texts": ["'
        for _ in range(30):
            yield b"a" * 1000
        yield b'"]}'

    r = client.post("/v1/embed", content=chunks(), headers={**h(keys["read"]), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_too_many_texts_is_413_and_too_long_text_is_422(client, keys):
    r = client.post("/v1/embed", json={"texts": ["x"] * 9}, headers=h(keys["read"]))
    assert r.status_code == 413 and "limit is 8" in r.json()["detail"]
    r = client.post("/v1/detect", json={"texts": ["y" * 2001]}, headers=h(keys["read"]))
    assert r.status_code == 422 and "texts[0]" in r.json()["detail"]


# ------------------------------------------------------------------ validation
def test_malformed_json_is_422_with_clear_message(client, keys):
    r = client.post("/v1/embed", content=b'{"texts": ["a",', headers={**h(keys["read"]),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 422
    assert "malformed JSON" in r.json()["detail"]


@pytest.mark.parametrize("body,needle", [
    ({}, "body.texts: Field required"),
    ({"texts": "just a string"}, "valid list"),
    ({"texts": []}, "at least 1"),
    ({"texts": ["a"], "role": "doc"}, "role"),
    ({"texts": ["a"], "rolee": "query"}, "Extra inputs"),
    ({"texts": [1, 2]}, "valid string"),
])
def test_bad_fields_are_422(client, keys, body, needle):
    r = client.post("/v1/embed", json=body, headers=h(keys["read"]))
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]
    assert r.json()["errors"]


def test_validation_errors_do_not_echo_input(client, keys):
    secret = "jane.doe@example.com"
    r = client.post("/v1/classify/sentiment", json={"texts": [secret], "langs": ["en", "de"]},
                    headers=h(keys["read"]))
    assert r.status_code == 422 and "langs has 2 entries for 1 texts" in r.json()["detail"]
    assert secret not in r.text


# ------------------------------------------------------------------ models
def test_classify_known_model(client, keys):
    texts = ["bad quality", "love it", "barang rusak", "非常好", "质量差"]
    r = client.post("/v1/classify/sentiment", json={"texts": texts}, headers=h(keys["read"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "sentiment" and body["labels"] == ["neg", "pos"]
    assert [p["pred"] for p in body["results"]] == ["neg", "pos", "neg", "pos", "neg"]
    assert body["results"][0]["scores"]["neg"] == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["nope", "..", "...", ".hidden", "%2e%2e", "..%2fmodels", "a..b",
                                  "%2Fetc%2Fpasswd", "outside"])
def test_unknown_or_escaping_model_is_404(client, keys, serve_settings, tmp_path, name):
    outside = tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / "config.json").write_text(json.dumps({"words": ["x"]}))
    link = Path(serve_settings.models_dir) / "outside"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    r = client.post(f"/v1/classify/{name}", json={"texts": ["x"]}, headers=h(keys["read"]))
    assert r.status_code == 404, (name, r.status_code, r.text)


def test_registry_refuses_paths_outside(serve_settings):
    from babelcart.serve.errors import NotFoundError
    from babelcart.serve.registry import ModelRegistry

    reg = ModelRegistry(serve_settings.models_dir)
    assert reg.resolve("sentiment").name == "sentiment"
    for bad in ["../models/sentiment", "/etc", "sentiment/../sentiment", "", "..", "a/b"]:
        with pytest.raises(NotFoundError):
            reg.resolve(bad)


def test_model_that_fails_to_load_is_503_and_service_stays_up(client, keys):
    r = client.post("/v1/classify/broken", json={"texts": ["x"]}, headers=h(keys["read"]))
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert "failed to load" in detail and "corrupted" in detail
    assert "/tmp" not in detail  # no server paths
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/classify/sentiment", json={"texts": ["ok"]}, headers=h(keys["read"])).status_code == 200


def test_readyz_is_503_while_a_preloaded_model_fails(make_client, keys):
    c = make_client(preload_models=["sentiment", "broken"])
    r = c.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["model:sentiment"] == "ok" and checks["model:broken"] == "unavailable"
    assert c.get("/healthz").status_code == 200
    ok = make_client(preload_models=["sentiment"])
    assert ok.get("/readyz").status_code == 200


def test_list_models(client, keys):
    r = client.get("/v1/models", headers=h(keys["read"]))
    assert r.status_code == 200 and set(r.json()["models"]) == {"broken", "sentiment"}


# ------------------------------------------------------------------ embed + batching
def test_embed_matches_the_encoder(client, keys):
    texts = ["bluetooth headphones", "蓝牙耳机", "Kopfhörer"]
    r = client.post("/v1/embed", json={"texts": texts, "role": "query"}, headers=h(keys["read"]))
    assert r.status_code == 200
    body = r.json()
    got = np.array(body["embeddings"], dtype=np.float32)
    want = get_encoder("hash:64").encode(texts, role="query")
    assert body["dim"] == 64 and got.shape == (3, 64)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)


def test_concurrent_requests_are_batched_and_answers_stay_in_order(make_client, keys):
    c = make_client(batch_max_wait_ms=50.0)
    words = ["bad", "good", "terrible", "fine", "rusak", "ok", "broken", "nice"]

    def call(i: int) -> list[str]:
        texts = [f"{words[i % 8]} {i}", f"{words[(i + 1) % 8]} {i}"]
        r = c.post("/v1/classify/sentiment", json={"texts": texts}, headers=h(keys["read"]))
        assert r.status_code == 200
        return [p["pred"] for p in r.json()["results"]]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(16)))
    neg = {"bad", "terrible", "rusak", "broken"}
    for i, preds in enumerate(results):
        assert preds == ["neg" if words[i % 8] in neg else "pos", "neg" if words[(i + 1) % 8] in neg else "pos"]
    model = c.app.state.services.registry.get("sentiment")
    assert sum(model.calls) == 32
    assert len(model.calls) < 16 and max(model.calls) > 2  # merged: fewer runs than requests
    metrics = c.get("/metrics").text
    assert 'babelcart_batch_size_count{queue="classify:sentiment"}' in metrics


# ------------------------------------------------------------------ errors
class ExplodingIndex:
    def search(self, query, **kwargs):
        raise RuntimeError("boom for jane.doe@example.com")


class ListIndex:
    def __init__(self):
        self.calls = []

    def search(self, query, **kwargs):
        self.calls.append((query, kwargs))
        return [{"id": "p1", "score": np.float32(0.5), "title": "Milk chocolate", "lang": "en", "price": 2.5},
                {"id": "p2", "score": 0.25, "title": "巧克力", "lang": "zh"}]


def test_internal_error_is_generic_500_with_logged_error_id(make_client, keys, caplog):
    c = make_client(services_kwargs={"search_index": ExplodingIndex()}, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="babelcart.serve.app"):
        r = c.post("/v1/search", json={"query": "x"}, headers=h(keys["read"]))
    assert r.status_code == 500
    body = r.json()
    assert body["detail"] == "internal error" and len(body["error_id"]) == 12
    assert "Traceback" not in r.text and "boom" not in r.text and "RuntimeError" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert body["error_id"] in logged and "RuntimeError" in logged
    assert "jane.doe@example.com" not in logged  # PII masked before logging


def test_search_passes_options_and_serializes_numpy(make_client, keys):
    index = ListIndex()
    c = make_client(services_kwargs={"search_index": index})
    r = c.post("/v1/search", json={"query": "chocolate", "k": 2, "mode": "dense",
                                   "filters": {"category": "Sweets", "price_max": 3}},
               headers=h(keys["read"]))
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["results"]] == ["p1", "p2"]
    assert r.json()["results"][0]["price"] == 2.5
    q, kw = index.calls[0]
    assert q == "chocolate" and kw["k"] == 2 and kw["mode"] == "dense"
    assert kw["filters"] == {"category": "Sweets", "price_max": 3.0}


def test_search_without_index_is_503(client, keys):
    r = client.post("/v1/search", json={"query": "x"}, headers=h(keys["read"]))
    assert r.status_code == 503 and "no search index configured" in r.json()["detail"]


def test_missing_extra_is_501_naming_the_fix(make_client, keys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # the [postgres] extra is not installed
    c = make_client(db_url="postgresql+psycopg://shop:pw@db.internal:5432/shop")
    r = c.get("/v1/reviews/summary", headers=h(keys["read"]))
    assert r.status_code == 501 and "pip install 'babelcart[postgres]'" in r.json()["detail"]
    ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["store"] == "needs an extra"


def test_readyz_tells_no_paths_hosts_users_or_exception_text(make_client, tmp_path, caplog):
    secret_dir = tmp_path / "alice-private"
    (secret_dir / "rec").mkdir(parents=True)
    (secret_dir / "rec" / "config.json").write_text("{half a file")
    c = make_client(preload_models=["sentiment", "broken"], index_dir=secret_dir / "no-index",
                    recommender_dir=secret_dir / "rec", db_url=f"sqlite:///{secret_dir}/no/such/dir/x.db")
    with caplog.at_level("WARNING", logger="babelcart.serve"):
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"model:sentiment": "ok", "model:broken": "unavailable", "encoder": "ok",
                                  "search_index": "unavailable", "store": "unavailable",
                                  "recommender": "unavailable"}
    assert "alice" not in r.text and "Error" not in r.text
    assert "alice-private" in caplog.text  # the details are in the server log


# ------------------------------------------------------------------ text endpoints, reviews, PII
@pytest.mark.slow  # the language detector takes many seconds to load on a busy machine
def test_detect_and_review_language_detection(client, keys):
    r = client.post("/v1/detect", json={"texts": ["我很喜欢这个耳机", "Die Lieferung war sehr schnell"]},
                    headers=h(keys["read"]))
    assert [x["lang"] for x in r.json()["results"]] == ["zh", "de"]
    r = client.post("/v1/reviews", json={"reviews": [{"id": "d1", "text": "Die Lieferung war sehr schnell"},
                                                     {"id": "d2", "text": "质量很好", "sentiment": "pos"}]},
                    headers=h(keys["write"]))
    assert [x["lang"] for x in r.json()["results"]] == ["de", "zh"]
    text = client.get("/metrics").text
    assert 'babelcart_language_items_total{endpoint="detect",lang="zh"} 1.0' in text


def test_clean_and_mask(client, keys):
    r = client.post("/v1/clean", json={"texts": ["caf\u00c3\u00a9 &amp; <b>bar</b>"]}, headers=h(keys["read"]))
    assert r.json()["results"][0]["text"] == "café & bar"
    r = client.post("/v1/mask", json={"texts": ["mail jane.doe@example.com"]}, headers=h(keys["read"]))
    assert r.json()["results"][0] == {"text": "mail <EMAIL>", "counts": {"EMAIL": 1}}


def test_reviews_are_masked_before_storing_and_logging(client, keys, serve_settings, caplog):
    from babelcart.store.repo import Store

    email = "jane.doe@example.com"
    body = {"reviews": [{"id": "r1", "product_id": "p1", "text": f"Barang rusak, email saya {email}", "rating": 1,
                         "lang": "id"},
                        {"id": "r2", "text": "Sehr gut, schnelle Lieferung", "rating": 5, "lang": "de"},
                        {"id": "r3", "text": "质量很好", "sentiment": "pos", "lang": "zh"}]}
    with caplog.at_level(logging.DEBUG):
        r = client.post("/v1/reviews", json=body, headers=h(keys["write"]))
    assert r.status_code == 200, r.text
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["r1"]["pii"] == {"EMAIL": 1} and res["r1"]["sentiment"] == "neg"
    assert res["r2"]["lang"] == "de" and res["r3"]["lang"] == "zh"
    assert email not in "\n".join(rec.getMessage() for rec in caplog.records)
    stored = Store(serve_settings.db_url).get_review("r1")
    assert stored is not None and email not in stored["text"] and "<EMAIL>" in stored["text"]
    # the same batch again is unchanged, not duplicated
    again = client.post("/v1/reviews", json=body, headers=h(keys["write"])).json()["results"]
    assert {x["status"] for x in again} == {"unchanged"}
    summary = client.get("/v1/reviews/summary", headers=h(keys["read"])).json()
    assert summary["total"] == 3
    by = {x["lang"]: x for x in summary["languages"]}
    assert by["de"]["pos"] == 1 and by["zh"]["pos"] == 1 and sum(x["neg"] for x in by.values()) == 1
    assert (by["zh"]["rated"], by["zh"]["avg_rating"]) == (0, None)  # pos/neg only: no star average
    # the star average is over rated reviews only, whatever their sentiment group
    more = [{"id": "r4", "text": "Gut verpackt", "sentiment": "pos", "lang": "de"},
            {"id": "r5", "text": "Kam kaputt an", "rating": 1, "lang": "de"}]
    assert client.post("/v1/reviews", json={"reviews": more}, headers=h(keys["write"])).status_code == 200
    by = {x["lang"]: x for x in client.get("/v1/reviews/summary", headers=h(keys["read"])).json()["languages"]}
    assert by["de"]["count"] == 3 and by["de"]["rated"] == 2 and by["de"]["avg_rating"] is None  # 2: too few
    more = [{"id": f"r{6 + i}", "text": f"Bewertung {i}", "rating": 3, "lang": "de"} for i in range(3)]
    assert client.post("/v1/reviews", json={"reviews": more}, headers=h(keys["write"])).status_code == 200
    by = {x["lang"]: x for x in client.get("/v1/reviews/summary", headers=h(keys["read"])).json()["languages"]}
    assert by["de"]["rated"] == 5 and by["de"]["avg_rating"] == 3.0  # (5 + 1 + 3 + 3 + 3) / 5


def test_review_with_bad_timestamp_is_422(client, keys):
    r = client.post("/v1/reviews", json={"reviews": [{"text": "ok", "ts": "yesterday-ish"}]},
                    headers=h(keys["write"]))
    assert r.status_code == 422 and "reviews[0].ts" in r.json()["detail"]


def test_alerts_listing(client, keys, serve_settings):
    from babelcart.store.repo import Store

    store = Store(serve_settings.db_url)
    store.add_alert({"lang": "id"}, {"neg_share": 0.8, "baseline": 0.2}, ts="2026-11-01T00:00:00Z")
    store.add_alert({"lang": "zh"}, {"neg_share": 0.6}, ts="2026-11-02T00:00:00Z")
    r = client.get("/v1/alerts?limit=5", headers=h(keys["read"]))
    assert r.status_code == 200
    alerts = r.json()["alerts"]
    assert [a["scope"]["lang"] for a in alerts] == ["zh", "id"]  # newest first
    assert alerts[0]["delivered"] is False
    assert client.get("/v1/alerts?limit=0", headers=h(keys["read"])).status_code == 422


# ------------------------------------------------------------------ metrics, CORS, page
def test_metrics_exposes_counts_latency_langs_and_model_loads(client, keys):
    client.post("/v1/mask", json={"texts": ["我很喜欢", "Das ist gut"]}, headers=h(keys["read"]))
    client.post("/v1/classify/sentiment", json={"texts": ["bad"], "langs": ["en"]}, headers=h(keys["read"]))
    client.post("/v1/classify/broken", json={"texts": ["x"]}, headers=h(keys["read"]))
    client.post("/v1/embed", json={"texts": ["x"]})  # 401
    text = client.get("/metrics").text
    assert 'babelcart_requests_total{method="POST",route="/v1/mask",status="200"} 1.0' in text
    assert 'babelcart_requests_total{method="POST",route="/v1/embed",status="401"} 1.0' in text
    assert 'babelcart_request_latency_seconds_bucket{le="0.005",route="/v1/mask"}' in text
    assert 'babelcart_language_items_total{endpoint="classify",lang="en"} 1.0' in text
    assert 'babelcart_model_load_seconds_count{model="sentiment"} 1.0' in text
    assert 'babelcart_model_load_failures_total{model="broken"} 1.0' in text


def test_cors_allows_only_configured_origins(make_client):
    c = make_client(cors_origins=["https://shop.example"])
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-API-Key"}
    ok = c.options("/v1/embed", headers={"Origin": "https://shop.example", **pre})
    assert ok.headers.get("access-control-allow-origin") == "https://shop.example"
    bad = c.options("/v1/embed", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers


def test_web_page_is_served_with_strict_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and "<title>babelcart</title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http://" not in r.text.replace("http://www.w3.org", "") and "https://" not in r.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "sessionStorage" in js.text
    assert "https://" not in js.text and "innerHTML" not in js.text


def test_openapi_has_examples_and_security(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/classify/{model}" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert schemas["TextsIn"]["examples"] and schemas["SearchIn"]["examples"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
