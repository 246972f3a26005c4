"""``Store``: the one door to the catalog database (SQLite file by default, PostgreSQL by URL).

>>> store = Store("sqlite://")                      # in memory; Store() is sqlite:///babelcart.db
>>> store.upsert_products([{"id": "p1", "title": "Red dress", "price": 30.0}]).inserted
['p1']
>>> store.upsert_products([{"id": "p1", "title": "Red dress", "price": 30.0}]).unchanged
['p1']

Writes are idempotent upserts (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL, a
select-then-write fallback elsewhere): a row is rewritten only when its ``content_hash`` changed.

Migrations are explicit: ``MIGRATIONS`` is an ordered list of functions ``fn(connection)``; the
``schema_version`` table holds how many were applied, and opening a ``Store`` applies the rest, each in its
own transaction. To change the schema, append a function (never edit or reorder old ones) and update the
models in ``schema.py`` to match.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.pool import StaticPool

from babelcart.extras import require_extra
from babelcart.store.rows import UpsertResult, chunks, content_hash, in_window, last_wins, parse_ts
from babelcart.store.schema import (
    EVENT_TYPES,
    Alert,
    Base,
    Event,
    ModelEntry,
    Product,
    Review,
    SchemaVersion,
    to_utc,
    utcnow,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///babelcart.db"

PRODUCTS = cast(Table, Product.__table__)
REVIEWS = cast(Table, Review.__table__)
EVENTS = cast(Table, Event.__table__)
MODELS = cast(Table, ModelEntry.__table__)
ALERTS = cast(Table, Alert.__table__)
VERSION = cast(Table, SchemaVersion.__table__)

PRODUCT_FIELDS = ("title", "description", "category", "price", "lang", "attrs")
REVIEW_FIELDS = ("product_id", "text", "rating", "sentiment", "lang", "ts", "dup_of")


# --------------------------------------------------------------------------------------------- migrations
def _m001_initial(conn: Connection) -> None:
    """Version 1: products, reviews, events, models, alerts."""
    Base.metadata.create_all(conn, tables=[PRODUCTS, REVIEWS, EVENTS, MODELS, ALERTS], checkfirst=True)


def _m002_event_weights(conn: Connection) -> None:
    """Version 2: events get ``weight`` (quantity) and ``value`` (quantity x price), both nullable."""
    have = {c["name"] for c in inspect(conn).get_columns("events")}
    for col in ("weight", "value"):
        if col not in have:
            conn.execute(sql_text(f"ALTER TABLE events ADD COLUMN {col} FLOAT"))


MIGRATIONS: list[Callable[[Connection], None]] = [_m001_initial, _m002_event_weights]
SCHEMA_VERSION = len(MIGRATIONS)


# -------------------------------------------------------------------------------------------------- store
class Store:
    """Catalog, reviews, events, model registry and alerts in one SQL database.

    ``url`` is a SQLAlchemy URL (``sqlite:///file.db``, ``sqlite://`` in memory,
    ``postgresql+psycopg://user:pw@host/db``) or a plain file path (taken as SQLite).
    """

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False) -> None:
        if "://" not in url:
            url = f"sqlite:///{url}"
        self.url = url
        self.engine: Engine = self._make_engine(url, echo=echo)
        self.dialect = self.engine.dialect.name
        self._migrate()

    # ---- engine and migrations
    @staticmethod
    def _make_engine(url: str, *, echo: bool) -> Engine:
        if url.startswith("postgresql"):
            require_extra("postgres", ["psycopg"], "PostgreSQL")
        if not url.startswith("sqlite"):
            return create_engine(url, echo=echo, pool_pre_ping=True)
        memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            Base.metadata.create_all(conn, tables=[VERSION], checkfirst=True)
            row = conn.execute(select(VERSION.c.version).where(VERSION.c.id == 1)).first()
            if row is None:
                conn.execute(VERSION.insert().values(id=1, version=0, applied_at=utcnow()))
                current = 0
            else:
                current = int(row[0])
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"database {self.url!r} has schema version {current}, newer than this babelcart "
                f"({len(MIGRATIONS)}); upgrade babelcart"
            )
        for version in range(current, len(MIGRATIONS)):
            with self.engine.begin() as conn:
                MIGRATIONS[version](conn)
                conn.execute(update(VERSION).where(VERSION.c.id == 1)
                             .values(version=version + 1, applied_at=utcnow()))
            logger.info("store %s: migrated to schema version %d", self.dialect, version + 1)

    @property
    def schema_version(self) -> int:
        """Number of migrations applied to this database."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(VERSION.c.version).where(VERSION.c.id == 1)).scalar_one())

    def table_names(self) -> list[str]:
        """Tables present in the database."""
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def counts(self) -> dict[str, int]:
        """Row counts of every data table."""
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in (PRODUCTS, REVIEWS, EVENTS, MODELS, ALERTS)}

    # ---- generic reads
    def _rows(self, query: Executable) -> list[dict[str, Any]]:
        """Every row of ``query`` as a dict."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _first(self, query: Executable) -> dict[str, Any] | None:
        """The first row of ``query`` as a dict, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    # ---- generic upsert
    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT construct (with ``on_conflict_do_update``/``_do_nothing``)."""
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], key: str,
                cols: Sequence[str], *, only_if_hash_changed: bool = True) -> None:
        if not rows:
            return
        if self.dialect in ("sqlite", "postgresql"):
            for chunk in chunks(rows):
                stmt = self._insert(table)
                where = (table.c.content_hash != stmt.excluded.content_hash) if only_if_hash_changed else None
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c[key]], set_={c: stmt.excluded[c] for c in cols}, where=where)
                conn.execute(stmt, list(chunk))
            return
        for r in rows:  # portable fallback
            exists = conn.execute(select(table.c[key]).where(table.c[key] == r[key])).first()
            if exists:
                conn.execute(update(table).where(table.c[key] == r[key]).values({c: r[c] for c in cols}))
            else:
                conn.execute(table.insert().values(r))

    def _hashes(self, conn: Connection, table: Table, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in chunks(list(ids)):
            for rid, h in conn.execute(select(table.c.id, table.c.content_hash).where(table.c.id.in_(chunk))):
                out[rid] = h
        return out

    def _classify(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> UpsertResult:
        stored = self._hashes(conn, table, [r["id"] for r in rows])
        res = UpsertResult()
        for r in rows:
            old = stored.get(r["id"])
            (res.inserted if old is None else res.unchanged if old == r["content_hash"] else res.updated
             ).append(r["id"])
        return res

    # ---- products
    @staticmethod
    def _product_row(rec: dict[str, Any], now: datetime) -> dict[str, Any]:
        title = rec.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"product {rec.get('id')!r} has no title")
        price = rec.get("price")
        if price is not None and price != "":
            price = float(price)
            if price != price or price < 0:
                raise ValueError(f"product {rec.get('id')!r} has a bad price {rec.get('price')!r}")
        else:
            price = None
        row = {"id": str(rec["id"]), "title": title, "description": rec.get("description"),
               "category": rec.get("category"), "price": price, "lang": rec.get("lang"),
               "attrs": rec.get("attrs")}
        row["content_hash"] = rec.get("content_hash") or content_hash(row)
        row["updated_at"] = now
        return row

    def upsert_products(self, records: Iterable[dict[str, Any]]) -> UpsertResult:
        """Insert or update products (``id`` and ``title`` required); a later duplicate id wins.

        Unchanged rows (same ``content_hash``, computed from the fields when not given) are not rewritten.
        """
        now = utcnow()
        rows = [self._product_row(r, now) for r in last_wins(records)]
        with self.engine.begin() as conn:
            res = self._classify(conn, PRODUCTS, rows)
            changed = set(res.changed)
            self._upsert(conn, PRODUCTS, [r for r in rows if r["id"] in changed], "id",
                         [*PRODUCT_FIELDS, "content_hash", "updated_at"])
        return res

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        """One product as a dict, or ``None``."""
        return self._first(select(PRODUCTS).where(PRODUCTS.c.id == product_id))

    def get_products(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The products among ``ids`` that exist, in the order asked."""
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(ids))):
                for row in conn.execute(select(PRODUCTS).where(PRODUCTS.c.id.in_(chunk))):
                    found[row.id] = dict(row._mapping)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def list_products(self, *, category: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[dict[str, Any]]:
        """Products ordered by id, optionally one category."""
        q = select(PRODUCTS).order_by(PRODUCTS.c.id).offset(offset)
        if category is not None:
            q = q.where(PRODUCTS.c.category == category)
        if limit is not None:
            q = q.limit(limit)
        return self._rows(q)

    def product_ids(self) -> set[str]:
        """All product ids."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(PRODUCTS.c.id)).scalars())

    def product_hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """``{id: content_hash}`` for ``ids`` (all products when ``None``)."""
        with self.engine.connect() as conn:
            if ids is None:
                return dict(conn.execute(select(PRODUCTS.c.id, PRODUCTS.c.content_hash)).tuples().all())
            return self._hashes(conn, PRODUCTS, ids)

    def products_to_index(self) -> list[dict[str, Any]]:
        """Products never indexed or changed since they were last indexed."""
        q = select(PRODUCTS).where(or_(PRODUCTS.c.indexed_at.is_(None),
                                       PRODUCTS.c.indexed_at < PRODUCTS.c.updated_at)).order_by(PRODUCTS.c.id)
        return self._rows(q)

    def mark_indexed(self, ids: Sequence[str], ts: datetime | None = None) -> None:
        """Record that ``ids`` are in the search index as of ``ts`` (now)."""
        ts = ts or utcnow()
        with self.engine.begin() as conn:
            for chunk in chunks(list(ids)):
                conn.execute(update(PRODUCTS).where(PRODUCTS.c.id.in_(chunk)).values(indexed_at=ts))

    def delete_products(self, ids: Sequence[str], *, with_reviews: bool = False) -> int:
        """Delete products (and their reviews when ``with_reviews``); returns how many products went."""
        n = 0
        with self.engine.begin() as conn:
            for chunk in chunks(list(ids)):
                n += conn.execute(delete(PRODUCTS).where(PRODUCTS.c.id.in_(chunk))).rowcount or 0
                if with_reviews:
                    conn.execute(delete(REVIEWS).where(REVIEWS.c.product_id.in_(chunk)))
        return n

    # ---- reviews
    @staticmethod
    def _review_row(rec: dict[str, Any]) -> dict[str, Any]:
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"review {rec.get('id')!r} has no text")
        rating = rec.get("rating")
        if rating is not None and rating != "":
            if isinstance(rating, bool) or float(rating) != int(float(rating)):
                raise ValueError(f"review {rec.get('id')!r} has a bad rating {rating!r}")
            rating = int(float(rating))
        else:
            rating = None
        row = {"id": str(rec["id"]), "product_id": rec.get("product_id"), "text": text, "rating": rating,
               "sentiment": rec.get("sentiment"), "lang": rec.get("lang"), "ts": parse_ts(rec.get("ts")),
               "dup_of": rec.get("dup_of")}
        row["content_hash"] = rec.get("content_hash") or content_hash(row)
        return row

    def upsert_reviews(self, records: Iterable[dict[str, Any]]) -> UpsertResult:
        """Insert or update reviews (``id`` and ``text`` required; ``text`` should already be PII-masked)."""
        rows = [self._review_row(r) for r in last_wins(records)]
        with self.engine.begin() as conn:
            res = self._classify(conn, REVIEWS, rows)
            changed = set(res.changed)
            self._upsert(conn, REVIEWS, [r for r in rows if r["id"] in changed], "id",
                         [*REVIEW_FIELDS, "content_hash"])
        return res

    def get_review(self, review_id: str) -> dict[str, Any] | None:
        """One review, or ``None``."""
        return self._first(select(REVIEWS).where(REVIEWS.c.id == review_id))

    def review_hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """``{id: content_hash}`` for ``ids`` (all reviews when ``None``)."""
        with self.engine.connect() as conn:
            if ids is None:
                return dict(conn.execute(select(REVIEWS.c.id, REVIEWS.c.content_hash)).tuples().all())
            return self._hashes(conn, REVIEWS, ids)

    def list_reviews(self, *, product_id: str | None = None, lang: str | None = None,
                     since: datetime | str | None = None, until: datetime | str | None = None,
                     include_duplicates: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
        """Reviews ordered by (ts, id), filtered by product, language and ``since <= ts < until``."""
        q = select(REVIEWS).order_by(REVIEWS.c.ts, REVIEWS.c.id)
        if product_id is not None:
            q = q.where(REVIEWS.c.product_id == product_id)
        if lang is not None:
            q = q.where(REVIEWS.c.lang == lang)
        q = in_window(q, REVIEWS.c.ts, since, until)
        if not include_duplicates:
            q = q.where(REVIEWS.c.dup_of.is_(None))
        if limit is not None:
            q = q.limit(limit)
        return self._rows(q)

    def delete_reviews(self, ids: Sequence[str]) -> int:
        """Delete reviews by id; returns how many went."""
        n = 0
        with self.engine.begin() as conn:
            for chunk in chunks(list(ids)):
                n += conn.execute(delete(REVIEWS).where(REVIEWS.c.id.in_(chunk))).rowcount or 0
        return n

    # ---- events
    @staticmethod
    def event_row(rec: dict[str, Any]) -> dict[str, Any]:
        """Validate one event record into a row; raises ``ValueError`` saying what is wrong."""
        user, item, etype = rec.get("user_id"), rec.get("item_id"), rec.get("type")
        if user in (None, "") or item in (None, ""):
            raise ValueError("event needs user_id and item_id")
        if etype not in EVENT_TYPES:
            raise ValueError(f"bad event type {etype!r} (want one of {', '.join(EVENT_TYPES)})")
        ts = parse_ts(rec.get("ts"))
        if ts is None:
            raise ValueError("event has no ts")
        row = {"user_id": str(user), "item_id": str(item), "type": etype, "ts": ts, "weight": None, "value": None}
        for key in ("weight", "value"):
            raw = rec.get(key)
            if raw in (None, ""):
                continue
            try:
                num = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"event {key} is not a number: {raw!r}") from None
            if isinstance(raw, bool) or not math.isfinite(num) or num < 0:
                raise ValueError(f"event {key} must be a finite number >= 0: {raw!r}")
            row[key] = num
        return row

    def add_events(self, records: Iterable[dict[str, Any]]) -> int:
        """Append events; an event equal to a stored one (user, item, type, ts) is skipped.

        Returns the number of new rows. Raises ``ValueError`` on the first bad record (validate first with
        ``Store.event_row`` to handle lines one by one).
        """
        rows = list({(r["user_id"], r["item_id"], r["type"], r["ts"]): r
                     for r in (self.event_row(e) for e in records)}.values())
        if not rows:
            return 0
        with self.engine.begin() as conn:
            before = int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())
            if self.dialect in ("sqlite", "postgresql"):
                for chunk in chunks(rows):
                    stmt = self._insert(EVENTS).on_conflict_do_nothing(
                        index_elements=["user_id", "item_id", "type", "ts"])
                    conn.execute(stmt, list(chunk))
            else:  # pragma: no cover - other dialects
                for r in rows:
                    c = EVENTS.c
                    if conn.execute(select(c.id).where(c.user_id == r["user_id"], c.item_id == r["item_id"],
                                                       c.type == r["type"], c.ts == r["ts"])).first() is None:
                        conn.execute(EVENTS.insert().values(r))
            after = int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())
        return after - before

    def list_events(self, *, user_id: str | None = None, item_id: str | None = None,
                    since: datetime | str | None = None, until: datetime | str | None = None,
                    types: Sequence[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Events ordered by (ts, id), filtered by user, item, type and ``since <= ts < until``."""
        q = select(EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.type, EVENTS.c.ts, EVENTS.c.weight,
                   EVENTS.c.value).order_by(
            EVENTS.c.ts, EVENTS.c.id)
        if user_id is not None:
            q = q.where(EVENTS.c.user_id == user_id)
        if item_id is not None:
            q = q.where(EVENTS.c.item_id == item_id)
        q = in_window(q, EVENTS.c.ts, since, until)
        if types is not None:
            q = q.where(EVENTS.c.type.in_(list(types)))
        if limit is not None:
            q = q.limit(limit)
        return self._rows(q)

    def user_ids(self) -> set[str]:
        """Every user with at least one event."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(EVENTS.c.user_id).distinct()).scalars())

    def delete_events(self, *, user_id: str | None = None, before: datetime | str | None = None) -> int:
        """Delete one user's events and/or events older than ``before``; returns how many went."""
        if user_id is None and before is None:
            raise ValueError("delete_events needs user_id or before (refusing to delete every event)")
        q = delete(EVENTS)
        if user_id is not None:
            q = q.where(EVENTS.c.user_id == user_id)
        if before is not None:
            q = q.where(EVENTS.c.ts < parse_ts(before))
        with self.engine.begin() as conn:
            return conn.execute(q).rowcount or 0

    # ---- model registry
    def register_model(self, name: str, path: str, task: str, *, metrics: dict[str, Any] | None = None,
                       created_at: datetime | None = None) -> dict[str, Any]:
        """Add or replace the registry entry ``name``; returns it."""
        if not name or not task:
            raise ValueError("register_model needs a name and a task")
        row = {"name": name, "path": str(path), "task": task, "metrics": metrics,
               "created_at": to_utc(created_at) or utcnow()}
        with self.engine.begin() as conn:
            self._upsert(conn, MODELS, [row], "name", ["path", "task", "metrics", "created_at"],
                         only_if_hash_changed=False)
        return self.get_model(name) or row

    def get_model(self, name: str) -> dict[str, Any] | None:
        """One registry entry, or ``None``."""
        return self._first(select(MODELS).where(MODELS.c.name == name))

    def list_models(self, task: str | None = None) -> list[dict[str, Any]]:
        """Registry entries, newest first, optionally for one task."""
        q = select(MODELS).order_by(MODELS.c.created_at.desc(), MODELS.c.name)
        if task is not None:
            q = q.where(MODELS.c.task == task)
        return self._rows(q)

    def delete_model(self, name: str) -> bool:
        """Remove a registry entry (not its files); True when it existed."""
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(MODELS).where(MODELS.c.name == name)).rowcount)

    # ---- alerts
    def add_alert(self, scope: dict[str, Any], payload: dict[str, Any], *, ts: datetime | str | None = None
                  ) -> int:
        """Store a new undelivered alert; returns its id."""
        if not isinstance(scope, dict) or not isinstance(payload, dict):
            raise TypeError("scope and payload must be dicts")
        with self.engine.begin() as conn:
            res = conn.execute(ALERTS.insert().values(ts=parse_ts(ts) or utcnow(), scope=scope, payload=payload,
                                                      delivered=False, attempts=0))
            key = res.inserted_primary_key
            assert key is not None
            return int(key[0])

    def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert, or ``None``."""
        return self._first(select(ALERTS).where(ALERTS.c.id == alert_id))

    def list_alerts(self, *, delivered: bool | None = None, since: datetime | str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts ordered by (ts, id); ``delivered=False`` gives the delivery queue."""
        q = select(ALERTS).order_by(ALERTS.c.ts, ALERTS.c.id)
        if delivered is not None:
            q = q.where(ALERTS.c.delivered.is_(delivered))
        if since is not None:
            q = q.where(ALERTS.c.ts >= parse_ts(since))
        if limit is not None:
            q = q.limit(limit)
        return self._rows(q)

    def mark_delivered(self, alert_id: int, *, delivered: bool = True) -> bool:
        """Record one delivery attempt (``attempts += 1``) and whether it succeeded; False if no such id."""
        with self.engine.begin() as conn:
            res = conn.execute(update(ALERTS).where(ALERTS.c.id == alert_id)
                               .values(delivered=delivered, attempts=ALERTS.c.attempts + 1))
            return bool(res.rowcount)
