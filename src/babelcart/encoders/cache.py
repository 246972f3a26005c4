"""An on-disk embedding cache keyed by (encoder spec, role, text hash), stored in one SQLite file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _key(spec: str, role: str, text: str) -> str:
    return hashlib.sha256(f"{spec}\x00{role}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Vectors as raw float32 blobs in ``<dir>/embeddings.sqlite``; safe across threads and processes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS emb (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self._conn.commit()

    def get_many(self, spec: str, role: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        keys = [_key(spec, role, t) for t in texts]
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                q = f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(chunk))})"
                found.update(self._conn.execute(q, chunk).fetchall())
        return [np.frombuffer(found[k], dtype=np.float32).copy() if k in found else None for k in keys]

    def put_many(self, spec: str, role: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(_key(spec, role, t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors, strict=True)]
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO emb (k, v) VALUES (?, ?)", rows)
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
