"""FastAPI dependencies (``Annotated`` aliases): settings, services, and API-key checks with scopes.

>>> @router.post("/v1/thing")                       # doctest: +SKIP
... def thing(key: ReadKey, services: ServicesDep): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from babelcart.config import Settings
from babelcart.serve.auth import KeyStore, RateLimiter
from babelcart.serve.services import Services

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="An API key made with `babelcart keys create`.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a Bearer token.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key id (``anonymous`` when auth is off) and its scope."""

    key_id: str
    scope: str


def _authenticate(request: Request, needed: str, header_key: str | None,
                  bearer: HTTPAuthorizationCredentials | None) -> Principal:
    state = request.app.state
    settings: Settings = state.settings
    metrics = state.services.metrics
    if not settings.auth_enabled:
        principal = Principal("anonymous", "admin")
    else:
        key = header_key or (bearer.credentials if bearer else None)
        if not key:
            metrics.auth_failures.labels("401").inc()
            raise HTTPException(401, "missing API key: send it in the X-API-Key header "
                                     "(or Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"})
        keys: KeyStore = state.keys
        rec = keys.verify(key)
        if rec is None:
            metrics.auth_failures.labels("401").inc()
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not rec.allows(needed):
            metrics.auth_failures.labels("403").inc()
            raise HTTPException(403, f"this key has scope {rec.scope!r}; this endpoint needs {needed!r}")
        principal = Principal(rec.id, rec.scope)
    limiter: RateLimiter = state.rate_limiter
    allowed, retry_after = limiter.acquire(principal.key_id)
    if not allowed:
        metrics.rate_limited.inc()
        raise HTTPException(429, f"rate limit exceeded ({settings.rate_limit_per_s:g} requests/s, burst "
                                 f"{settings.rate_limit_burst}); retry after {retry_after}s",
                            headers={"Retry-After": str(retry_after)})
    request.state.key_id = principal.key_id
    return principal


def require_read(request: Request, header_key: Annotated[str | None, Security(_api_key_header)] = None,
                 bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Principal:
    return _authenticate(request, "read", header_key, bearer)


def require_write(request: Request, header_key: Annotated[str | None, Security(_api_key_header)] = None,
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Principal:
    return _authenticate(request, "write", header_key, bearer)


def require_admin(request: Request, header_key: Annotated[str | None, Security(_api_key_header)] = None,
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Principal:
    return _authenticate(request, "admin", header_key, bearer)


ReadKey = Annotated[Principal, Depends(require_read)]
WriteKey = Annotated[Principal, Depends(require_write)]
AdminKey = Annotated[Principal, Depends(require_admin)]
