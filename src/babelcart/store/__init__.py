"""Persistence: catalog, reviews, events, model registry and alerts (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from babelcart.store.repo import DEFAULT_URL, SCHEMA_VERSION, Store, UpsertResult, content_hash, parse_ts

__all__ = ["DEFAULT_URL", "SCHEMA_VERSION", "Store", "UpsertResult", "content_hash", "parse_ts"]
