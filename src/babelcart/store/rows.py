"""Row helpers of the store: content hashes, timestamps, batches, time windows and the upsert report."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from babelcart.store.schema import to_utc

#: Rows per statement in batched reads and writes.
CHUNK = 500

def content_hash(record: dict[str, Any]) -> str:
    """Stable SHA-256 of a record (keys sorted, ``_``-prefixed bookkeeping keys ignored)."""
    clean = {k: v for k, v in record.items() if not k.startswith("_") and k != "content_hash"}
    blob = json.dumps(clean, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_ts(value: Any) -> datetime | None:
    """``datetime``, ISO-8601 string (``Z`` allowed) or POSIX seconds → aware UTC; ``None`` stays ``None``.

    Raises ``ValueError`` for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, bool):
        raise ValueError(f"bad timestamp: {value!r}")
    if isinstance(value, int | float):
        from datetime import timezone

        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return to_utc(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"bad timestamp (want ISO-8601): {value!r}") from None
    raise ValueError(f"bad timestamp: {value!r}")


def chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def in_window(query: Select, ts: Any, since: datetime | str | None, until: datetime | str | None) -> Select:
    """``query`` restricted to rows with ``since <= ts < until``; a bound left ``None`` is open."""
    if since is not None:
        query = query.where(ts >= parse_ts(since))
    if until is not None:
        query = query.where(ts < parse_ts(until))
    return query


def last_wins(records: Iterable[dict[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get(key) in (None, ""):
            raise ValueError(f"record without {key!r}: {r!r:.200}")
        out[str(r[key])] = r
    return list(out.values())


@dataclass
class UpsertResult:
    """Which ids an upsert inserted, changed or found unchanged (same content hash)."""

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        """Inserted and updated ids."""
        return self.inserted + self.updated

    def as_dict(self) -> dict[str, int]:
        """Counts only."""
        return {"inserted": len(self.inserted), "updated": len(self.updated), "unchanged": len(self.unchanged)}
