"""Imports run one way (docs/architecture.md): the import-linter contracts in pyproject.toml hold on src/, and an
import from a lower layer into a higher one, or a new circle, breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[dev]')")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_import_from_a_lower_layer_into_a_higher_one_fails(copy: Path) -> None:
    (copy / "src/babelcart/text/upward.py").write_text("from babelcart.apps import evaluation\n", encoding="utf-8")
    out = _lint(copy)
    assert out.returncode != 0
    assert "babelcart.text.upward -> babelcart.apps.evaluation" in out.stdout


def test_a_new_import_circle_fails(copy: Path) -> None:
    (copy / "src/babelcart/store/first.py").write_text("from babelcart.store import second\n", encoding="utf-8")
    (copy / "src/babelcart/store/second.py").write_text("from babelcart.store import first\n", encoding="utf-8")
    out = _lint(copy)
    assert out.returncode != 0
    assert "No cycles are allowed in babelcart.store" in out.stdout
