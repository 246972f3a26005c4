"""A real local Ray (two CPUs, no dashboard), started once for the Ray tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def local_ray() -> Iterator[str]:
    """Start a local Ray; yields its GCS address (a subprocess driver connects with it)."""
    ray = pytest.importorskip("ray")
    from babelcart.scale.ray_jobs import init_ray

    init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
