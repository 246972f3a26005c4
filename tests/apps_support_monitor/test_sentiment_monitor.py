from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from babelcart.apps.monitor import (
    JsonlSink,
    ListSink,
    MonitorConfig,
    SentimentMonitor,
    WebhookSink,
    is_negative,
    parse_ts,
    parse_window,
    redact_url,
)

DAY = 86400


def make_stream(days=20, per_day=60, spike_day=14, spike_share=0.6, base_share=0.1, seed=0):
    rng = random.Random(seed)
    out = []
    for d in range(days):
        for i in range(per_day):
            lang = "id" if i % 2 else "en"
            share = spike_share if (d == spike_day and lang == "id") else base_share
            out.append({"ts": 1_700_000_000 - 1_700_000_000 % DAY + d * DAY + i * 60, "lang": lang,
                        "category": "shoes", "rating": 1 if rng.random() < share else 5})
    return out


def test_parsers():
    assert parse_window("1d") == DAY and parse_window("30m") == 1800 and parse_window(60) == 60
    with pytest.raises(ValueError):
        parse_window("tomorrow")
    assert parse_ts("2026-01-01T00:00:00Z") == parse_ts("2026-01-01T00:00:00") == 1767225600
    assert parse_ts(1767225600000) == 1767225600
    with pytest.raises(ValueError):
        parse_ts("yesterday")
    assert is_negative({"rating": 2}) is True and is_negative({"rating": 3}) is False
    assert is_negative({"sentiment": "Negative", "rating": 5}) is True
    assert is_negative({"label": "pos"}) is False and is_negative({"text": "x"}) is None


@pytest.mark.parametrize("method", ["zscore", "cusum"])
def test_spike_is_detected_in_its_scope_only(method):
    sink = ListSink()
    mon = SentimentMonitor(config=MonitorConfig(min_count=20, warmup=3, methods=(method,)), sinks=[sink])
    stats = mon.replay(make_stream())
    assert stats["records"] == 20 * 60 and stats["errors"] == 0
    scopes = {(a["scope"]["field"], a["scope"]["value"]) for a in sink.alerts}
    assert ("lang", "id") in scopes
    assert ("lang", "en") not in scopes
    alert = next(a for a in sink.alerts if a["scope"] == {"field": "lang", "value": "id"})
    assert alert["method"] == method
    assert alert["window_start"].startswith(
        __import__("datetime").datetime.fromtimestamp(make_stream()[14 * 60]["ts"], tz=__import__(
            "datetime").timezone.utc).date().isoformat())
    assert alert["neg_share"] > 0.4 and alert["baseline"] < 0.25 and alert["count"] == 30
    assert set(alert) >= {"id", "ts", "scope", "neg_share", "baseline", "z", "count", "method"}


def test_one_alert_per_scope_and_window_naming_both_detectors():
    sink = ListSink()
    SentimentMonitor(config=MonitorConfig(min_count=20, warmup=3, methods=("zscore", "cusum")),
                     sinks=[sink]).replay(make_stream())
    keys = [(a["scope"]["field"], a["scope"]["value"], a["window_start"]) for a in sink.alerts]
    assert keys and len(keys) == len(set(keys))
    both = [a for a in sink.alerts if a["methods"] == ["zscore", "cusum"]]
    assert both and all(a["method"] == "zscore+cusum" and "cusum" in a for a in both)


def test_redacted_url_keeps_the_port():
    assert redact_url("http://u:p@127.0.0.1:9000/hook?t=x").startswith("http://127.0.0.1:9000/…#")
    assert redact_url("https://[::1]:8443/x").startswith("https://[::1]:8443/…#")
    assert redact_url("https://hooks.example.com/x").startswith("https://hooks.example.com/…#")


def test_no_alert_on_a_flat_stream_and_min_volume_respected():
    sink = ListSink()
    SentimentMonitor(config=MonitorConfig(min_count=20), sinks=[sink]).replay(make_stream(spike_share=0.1))
    assert sink.alerts == []
    sink2 = ListSink()
    SentimentMonitor(config=MonitorConfig(min_count=100), sinks=[sink2]).replay(make_stream())
    assert sink2.alerts == []  # 30 reviews per language-day is below the minimum volume


def test_bad_records_are_counted_not_fatal_and_classifier_callback():
    recs = make_stream(days=3, per_day=5)
    recs.insert(3, {"ts": "not a time", "rating": 1})
    recs.insert(4, {"ts": recs[2]["ts"], "text": "no label"})
    recs.append({"ts": 0, "rating": 1})  # late: before the current window
    mon = SentimentMonitor(config=MonitorConfig(min_count=1))
    stats = mon.replay(recs)
    assert stats["errors"] == 2 and stats["late"] == 1
    called: list[str] = []

    def classify(texts):
        called.extend(texts)
        return ["negative" for _ in texts]

    mon2 = SentimentMonitor(config=MonitorConfig(min_count=1), classify=classify)
    assert mon2.replay([{"ts": 1, "text": "awful"}])["errors"] == 0
    assert called == ["awful"]


def test_jsonl_sink_appends(tmp_path):
    sink = JsonlSink(tmp_path / "a" / "alerts.jsonl")
    SentimentMonitor(config=MonitorConfig(min_count=20), sinks=[sink]).replay(make_stream())
    lines = (tmp_path / "a" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(x)["scope"] for x in lines)


class _Handler(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    handler = type("H", (_Handler,), {"received": [], "status": 200})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, handler
    srv.shutdown()
    srv.server_close()


def test_webhook_up_delivers(server):
    srv, handler = server
    hook = WebhookSink(f"http://127.0.0.1:{srv.server_port}/alerts", retries=1, backoff=0.0)
    mon = SentimentMonitor(config=MonitorConfig(min_count=20), sinks=[hook])
    mon.replay(make_stream())
    assert mon.alerts and hook.sent == len(mon.alerts) and hook.failed == []
    assert [a["id"] for a in handler.received] == [a["id"] for a in mon.alerts]


def test_webhook_failing_retries_with_backoff_and_keeps_alert(server):
    srv, handler = server
    handler.status = 503
    waits: list[float] = []
    hook = WebhookSink(f"http://127.0.0.1:{srv.server_port}/", retries=3, backoff=0.1, sleep=waits.append)
    mem = ListSink()
    mon = SentimentMonitor(config=MonitorConfig(min_count=20, methods=("zscore",)), sinks=[hook, mem])
    mon.replay(make_stream())
    assert len(mem.alerts) >= 1
    assert len(hook.failed) == len(mem.alerts) and hook.failed[0]["error"] == "HTTP 503"
    assert waits[:3] == [0.1, 0.2, 0.4]
    assert len(handler.received) == 4 * len(mem.alerts)
    handler.status = 200
    assert hook.retry_failed() == len(mem.alerts) and hook.failed == []


def test_webhook_down_does_not_raise():
    hook = WebhookSink("http://127.0.0.1:9/", retries=1, backoff=0.0, timeout=0.5)
    assert hook.send({"id": "x"}) is False
    assert hook.failed and hook.failed[0]["alert"] == {"id": "x"}
    with pytest.raises(ValueError):
        WebhookSink("file:///etc/passwd")


def test_webhook_url_is_redacted_in_logs(caplog):
    url = "http://hookuser:hookpass@127.0.0.1:9/services/T0/B0/s3cr3tpath?token=s3cr3tquery"
    hook = WebhookSink(url, retries=0, timeout=0.5)
    with caplog.at_level("WARNING", logger="babelcart.apps.monitor"):
        assert hook.send({"id": "x"}) is False
    assert "webhook http://127.0.0.1:9/…#" in caplog.text  # the port is no secret and tells hooks apart
    for secret in ("hookuser", "hookpass", "s3cr3tpath", "s3cr3tquery"):
        assert secret not in caplog.text
    assert redact_url(url) != redact_url(url.replace("s3cr3tquery", "other"))  # the hash tells URLs apart
    with pytest.raises(ValueError) as err:
        WebhookSink("ftp://example.com/s3cr3tpath")
    assert "s3cr3tpath" not in str(err.value) and "ftp://example.com/" in str(err.value)


def test_monitor_cli(tmp_path):
    from babelcart.cli import app

    p = tmp_path / "reviews.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in make_stream()) + "\n{broken\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["monitor", str(p), "--window", "1d", "--out", str(tmp_path / "al.jsonl"),
                                   "--method", "zscore"])
    assert res.exit_code == 0, res.output
    alerts = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert any(a["scope"] == {"field": "lang", "value": "id"} for a in alerts)
    assert "1 error," in res.stderr and "1 errors" not in res.stderr
    assert len((tmp_path / "al.jsonl").read_text().splitlines()) == len(alerts)
    bad = CliRunner().invoke(app, ["monitor", str(p), "--webhook", "http://127.0.0.1:9/", "--retries", "0"])
    assert bad.exit_code == 2
