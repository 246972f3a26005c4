"""The HTTP service: ``create_app(settings)`` builds the FastAPI app (needs the ``[serve]`` extra).

>>> from babelcart.serve import create_app   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from babelcart.extras import require_extra

__all__ = ["SERVE_MODULES", "create_app"]

#: What the ``[serve]`` extra brings that the service imports.
SERVE_MODULES = ("fastapi", "uvicorn", "prometheus_client")


def __getattr__(name: str) -> Any:
    if name == "create_app":
        require_extra("serve", SERVE_MODULES, "the HTTP service")
        from babelcart.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'babelcart.serve' has no attribute {name!r}")
