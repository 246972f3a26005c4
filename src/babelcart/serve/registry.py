"""Model folders served by name, loaded only from inside the registry path ``models_dir``.

A name is one path component (letters, digits, ``. _ -``, not starting with a dot); ``..``, absolute
paths, separators and symlinks that lead outside ``models_dir`` are refused as "unknown model" (404), so a
client can never make the service read an arbitrary folder. Loaded models are cached; a model that fails
to load is remembered as failed (503 for its requests, and on ``/readyz`` when it is preloaded) and
retried on the next request after ``retry_s`` seconds.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babelcart.models.load import load_model
from babelcart.serve.errors import NotFoundError, NotImplementedFeature, UnavailableError, missing_extra

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Loader = Callable[[Path], Any]


def default_loader(path: Path) -> Any:
    """:func:`babelcart.models.load_model`; a fine-tuned model without torch installed is a
    501 naming the ``pip install 'babelcart[train]'`` fix."""
    try:
        return load_model(path)
    except ImportError as exc:
        raise missing_extra("this model", "train", exc) from exc


class ModelRegistry:
    """Resolve, load and cache model folders under ``root``."""

    def __init__(self, root: str | Path, *, loader: Loader | None = None,
                 on_load: Callable[[str, float, bool], None] | None = None, retry_s: float = 30.0) -> None:
        self.root = Path(root)
        self.loader = loader or default_loader
        self.on_load = on_load
        self.retry_s = retry_s
        self._models: dict[str, Any] = {}
        self._failed: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str) -> Path:
        """The folder of model ``name``; :class:`NotFoundError` for anything not safely inside ``root``."""
        if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
            raise NotFoundError(f"unknown model {name!r}")
        root = self.root.resolve()
        path = self.root / name
        try:
            real = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            raise NotFoundError(f"unknown model {name!r}") from None
        if real.parent != root or not real.is_dir():
            raise NotFoundError(f"unknown model {name!r}")
        return real

    def names(self) -> list[str]:
        """Model folders available under ``root`` (folders holding a ``config.json``)."""
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            try:
                if (self.resolve(p.name) / "config.json").is_file():
                    out.append(p.name)
            except NotFoundError:
                continue
        return out

    def get(self, name: str) -> Any:
        """The loaded model (cached). 404 unknown, 503 failed to load, 501 an optional extra missing."""
        path = self.resolve(name)
        if name in self._models:
            return self._models[name]
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name in self._models:
                return self._models[name]
            failed = self._failed.get(name)
            if failed and time.monotonic() - failed[1] < self.retry_s:
                raise UnavailableError(f"model {name!r} failed to load: {failed[0]}")
            start = time.perf_counter()
            try:
                model = self.loader(path)
            except NotImplementedFeature:
                raise
            except Exception as exc:  # noqa: BLE001 - any loader error makes the model unavailable
                reason = _clean_reason(exc, path)
                logger.warning("model %s failed to load: %s", name, reason)
                self._failed[name] = (reason, time.monotonic())
                if self.on_load:
                    self.on_load(name, time.perf_counter() - start, False)
                raise UnavailableError(f"model {name!r} failed to load: {reason}") from None
            self._failed.pop(name, None)
            self._models[name] = model
            if self.on_load:
                self.on_load(name, time.perf_counter() - start, True)
            logger.info("model %s loaded in %.2fs", name, time.perf_counter() - start)
            return model

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)


def _clean_reason(exc: Exception, path: Path) -> str:
    """The loader's message without server paths."""
    msg = f"{type(exc).__name__}: {exc}"
    for p in {str(path), str(path.parent)}:
        msg = msg.replace(p, "<models>")
    return msg[:300]
