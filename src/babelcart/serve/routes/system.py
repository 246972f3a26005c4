"""``/healthz``, ``/readyz``, ``/metrics`` and the web page at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from babelcart.serve.deps import ServicesDep
from babelcart.serve.metrics import CONTENT_TYPE_LATEST
from babelcart.serve.schemas import HealthOut, ReadyOut
from babelcart.version import __version__

router = APIRouter(tags=["system"])

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
def healthz() -> HealthOut:
    return HealthOut(version=__version__)


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}},
            summary="Readiness: every configured model, index and database loads (503 otherwise)")
async def readyz(services: ServicesDep) -> Response:
    ready, checks = await run_in_threadpool(services.readiness)
    body = ReadyOut(ready=ready, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
def index_page() -> Response:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html")
