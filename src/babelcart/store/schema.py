"""The catalog schema: products, reviews, events, the model registry, alerts (SQLAlchemy 2, typed).

Times are stored as naive UTC (``UTCDateTime`` converts on the way in and attaches UTC on the way out), so
SQLite and PostgreSQL return the same values. JSON columns use the portable ``JSON`` type.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EVENT_TYPES = ("view", "click", "cart", "purchase")


def to_utc(ts: datetime | None) -> datetime | None:
    """Aware UTC ``datetime`` (naive input is taken as UTC)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as aware UTC, identically on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return to_utc(value)


class Base(DeclarativeBase):
    """Declarative base of every babelcart table."""


class SchemaVersion(Base):
    """One row: the number of migrations applied (see ``babelcart.store.repo.MIGRATIONS``)."""

    __tablename__ = "schema_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Product(Base):
    """A catalog item. ``content_hash`` is the hash of the source record (re-ingest skips equal hashes)."""

    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(300), index=True)
    price: Mapped[float | None] = mapped_column(Float)
    lang: Mapped[str | None] = mapped_column(String(20))
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Review(Base):
    """A review; ``text`` is stored PII-masked. ``dup_of`` names the review this one near-duplicates."""

    __tablename__ = "reviews"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    product_id: Mapped[str | None] = mapped_column(String(200), index=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    rating: Mapped[int | None] = mapped_column(Integer)
    sentiment: Mapped[str | None] = mapped_column(String(50))
    lang: Mapped[str | None] = mapped_column(String(20))
    ts: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    dup_of: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class Event(Base):
    """A user interaction; the same (user, item, type, ts) is stored once, so re-ingesting is harmless."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("user_id", "item_id", "type", "ts", name="uq_events_user_item_type_ts"),
        Index("ix_events_user_ts", "user_id", "ts"),
        Index("ix_events_item", "item_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(200), nullable=False)
    item_id: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    weight: Mapped[float | None] = mapped_column(Float)  # e.g. the quantity bought (None = 1)
    value: Mapped[float | None] = mapped_column(Float)  # e.g. quantity x unit price


class ModelEntry(Base):
    """The model registry: a name points at a model folder, with its task and metrics."""

    __tablename__ = "models"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    task: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Alert(Base):
    """A monitoring alert waiting for (or done with) delivery."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    delivered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
