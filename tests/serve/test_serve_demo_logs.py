"""serve --demo reports its preparation steps as progress (INFO), not as warnings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("fastapi")


def test_demo_preparation_is_info_not_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from babelcart.config import load_settings
    from babelcart.serve.demo import prepare_demo

    base = load_settings(None, encoder="hash:64", cache_dir=str(tmp_path / "emb"), models_dir=tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="babelcart.serve.demo"):
        prepare_demo(base, tmp_path / "demo")
    steps = [r for r in caplog.records if r.name == "babelcart.serve.demo"]
    assert any("building the demo search index" in r.getMessage() for r in steps)
    assert steps and all(r.levelno == logging.INFO for r in steps), [(r.levelname, r.getMessage()) for r in steps]
