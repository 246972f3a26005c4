"""Scale-out: babelcart's batch jobs (embed, classify, index) on Ray Data; ``babelcart[ray]``.

Names are imported lazily, so ``import babelcart.scale`` does not import Ray; without the extra, using one
raises :class:`RayMissingError`, which names the install command.
"""

from __future__ import annotations

import importlib
from typing import Any

from babelcart.extras import MissingExtraError

__all__ = ["JobArgumentError", "JobFailedError", "JobResult", "RayMissingError", "classify_catalog", "embed_catalog",
           "index_catalog", "init_ray", "require_ray"]

_JOBS = {"JobResult", "classify_catalog", "embed_catalog", "index_catalog", "init_ray"}

INSTALL_HINT = "pip install 'babelcart[ray]'"


class RayMissingError(MissingExtraError):
    """The ``[ray]`` extra is not installed."""


class JobArgumentError(ValueError):
    """An input or output a job cannot use: no file matches, mixed formats, an output folder holding files."""


class JobFailedError(RuntimeError):
    """A Ray task failed for good (after Ray's retries): an unreadable file, a lost node, storage refusing a write."""


def require_ray() -> None:
    """Return when Ray Data imports; else raise :class:`RayMissingError` with the install command."""
    try:
        import ray.data  # noqa: F401 - the check itself
    except ImportError as exc:
        raise RayMissingError(f"the Ray engine needs the [ray] extra: {INSTALL_HINT} "
                              f"({exc.name or 'ray'} is not installed)") from exc


def __getattr__(name: str) -> Any:
    if name in _JOBS:
        require_ray()
        return getattr(importlib.import_module("babelcart.scale.ray_jobs"), name)
    raise AttributeError(f"module 'babelcart.scale' has no attribute {name!r}")
