"""Prometheus metrics of one app instance (own registry, so several apps in one process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Request counts, latency histograms, batch sizes, model load times and per-language traffic."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("babelcart_requests_total", "HTTP requests by route template and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("babelcart_request_latency_seconds", "HTTP request latency by route.",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("babelcart_batch_size", "Items per micro-batch run, by queue.",
                                    ["queue"], buckets=_BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("babelcart_batch_requests", "Requests merged into one micro-batch.",
                                        ["queue"], buckets=_BATCH_BUCKETS, registry=r)
        self.model_load = Histogram("babelcart_model_load_seconds", "Time to load a model or index.",
                                    ["model"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60), registry=r)
        self.model_load_failures = Counter("babelcart_model_load_failures_total", "Models that failed to load.",
                                           ["model"], registry=r)
        self.models_loaded = Gauge("babelcart_models_loaded", "Models currently loaded.", registry=r)
        self.lang_items = Counter("babelcart_language_items_total", "Texts seen per language and endpoint.",
                                  ["endpoint", "lang"], registry=r)
        self.rate_limited = Counter("babelcart_rate_limited_total", "Requests refused with 429.", registry=r)
        self.auth_failures = Counter("babelcart_auth_failures_total", "Requests refused with 401/403.",
                                     ["status"], registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, queue: str, items: int, requests: int) -> None:
        self.batch_size.labels(queue).observe(items)
        self.batch_requests.labels(queue).observe(requests)

    def observe_langs(self, endpoint: str, langs: list[str]) -> None:
        for lang in langs:
            self.lang_items.labels(endpoint, (lang or "und")[:12]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
