"""API keys (stored hashed, never in clear) with scopes, and per-key token-bucket rate limits.

A key looks like ``bc_<id>_<secret>``: ``id`` (8 hex chars) finds the record, ``secret`` (32 random bytes,
url-safe base64) is checked against ``sha256(salt || secret)`` with :func:`hmac.compare_digest`. A plain
salted SHA-256 is enough here because the secret is 256 bits of randomness (no dictionary to attack), and
it keeps authentication cheap per request. Scopes are ordered: ``admin`` ⊃ ``write`` ⊃ ``read``.

>>> store = KeyStore("keys.json")             # doctest: +SKIP
>>> key, rec = store.create(scope="read", name="web")  # doctest: +SKIP
>>> store.verify(key).scope                    # doctest: +SKIP
'read'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from babelcart.fsutil import atomic_write_text

logger = logging.getLogger(__name__)

SCOPES = ("read", "write", "admin")
_RANK = {s: i for i, s in enumerate(SCOPES)}
KEYS_FILE_VERSION = 1


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: no secret, only its salted hash."""

    id: str
    name: str
    scope: str
    salt: str
    hash: str
    created_at: str
    revoked: bool = False

    def allows(self, needed: str) -> bool:
        """True when this key's scope covers ``needed`` (admin ⊃ write ⊃ read)."""
        return not self.revoked and _RANK[self.scope] >= _RANK[needed]

    def public(self) -> dict[str, object]:
        """What may be shown (no salt, no hash)."""
        return {"id": self.id, "name": self.name, "scope": self.scope, "created_at": self.created_at,
                "revoked": self.revoked}


def _hash(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else ``None``."""
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "bc" or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """API keys in a JSON file (hashes only), written atomically; thread-safe; reloads when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._records: dict[str, KeyRecord] = {}
        self._mtime: float | None = None

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != KEYS_FILE_VERSION:
                raise ValueError(f"unsupported keys file version {data.get('version')!r}")
            self._records = {r["id"]: KeyRecord(**r) for r in data["keys"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"keys file {self.path} is corrupted: {exc}") from exc
        self._mtime = mtime

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": KEYS_FILE_VERSION, "keys": [asdict(r) for r in self._records.values()]}
        atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")
        self.path.chmod(0o600)
        self._mtime = self.path.stat().st_mtime

    def create(self, *, scope: str = "read", name: str = "") -> tuple[str, KeyRecord]:
        """Make a new key; returns ``(key, record)``. The key is shown only now: only its hash is stored."""
        if scope not in _RANK:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        with self._lock:
            self._load()
            key_id = secrets.token_hex(4)
            while key_id in self._records:
                key_id = secrets.token_hex(4)
            secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            salt = secrets.token_bytes(16)
            rec = KeyRecord(id=key_id, name=name, scope=scope, salt=salt.hex(), hash=_hash(salt, secret),
                            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            self._records[key_id] = rec
            self._save()
        return f"bc_{key_id}_{secret}", rec

    def list(self) -> list[KeyRecord]:
        """All keys (revoked ones too), oldest first."""
        with self._lock:
            self._load()
            return sorted(self._records.values(), key=lambda r: r.created_at)

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark a key revoked (kept for the audit trail); ``KeyError`` when unknown."""
        with self._lock:
            self._load()
            if key_id not in self._records:
                raise KeyError(f"no key with id {key_id!r}")
            rec = KeyRecord(**{**asdict(self._records[key_id]), "revoked": True})
            self._records[key_id] = rec
            self._save()
            return rec

    def verify(self, key: str) -> KeyRecord | None:
        """The record of a valid, unrevoked key, else ``None`` (constant-time hash comparison)."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._lock:
            self._load()
            rec = self._records.get(key_id)
        if rec is None:
            # same work as a real check so timing does not tell whether an id exists
            hmac.compare_digest(_hash(b"\0" * 16, secret), "0" * 64)
            return None
        ok = hmac.compare_digest(_hash(bytes.fromhex(rec.salt), secret), rec.hash)
        return rec if ok and not rec.revoked else None


class RateLimiter:
    """Token buckets per key: ``rate`` tokens per second, at most ``burst`` saved up. Thread-safe.

    >>> rl = RateLimiter(rate=1.0, burst=2)
    >>> rl.acquire("k")[0], rl.acquire("k")[0], rl.acquire("k")[0]
    (True, True, False)
    """

    def __init__(self, *, rate: float, burst: int, clock: object = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> tuple[bool, int]:
        """Take ``cost`` tokens; returns ``(allowed, retry_after_seconds)``."""
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return True, 0
            self._buckets[key] = (tokens, now)
            return False, max(1, math.ceil((cost - tokens) / self.rate))
