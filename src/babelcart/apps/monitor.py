"""Sentiment monitoring: alert when the share of negative reviews spikes against its own baseline.

Reviews are counted in tumbling windows (``window``: ``30m``, ``6h``, ``1d``, ``1w``) per scope: every value
of each field in ``scopes`` (default ``lang``, ``product_id``, ``category``) plus ``all``. When the stream
moves past a window, each scope's window is closed and tested:

* **volume** — windows with fewer than ``min_count`` reviews are neither tested nor used for the baseline;
* **baseline** — an EWMA of the negative share ``p`` over the scope's earlier windows
  (``mu <- (1 - alpha) * mu + alpha * p``, ``alpha = ewma_alpha``); no test until ``warmup`` windows fed it;
* **zscore** — ``z = (p - mu) / sqrt(mu' (1 - mu') / n)`` with ``mu' = max(mu, min_baseline)`` (a binomial
  test of this window against the baseline); alert when ``z >= z_threshold``;
* **cusum** — one-sided CUSUM on the same standardized residual: ``S <- max(0, S + z - cusum_k)``; alert and
  reset ``S`` when ``S >= cusum_h``. It catches smaller, sustained rises that no single window shows;
* **fixed** — (a baseline for comparisons, off by default) alert when ``p >= fixed_threshold``.

A window that raised a z-score alert does not update the baseline (so a spike is not learned as normal
at once); every other tested window does.

A review is negative when its ``sentiment``/``label`` says so (``neg``, ``negative``, ``0``/``-1`` …), else
when ``rating <= 2``, else from the ``classify`` callback (texts → labels/booleans). Records without a
timestamp or any sentiment are counted as errors; records older than the current window are counted as
``late`` and skipped (the stream must be ordered by ``ts``).

Alerts are plain dicts: ``id``, ``ts`` (window end), ``window_start``, ``scope`` (``{"field", "value"}``),
``neg_share``, ``baseline``, ``z``, ``count``, ``negatives``, ``method`` and ``methods`` (one alert per scope
and window, naming every detector that fired: ``zscore``, ``cusum`` or ``zscore+cusum``; plus ``cusum`` when
CUSUM fired), sent to every sink: :class:`ListSink`, :class:`JsonlSink`, :class:`WebhookSink` (POST with retries and exponential
backoff; failed alerts are kept in ``.failed``).

>>> mon = SentimentMonitor(config=MonitorConfig(window="1d", min_count=5, warmup=2))
>>> stats = mon.replay(records)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

__all__ = [
    "AlertSink", "JsonlSink", "ListSink", "MonitorConfig", "SentimentMonitor", "WebhookSink", "is_negative",
    "parse_ts", "parse_window",
]

Alert = dict[str, Any]
_NEG = {"neg", "negative", "0", "-1", "bad", "negatif", "negativ", "négatif", "negativo", "消极", "负面", "差评"}
_POS = {"pos", "positive", "1", "good", "positif", "positiv", "positivo", "neutral", "积极", "正面", "好评"}
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(spec: str | float | int) -> float:
    """Window length in seconds from ``30m``, ``6h``, ``1d``, ``1w`` (or a number of seconds)."""
    if isinstance(spec, (int, float)):
        seconds = float(spec)
    else:
        m = _WINDOW_RE.match(spec)
        if not m:
            raise ValueError(f"bad window {spec!r}; use e.g. 30m, 6h, 1d, 1w")
        seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds <= 0:
        raise ValueError("window must be positive")
    return seconds


def parse_ts(value: Any) -> float:
    """Epoch seconds from an ISO 8601 string (``Z`` allowed; naive means UTC) or a number."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"bad timestamp {value!r}")
    if isinstance(value, (int, float)):
        v = float(value)
        return v / 1000.0 if v > 1e11 else v  # milliseconds
    if isinstance(value, str):
        s = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise ValueError(f"bad timestamp {value!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    raise ValueError(f"bad timestamp {value!r}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def is_negative(record: Mapping[str, Any]) -> bool | None:
    """True/False from ``sentiment``, ``label`` or ``rating`` (<= 2 is negative); None when none is usable."""
    for key in ("sentiment", "label"):
        v = record.get(key)
        if v is None or isinstance(v, bool):
            if isinstance(v, bool):
                return not v if key == "label" else None
            continue
        s = str(v).strip().lower()
        if s in _NEG:
            return True
        if s in _POS:
            return False
    r = record.get("rating")
    if r is not None and not isinstance(r, bool):
        try:
            return float(r) <= 2
        except (TypeError, ValueError):
            return None
    return None


class AlertSink(Protocol):
    def send(self, alert: Alert) -> bool: ...


class ListSink:
    """Keeps alerts in memory (``.alerts``)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> bool:
        self.alerts.append(alert)
        return True


class JsonlSink:
    """Appends one JSON line per alert to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> bool:
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(alert, ensure_ascii=False) + "\n")
        return True


def redact_url(url: str) -> str:
    """A webhook URL fit for logs: scheme, host and port, then a short hash of the whole URL in place of the
    user, password, path and query (which often carry the token).

    >>> redact_url("https://hooks.example.com/services/T0/B0/secret?token=x")  # doctest: +ELLIPSIS
    'https://hooks.example.com/…#...'
    """
    parts = urllib.parse.urlsplit(url)
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    host = parts.hostname or "?"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: leave it out
        port = None
    if port is not None:
        host = f"{host}:{port}"
    return f"{parts.scheme or '?'}://{host}/…#{digest}"


class WebhookSink:
    """POSTs each alert as JSON; retries with exponential backoff; keeps what could not be delivered.

    ``retries`` extra attempts after the first, waiting ``backoff * 2**k`` seconds; HTTP 2xx is success,
    4xx (except 408/429) is not retried. Failed alerts stay in ``.failed`` (with the last error) so
    nothing is lost; :meth:`retry_failed` tries them again.
    """

    def __init__(
        self, url: str, *, retries: int = 3, backoff: float = 0.5, timeout: float = 5.0,
        headers: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {redact_url(url)}")
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._sleep = sleep
        self.sent = 0
        self.failed: list[dict[str, Any]] = []

    def _post(self, alert: Alert) -> None:
        data = json.dumps(alert, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - user-given URL
            if not 200 <= resp.status < 300:
                raise urllib.error.HTTPError(self.url, resp.status, "non-2xx", resp.headers, None)

    def send(self, alert: Alert) -> bool:
        error = ""
        for attempt in range(self.retries + 1):
            try:
                self._post(alert)
                self.sent += 1
                return True
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    break
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.retries:
                self._sleep(self.backoff * (2 ** attempt))
        logger.warning("webhook %s failed for alert %s: %s", redact_url(self.url), alert.get("id"), error)
        self.failed.append({"alert": alert, "error": error})
        return False

    def retry_failed(self) -> int:
        """Try the failed alerts again; return how many went through."""
        pending, self.failed = self.failed, []
        return sum(self.send(item["alert"]) for item in pending)


@dataclass
class MonitorConfig:
    """Parameters of the detector (see the module docstring)."""

    window: str | float = "1d"
    scopes: tuple[str, ...] = ("lang", "product_id", "category")
    include_all: bool = True
    min_count: int = 20
    warmup: int = 3
    ewma_alpha: float = 0.2
    min_baseline: float = 0.02
    z_threshold: float = 3.0
    cusum_k: float = 0.5
    cusum_h: float = 5.0
    fixed_threshold: float = 0.5
    methods: tuple[str, ...] = ("zscore", "cusum")

    def __post_init__(self) -> None:
        unknown = set(self.methods) - {"zscore", "cusum", "fixed"}
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; use zscore, cusum, fixed")
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError("ewma_alpha must be in (0, 1]")
        parse_window(self.window)


@dataclass
class _ScopeState:
    count: int = 0
    neg: int = 0
    mu: float | None = None
    n_windows: int = 0
    cusum: float = 0.0


@dataclass
class SentimentMonitor:
    """Streaming detector; feed records with :meth:`update` (or :meth:`replay`), call :meth:`flush` at the end."""

    config: MonitorConfig = field(default_factory=MonitorConfig)
    sinks: Sequence[AlertSink] = ()
    classify: Callable[[Sequence[str]], Sequence[Any]] | None = None
    text_field: str = "text"

    def __post_init__(self) -> None:
        self._window = parse_window(self.config.window)
        self._current: int | None = None
        self._states: dict[tuple[str, str], _ScopeState] = {}
        self.alerts: list[Alert] = []
        self.stats = {"records": 0, "errors": 0, "late": 0, "windows": 0}

    # -- input ---------------------------------------------------------------------------------------------------
    def _negative(self, rec: Mapping[str, Any]) -> bool:
        neg = is_negative(rec)
        if neg is None and self.classify is not None and isinstance(rec.get(self.text_field), str):
            label = self.classify([rec[self.text_field]])[0]
            neg = bool(label) if isinstance(label, bool) else is_negative({"sentiment": label})
        if neg is None:
            raise ValueError("no sentiment, label or rating (and no classifier)")
        return neg

    def update(self, record: Mapping[str, Any]) -> list[Alert]:
        """Count one review; returns the alerts raised by windows that closed because of it."""
        self.stats["records"] += 1
        try:
            ts = parse_ts(record.get("ts"))
            neg = self._negative(record)
        except (ValueError, TypeError) as exc:
            self.stats["errors"] += 1
            logger.debug("skipping record: %s", exc)
            return []
        w = math.floor(ts / self._window)
        raised: list[Alert] = []
        if self._current is None:
            self._current = w
        elif w < self._current:
            self.stats["late"] += 1
            return []
        elif w > self._current:
            raised = self._close()
            self._current = w
        for key in self._keys(record):
            st = self._states.setdefault(key, _ScopeState())
            st.count += 1
            st.neg += int(neg)
        return raised

    def _keys(self, record: Mapping[str, Any]) -> list[tuple[str, str]]:
        keys = [("all", "all")] if self.config.include_all else []
        for f in self.config.scopes:
            v = record.get(f)
            if v not in (None, ""):
                keys.append((f, str(v)))
        return keys

    def replay(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Feed a whole (ts-ordered) stream, flush the last window, return counts."""
        for rec in records:
            if "error" in rec and "ts" not in rec:
                self.stats["records"] += 1
                self.stats["errors"] += 1
                continue
            self.update(rec)
        self.flush()
        return dict(self.stats)

    def flush(self) -> list[Alert]:
        """Close the open window (end of stream)."""
        if self._current is None:
            return []
        out = self._close()
        self._current = None
        return out

    # -- detection -------------------------------------------------------------------------------------------------
    def _close(self) -> list[Alert]:
        cfg = self.config
        assert self._current is not None
        start = self._current * self._window
        self.stats["windows"] += 1
        raised: list[Alert] = []
        for (fname, value), st in self._states.items():
            n, k = st.count, st.neg
            st.count = st.neg = 0
            if n < cfg.min_count:
                continue
            p = k / n
            if "fixed" in cfg.methods and p >= cfg.fixed_threshold:
                raised.append(self._alert("fixed", fname, value, start, p, st.mu, None, n, k))
            z_alert = False
            if st.mu is not None and st.n_windows >= cfg.warmup:
                mu = max(st.mu, cfg.min_baseline)
                z = (p - mu) / math.sqrt(mu * (1 - mu) / n) if mu < 1 else 0.0
                fired: list[str] = []
                cusum = None
                if "zscore" in cfg.methods and z >= cfg.z_threshold:
                    z_alert = True
                    fired.append("zscore")
                if "cusum" in cfg.methods:
                    st.cusum = max(0.0, st.cusum + z - cfg.cusum_k)
                    if st.cusum >= cfg.cusum_h:
                        fired.append("cusum")
                        cusum = round(st.cusum, 3)
                        st.cusum = 0.0
                if fired:  # one alert per scope and window, naming every detector that fired
                    a = self._alert("+".join(fired), fname, value, start, p, st.mu, z, n, k)
                    a["methods"] = fired
                    if cusum is not None:
                        a["cusum"] = cusum
                    raised.append(a)
            if not z_alert:
                st.mu = p if st.mu is None else (1 - cfg.ewma_alpha) * st.mu + cfg.ewma_alpha * p
                st.n_windows += 1
        for a in raised:
            self.alerts.append(a)
            for sink in self.sinks:
                try:
                    sink.send(a)
                except Exception:  # noqa: BLE001 - one broken sink must not stop monitoring
                    logger.exception("alert sink %r failed", sink)
        return raised

    def _alert(
        self, method: str, fname: str, value: str, start: float, p: float, mu: float | None, z: float | None,
        n: int, k: int,
    ) -> Alert:
        key = f"{method}|{fname}|{value}|{start}"
        return {
            "id": hashlib.sha1(key.encode("utf-8")).hexdigest()[:16],
            "ts": _iso(start + self._window), "window_start": _iso(start),
            "scope": {"field": fname, "value": value}, "neg_share": round(p, 4),
            "baseline": None if mu is None else round(mu, 4), "z": None if z is None else round(z, 3),
            "count": n, "negatives": k, "method": method,
        }
