"""The FastAPI application factory: ``create_app(settings)`` (no app is built at import time).

>>> from babelcart.config import load_settings                  # doctest: +SKIP
>>> app = create_app(load_settings(models_dir="models"))       # doctest: +SKIP
>>> # uvicorn.run(app) — or `babelcart serve`
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from babelcart.config import Settings, settings_from_env
from babelcart.serve.auth import KeyStore, RateLimiter
from babelcart.serve.errors import ServiceError
from babelcart.serve.middleware import BodyLimitMiddleware, ObserveMiddleware, log_internal_error
from babelcart.serve.services import Services
from babelcart.version import __version__

logger = logging.getLogger(__name__)

DESCRIPTION = """Multilingual AI engine for cross-border e-commerce.

Authenticate with an API key (`babelcart keys create --scope read|write|admin`) in the `X-API-Key`
header or as `Authorization: Bearer <key>`. Scopes: `admin` ⊃ `write` ⊃ `read`. Errors are JSON
`{"detail": ...}`; 429 answers carry `Retry-After`.
"""


def _validation_summary(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"malformed JSON: {ctx.get('error', 'cannot parse the body')}"
        errors.append({"loc": list(err.get("loc", ())), "msg": msg, "type": err.get("type")})
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "invalid request: " + "; ".join(parts[:10]), errors  # input values are never echoed back


#: Routes whose clients read OpenAI's error shape ``{"error": {"message", "type", "code"}}``.
OPENAI_ROUTES = ("/v1/embeddings",)
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 413: "invalid_request_error", 422: "invalid_request_error",
                 429: "rate_limit_error"}


def _error_body(request: Request, status: int, detail: Any, **extra: Any) -> dict[str, Any]:
    """``{"detail": ...}``; OpenAI-compatible routes also get ``error`` so OpenAI clients show the message."""
    body = {"detail": detail, **extra}
    if request.url.path in OPENAI_ROUTES:
        body["error"] = {"message": str(detail), "type": _OPENAI_TYPES.get(status, "server_error"), "code": status}
    return body


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(_error_body(request, exc.status, str(exc)), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_error_body(request, exc.status_code, exc.detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_summary(exc)
        return JSONResponse(_error_body(request, 422, detail, errors=errors), status_code=422)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        error_id = log_internal_error(exc, request.method, request.url.path)
        return JSONResponse({"detail": "internal error", "error_id": error_id}, status_code=500)


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               keys: KeyStore | None = None) -> FastAPI:
    """Build the app. ``services`` (ready-made parts) and ``keys`` replace what ``settings`` would build."""
    from babelcart.serve.routes import (
        classify,
        embeddings,
        products,
        recommend,
        reviews,
        search,
        support,
        system,
        text,
    )

    settings = settings or (services.settings if services else Settings())
    services = services or Services(settings)
    if settings.shop:  # the shop profile: every detection of this process leans to its storefronts
        from babelcart.shop import ShopProfile, use_profile

        use_profile(ShopProfile.from_mapping(settings.shop, source="settings [shop]"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from fastapi.concurrency import run_in_threadpool

        try:  # warm up what is configured; failures show on /readyz, the service stays up
            ready, checks = await run_in_threadpool(services.readiness)
            if not ready:
                logger.warning("service started but not ready: %s", checks)
        except Exception:  # noqa: BLE001
            logger.exception("warm-up failed")
        yield
        services.close()

    app = FastAPI(title="babelcart", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.services = services
    app.state.keys = keys or KeyStore(settings.keys_file)
    app.state.rate_limiter = RateLimiter(rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst)
    _install_handlers(app)
    for module in (system, text, embeddings, classify, search, products, recommend, support, reviews):
        app.include_router(module.router)
    if settings.web_enabled:
        app.mount("/static", StaticFiles(directory=system.WEB_DIR), name="static")
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["X-API-Key", "Authorization",
                                                                         "Content-Type"])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=services.metrics)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory babelcart.serve.app:app_from_env`` (settings from the environment)."""
    return create_app(settings_from_env())
