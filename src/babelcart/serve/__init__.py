"""The HTTP service: ``create_app(settings)`` builds the FastAPI app (needs the ``[serve]`` extra).

>>> from babelcart.serve import create_app   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        try:
            from babelcart.serve.app import create_app
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"the HTTP service needs its extra: pip install 'babelcart[serve]' ({exc})") from exc
        return create_app
    raise AttributeError(f"module 'babelcart.serve' has no attribute {name!r}")
