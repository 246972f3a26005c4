"""``/v1/support/answer``: a customer message in, an answer template in the customer's language out."""

from __future__ import annotations

from fastapi import APIRouter

from babelcart.serve import adapters
from babelcart.serve.deps import ReadKey, ServicesDep, SettingsDep
from babelcart.serve.safety import check_text
from babelcart.serve.schemas import ErrorOut, SupportIn, SupportOut

router = APIRouter(prefix="/v1", tags=["support"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 422, 429, 501, 503)}


@router.post("/support/answer", response_model=SupportOut, responses=_ERRORS,
             summary="Answer a customer message (intent, template, confidence, handover)")
def support_answer(body: SupportIn, key: ReadKey, services: ServicesDep, settings: SettingsDep) -> SupportOut:
    check_text(body.message, settings, field="message")
    out = adapters.support_answer(services, body.message, lang=body.lang, params=body.params)
    if out.get("lang"):
        services.metrics.observe_langs("support", [str(out["lang"])])
    return SupportOut(**out)
