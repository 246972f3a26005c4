"""Pure ASGI middleware: request body size limit (413), metrics + access log + security headers."""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from typing import Any

from babelcart.serve.metrics import Metrics
from babelcart.serve.safety import redact

logger = logging.getLogger("babelcart.serve.access")
error_logger = logging.getLogger("babelcart.serve.app")


def log_internal_error(exc: BaseException, method: str, path: str) -> str:
    """Log an unexpected error (PII-masked message, frames without source lines); returns its error id."""
    error_id = uuid.uuid4().hex[:12]
    frames = "".join(f"  {fs.filename}:{fs.lineno} in {fs.name}\n" for fs in traceback.extract_tb(exc.__traceback__))
    error_logger.error("internal error %s on %s %s: %s: %s\n%s", error_id, method, path, type(exc).__name__,
                       redact(str(exc)), frames)
    return error_id

Scope = dict[str, Any]
Message = dict[str, Any]


async def _send_json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()  # type: ignore[assignment]
                     ) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        detail = {"detail": f"request body too large: the limit is {self.max_bytes} bytes"}
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    await _send_json(send, 400, {"detail": "bad Content-Length header"})
                    return
                if too_big:
                    await _send_json(send, 413, detail, [(b"connection", b"close")])
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _send_json(send, 413, detail, [(b"connection", b"close")])
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        await self.app(scope, replay, send)


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_PAGE_CSP = (b"content-security-policy",
             b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
             b"connect-src 'self'; frame-ancestors 'none'")


class ObserveMiddleware:
    """Per request: metrics by route template, one access-log line (no bodies: nothing personal is logged),
    an ``X-Request-ID`` header and security headers (a strict CSP on the web page)."""

    def __init__(self, app: Any, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex[:16]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                if not scope["path"].startswith(("/v1/", "/metrics", "/healthz", "/readyz")):
                    headers.append(_PAGE_CSP)
                message = {**message, "headers": headers}
            await send(message)

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_wrapper(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:  # noqa: BLE001 - answer a generic 500 here, so no server logs the raw error
            route = scope.get("route")
            error_id = log_internal_error(exc, scope.get("method", ""), str(getattr(route, "path", scope["path"])))
            if not started:
                await _send_json(send_wrapper, 500, {"detail": "internal error", "error_id": error_id})
            status = 500
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                        else "unmatched")
            self.metrics.observe_request(scope.get("method", ""), template, status, elapsed)
            state = scope.get("state") or {}
            key_id = state.get("key_id", "-") if isinstance(state, dict) else "-"
            logger.info("%s %s %d %.1fms key=%s rid=%s", scope.get("method"), template, status,
                        elapsed * 1000, key_id, request_id)
