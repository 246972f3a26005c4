"""The service's sentiment monitor: every alert is stored first, then delivered to the webhook in the background."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from babelcart.apps.monitor import MonitorConfig, SentimentMonitor, WebhookSink, redact_url
from babelcart.config import Settings

logger = logging.getLogger(__name__)


class ServiceMonitor:
    """Feeds ingested reviews to ``SentimentMonitor``; every alert is stored first (so it is never lost),
    then POSTed to the webhook in a background thread (retries with backoff); the stored alert records
    the attempts and whether delivery succeeded. ``redeliver()`` retries what is still undelivered."""

    def __init__(self, settings: Settings, store: Any) -> None:
        self.store = store
        self.settings = settings
        self.monitor = SentimentMonitor(config=MonitorConfig(window=settings.monitor_window, min_count=settings.monitor_min_count,
                                                 warmup=settings.monitor_warmup, scopes=("lang", "product_id")),
                               sinks=[self])
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook")
        self._raised: list[dict[str, Any]] = []

    # the monitor's sink interface
    def send(self, alert: dict[str, Any]) -> bool:
        alert_id = self.store.add_alert(dict(alert.get("scope") or {}), dict(alert), ts=alert.get("ts"))
        self._raised.append({**alert, "alert_id": alert_id})
        if self.settings.webhook_url:
            self._pool.submit(self._deliver, alert_id, dict(alert))
        return True

    def _deliver(self, alert_id: int, alert: dict[str, Any]) -> bool:
        attempts = [0]

        class _Counting(WebhookSink):
            def _post(self, a: dict[str, Any]) -> None:
                attempts[0] += 1
                super()._post(a)

        sink = _Counting(str(self.settings.webhook_url), retries=self.settings.webhook_retries,
                         backoff=self.settings.webhook_backoff_s, timeout=self.settings.webhook_timeout_s)
        ok = bool(sink.send(alert))
        for i in range(max(attempts[0], 1)):  # attempts += 1 per try; delivered only on the last
            self.store.mark_delivered(alert_id, delivered=ok and i == max(attempts[0], 1) - 1)
        if not ok:
            logger.warning("alert %s kept undelivered after %d attempts to %s", alert_id, attempts[0],
                           redact_url(str(self.settings.webhook_url)))
        return ok

    def observe(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Feed reviews (ordered by time here); the alerts raised by windows they closed."""
        def key(r: dict[str, Any]) -> float:
            ts = r.get("ts")
            return ts.timestamp() if isinstance(ts, datetime) else 0.0

        with self._lock:
            self._raised = []
            for rec in sorted(records, key=key):
                ts = rec.get("ts")
                self.monitor.update({**rec, "ts": ts.isoformat() if isinstance(ts, datetime) else ts})
            raised, self._raised = self._raised, []
        return raised

    def redeliver(self) -> int:
        """Retry every stored, undelivered alert now (blocking); returns how many went through."""
        if not self.settings.webhook_url:
            return 0
        done = 0
        for a in self.store.list_alerts(delivered=False):
            done += self._deliver(int(a["id"]), dict(a["payload"]))
        return done

    def wait(self, timeout: float | None = None) -> None:
        """Block until queued deliveries are done (tests, shutdown)."""
        self._pool.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
