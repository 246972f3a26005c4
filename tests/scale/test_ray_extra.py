"""Without the [ray] extra, --engine ray stops with one 'error:' line naming the install command, before work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import babelcart.scale
from babelcart.cli import app
from babelcart.scale import RayMissingError


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import ray`` fail as it does where the extra is not installed."""
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("command", [
    ["embed", "{src}", "--out", "{out}", "--engine", "ray"],
    ["index", "build", "--catalog", "{src}", "--out", "{out}", "--engine", "ray"],
    ["predict", "{out}-missing-model", "{src}", "--out", "{out}", "--engine", "ray"],
])
def test_engine_ray_without_the_extra_is_one_error_line(no_ray: None, tmp_path: Path, command: list[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "p1", "title": "shoes", "text": "shoes"}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [a.format(src=src, out=out) for a in command]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: the Ray engine needs the [ray] extra: pip install 'babelcart[ray]'")
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not out.exists()


def test_library_names_the_extra(no_ray: None) -> None:
    with pytest.raises(RayMissingError, match=r"pip install 'babelcart\[ray\]'"):
        babelcart.scale.embed_catalog  # noqa: B018 - the lazy import is what is tested
