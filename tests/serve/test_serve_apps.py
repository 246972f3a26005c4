"""The service over the colleagues' app modules: support answers, recommendations, monitoring + webhook."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_support_answer_in_the_customers_language(make_client, keys):
    c = make_client(encoder="hash:256")
    r = c.post("/v1/support/answer", json={"message": "where is my order", "lang": "en",
                                           "params": {"order_id": "A-1001"}}, headers=h(keys["read"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intent"] == "order_status" and "A-1001" in body["answer"]
    assert body["lang"] == "en" and body["handover"] is False
    r = c.post("/v1/support/answer", json={"message": "where is my order", "lang": "de",
                                           "params": {"order_id": "A-1001"}}, headers=h(keys["read"]))
    assert r.json()["answer"].startswith("Danke")
    r = c.post("/v1/support/answer", json={"message": ""}, headers=h(keys["read"]))
    assert r.status_code == 422


def test_configured_support_model_outside_registry_is_refused(make_client, keys):
    c = make_client(support_model="../elsewhere")
    r = c.post("/v1/support/answer", json={"message": "hi", "lang": "en"}, headers=h(keys["read"]))
    assert r.status_code == 503 and "unknown model '../elsewhere'" in r.json()["detail"]


@pytest.fixture()
def recommender_dir(tmp_path: Path) -> Path:
    from babelcart.apps.recommend import Recommender

    products = [{"id": f"p{i}", "title": f"item {i}", "category": "a" if i < 3 else "b", "price": 10.0 + i}
                for i in range(6)]
    events = []
    t0 = 1_700_000_000
    for u in range(6):
        for j, item in enumerate(["p0", "p1", "p2"] if u % 2 else ["p3", "p4", "p5"]):
            events.append({"user_id": f"u{u}", "item_id": item, "type": "click", "ts": t0 + u * 100_000 + j * 60})
    rec = Recommender(click_model=False).fit(events, products)
    rec.save(tmp_path / "rec")
    return tmp_path / "rec"


def test_recommendations_for_items_and_users(make_client, keys, recommender_dir):
    c = make_client(recommender_dir=recommender_dir)
    r = c.get("/v1/recommend/item/p0?k=2", headers=h(keys["read"]))
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["results"]]
    assert set(ids) == {"p1", "p2"}  # bought together with p0, never p3-p5
    assert c.get("/v1/recommend/item/nope", headers=h(keys["read"])).status_code == 404
    r = c.get("/v1/recommend/user/u1?k=3", headers=h(keys["read"]))
    assert r.status_code == 200 and len(r.json()["results"]) <= 3
    r = c.get("/v1/recommend/user/stranger", headers=h(keys["read"]))
    assert r.status_code == 200 and "cold start" in r.json()["note"] and r.json()["results"]
    assert c.get("/v1/recommend/shop/p0", headers=h(keys["read"])).status_code == 422
    assert c.get("/readyz").json()["checks"]["recommender"] == "ok"


def test_broken_recommender_is_503_and_not_ready(make_client, keys, tmp_path):
    broken = tmp_path / "rec"
    broken.mkdir()
    (broken / "config.json").write_text("{half a file")
    c = make_client(recommender_dir=broken)
    r = c.get("/v1/recommend/item/p0", headers=h(keys["read"]))
    assert r.status_code == 503 and "recommender failed to load" in r.json()["detail"]
    assert str(tmp_path) not in r.text and "half a file" not in r.text  # no paths or exception text
    assert c.get("/readyz").status_code == 503
    assert c.get("/healthz").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reviews(start_h: int, n: int, rating: int, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": f"review {prefix}{i}", "rating": rating, "lang": "id",
             "ts": f"2026-11-01T{start_h:02d}:{i:02d}:00Z"} for i in range(n)]


@pytest.mark.slow
def test_webhook_down_alert_is_retried_and_kept_then_redelivered(make_client, keys):
    port = _free_port()  # nothing listens here yet: the webhook is down
    c = make_client(monitor_window="1h", monitor_min_count=3, monitor_warmup=1, webhook_retries=2,
                    webhook_backoff_s=0.01, webhook_timeout_s=2.0, webhook_url=f"http://127.0.0.1:{port}/hook")
    for batch in (_reviews(1, 4, 5, "a"), _reviews(2, 4, 5, "b"), _reviews(3, 5, 1, "c")):
        assert c.post("/v1/reviews", json={"reviews": batch}, headers=h(keys["write"])).status_code == 200
    r = c.post("/v1/reviews", json={"reviews": _reviews(4, 1, 5, "d")}, headers=h(keys["write"]))
    raised = r.json()["alerts"]
    assert raised and {a["scope"]["value"] for a in raised} >= {"id"}  # the Indonesian scope spiked
    c.app.state.services.monitor.wait(timeout=30)
    alerts = c.get("/v1/alerts", headers=h(keys["read"])).json()["alerts"]
    assert alerts and all(not a["delivered"] for a in alerts)
    assert all(a["attempts"] == 3 for a in alerts)  # first try + 2 retries
    assert alerts[0]["payload"]["neg_share"] == 1.0

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert c.post("/v1/alerts/redeliver", headers=h(keys["write"])).status_code == 403
        r = c.post("/v1/alerts/redeliver", headers=h(keys["admin"]))
        assert r.status_code == 200 and r.json()["delivered"] == len(alerts)
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == len(alerts) and received[0]["method"] in ("zscore", "cusum", "zscore+cusum")
    after = c.get("/v1/alerts", headers=h(keys["read"])).json()["alerts"]
    assert all(a["delivered"] for a in after)


def test_classify_serves_a_model_folder_from_the_real_trainer(make_client, keys, serve_settings):
    from babelcart.learn import train_model

    pos = ["great quality", "love it", "works perfectly", "very good value", "excellent fit", "nice and soft"]
    neg = ["broke after a day", "terrible quality", "arrived damaged", "very bad fit", "awful smell", "useless"]
    train = [{"text": t, "label": "pos", "lang": "en"} for t in pos] + \
            [{"text": t, "label": "neg", "lang": "en"} for t in neg]
    train_model(train=train, out=Path(serve_settings.models_dir) / "real", encoder="hash:256", task="classify",
                align="none", calibrate=False, method="head")
    c = make_client(services_kwargs={"model_loader": None})  # the colleague's load_model
    r = c.post("/v1/classify/real", json={"texts": ["terrible quality", "love it"], "langs": ["en", "en"]},
               headers=h(keys["read"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "classify" and sorted(body["labels"]) == ["neg", "pos"]
    assert [p["pred"] for p in body["results"]] == ["neg", "pos"]
    assert abs(sum(body["results"][0]["scores"].values()) - 1) < 1e-4
    # a folder the real loader rejects: 503 for it, the other model keeps working
    bad = Path(serve_settings.models_dir) / "corrupt"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert c.post("/v1/classify/corrupt", json={"texts": ["x"]}, headers=h(keys["read"])).status_code == 503
    assert c.post("/v1/classify/real", json={"texts": ["x"], "langs": ["en"]},
                  headers=h(keys["read"])).status_code == 200
