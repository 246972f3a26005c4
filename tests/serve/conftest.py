"""Fixtures of the service tests: settings in a temp folder, keys of each scope, tiny fake models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_fakes import fake_loader, make_model

from babelcart.config import Settings, load_settings
from babelcart.serve.auth import KeyStore


@pytest.fixture()
def serve_settings(tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    make_model(models, "sentiment")
    make_model(models, "broken", broken=True)
    return load_settings(None, models_dir=models, keys_file=tmp_path / "keys.json", encoder="hash:64",
                         db_url=f"sqlite:///{tmp_path / 'serve.db'}", max_body_bytes=20_000, max_batch_items=8,
                         max_text_chars=2_000, rate_limit_per_s=1000.0, rate_limit_burst=1000,
                         batch_max_wait_ms=2.0)


@pytest.fixture()
def keys(serve_settings: Settings) -> dict[str, str]:
    store = KeyStore(serve_settings.keys_file)
    return {scope: store.create(scope=scope, name=f"test-{scope}")[0] for scope in ("read", "write", "admin")}


@pytest.fixture()
def make_client(serve_settings: Settings) -> Iterator[Callable[..., Any]]:
    """``make_client(**setting_overrides, services_kwargs={...})`` → a started TestClient."""
    from fastapi.testclient import TestClient

    from babelcart.serve.app import create_app
    from babelcart.serve.services import Services

    clients: list[Any] = []

    def make(services_kwargs: dict[str, Any] | None = None, raise_server_exceptions: bool = True,
             **overrides: Any) -> Any:
        settings = serve_settings.model_copy(update=overrides)
        services = Services(settings, **{"model_loader": fake_loader, **(services_kwargs or {})})
        client = TestClient(create_app(settings, services=services),
                            raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture()
def client(make_client: Callable[..., Any]) -> Any:
    return make_client()
