"""The public API is small and every name in ``__all__`` imports."""

from __future__ import annotations

import subprocess
import sys

import babelcart


def test_all_names_import() -> None:
    for name in babelcart.__all__:
        assert getattr(babelcart, name) is not None


def test_import_has_no_heavy_side_effects() -> None:
    code = "import sys, babelcart, babelcart.cli; print(any(m in sys.modules for m in ('torch', 'fastapi', 'ray')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
