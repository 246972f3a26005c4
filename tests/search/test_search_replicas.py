"""Service replicas on one PostgreSQL index, as real processes (uvicorn on loopback): a product written through
one is found through the other's next search; /readyz follows the database down and back up with no restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import babelcart

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
httpx = pytest.importorskip("httpx", reason="the [serve] extra is not installed")
pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
from babelcart.apps.search.postgres import PostgresSearchIndex  # noqa: E402

CATALOG = [{"id": "p1", "title": "Running shoes", "lang": "en", "category": "shoes"},
           {"id": "p2", "title": "Leather wallet", "lang": "en", "category": "accessories"},
           {"id": "p3", "title": "Kaffeebecher aus Keramik", "lang": "de", "category": "kitchen"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def start_replica(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``start_replica(index_url)`` → base URL of a new service process (auth off, hash encoder)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(index_url: str) -> str:
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(Path(babelcart.__file__).resolve().parents[1]),
               "BABELCART_INDEX_DIR": index_url, "BABELCART_AUTH_ENABLED": "false", "BABELCART_ENCODER": "hash:256",
               "BABELCART_KEYS_FILE": str(tmp_path / "keys.json"), "BABELCART_MODELS_DIR": str(tmp_path / "models"),
               "BABELCART_RATE_LIMIT_PER_S": "1000", "BABELCART_RATE_LIMIT_BURST": "1000"}
        log = (tmp_path / f"replica-{port}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "babelcart.serve.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if procs[-1].poll() is not None:
                raise AssertionError(f"replica exited: {(tmp_path / f'replica-{port}.log').read_text()[-2000:]}")
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, "the replica to start")
        return base

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def _search(base: str, query: str, **body: Any) -> list[str]:
    r = httpx.post(f"{base}/v1/search", json={"query": query, "mode": "bm25", **body}, timeout=30)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def test_a_write_through_one_replica_is_found_through_the_other(pg_url: str, hash_encoder, start_replica
                                                               ) -> None:  # type: ignore[no-untyped-def]
    url = f"{pg_url}&schema=replicas"
    PostgresSearchIndex.build(CATALOG, url, encoder=hash_encoder).close()
    a, b = start_replica(url), start_replica(url)
    assert _search(b, "trail sneakers") == []
    r = httpx.post(f"{a}/v1/products", json={"products": [
        {"id": "p9", "title": "Trail sneakers, waterproof", "lang": "en", "category": "shoes", "price": 70},
        {"id": "bad", "price": "cheap"},
        {"id": "p2", "title": "Leather wallet, black", "lang": "en"}]}, timeout=30)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["added"], out["replaced"]) == (2, 1)
    assert [(e["index"], e["id"]) for e in out["errors"]] == [(1, "bad")]
    assert _search(b, "trail sneakers") == ["p9"]
    assert _search(b, "sneakers", filters={"category": "shoes", "price_max": 80}) == ["p9"]
    hits = httpx.post(f"{b}/v1/search", json={"query": "wallet", "mode": "bm25"}, timeout=30).json()["results"]
    assert [(h["id"], h["title"]) for h in hits] == [("p2", "Leather wallet, black")]  # one row, the last write
    r = httpx.request("DELETE", f"{b}/v1/products", json={"ids": ["p9", "nope"]}, timeout=30)
    assert r.json() == {"deleted": ["p9"], "missing": ["nope"]}
    assert _search(a, "trail sneakers") == []
    assert httpx.get(f"{a}/readyz", timeout=30).json()["checks"]["search_index"] == "ok"


def test_readyz_follows_the_database_down_and_up(hash_encoder, start_replica) -> None:  # type: ignore[no-untyped-def]
    from pg_embedded import data_folder, restart, start

    with data_folder() as folder:
        server = start(folder)
        try:
            url = server.get_uri(driver="psycopg") + "&schema=shop"
            PostgresSearchIndex.build(CATALOG, url, encoder=hash_encoder).close()
            base = start_replica(url)
            assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
            server.stop()
            r = httpx.get(f"{base}/readyz", timeout=30)
            assert r.status_code == 503 and r.json()["checks"]["search_index"] == "unavailable"
            assert httpx.post(f"{base}/v1/search", json={"query": "wallet"}, timeout=30).status_code == 503
            restart(server)
            _wait(lambda: httpx.get(f"{base}/readyz", timeout=30).status_code == 200, "/readyz to recover")
            assert _search(base, "wallet") == ["p2"]
        finally:
            server.cleanup()


def test_a_replica_killed_during_a_write_burst_loses_nothing_committed(pg_url: str, hash_encoder, start_replica
                                                                       ) -> None:  # type: ignore[no-untyped-def]
    import signal
    import threading

    url = f"{pg_url}&schema=burst"
    PostgresSearchIndex.build(CATALOG, url, encoder=hash_encoder).close()
    a, b = start_replica(url), start_replica(url)
    acked: list[str] = []

    def burst() -> None:
        for i in range(200):
            try:
                r = httpx.post(f"{a}/v1/products", json={"products": [
                    {"id": f"burst-{i}-{j}", "title": f"burst item {i} {j}", "lang": "en"} for j in range(5)]},
                    timeout=10)
            except httpx.HTTPError:
                return  # the replica is gone
            if r.status_code == 200:
                acked.extend(f"burst-{i}-{j}" for j in range(5))

    writer = threading.Thread(target=burst)
    writer.start()
    _wait(lambda: len(acked) >= 20, "some writes to be acknowledged")
    os.kill(_pid_on_port(a), signal.SIGKILL)
    writer.join(60)
    assert acked
    for pid in (acked[0], acked[len(acked) // 2], acked[-1]):
        i, j = pid.split("-")[1:]
        assert pid in _search(b, f"burst item {i} {j}", k=3)  # committed before the kill: kept, and b answers
    ids = PostgresSearchIndex.open(url, encoder=hash_encoder)
    try:
        assert set(acked) <= ids.live_ids()
    finally:
        ids.close()


def _pid_on_port(base: str) -> int:
    """The process id of the replica listening at ``base``."""
    import psutil

    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return int(conn.pid)
    raise AssertionError(f"nothing listens on {port}")
