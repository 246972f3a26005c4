"""Fault injection: a save killed (SIGKILL) at each of its steps still leaves one complete version.

A child process saves a new version over an old one and kills itself at step k of
:data:`babelcart.fsutil.SAVE_STEPS`; the real loader must then find the old or the new version, whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from crash_child import ITEMS

from babelcart.fsutil import SAVE_STEPS

CHILD = Path(__file__).with_name("crash_child.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def _run_child(kind: str, folder: Path, generation: str, step: str) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(CHILD), kind, str(folder), generation, step],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
    return proc.returncode


def _load_items(kind: str, folder: Path) -> list[str]:
    """The items of the loaded copy, checked for being one whole version."""
    if kind == "model":
        from babelcart.models.folder import load_head_arrays, read_config

        cfg = read_config(folder)
        coef = load_head_arrays(folder, cfg)["coef"]  # checksum-checked against config.json
        n = len(cfg["labels"])
        assert coef.shape == (n, 4) and np.all(coef == n) and cfg["generation"] in ITEMS
        assert (folder / "README.md").read_text() == f"# {cfg['generation']}\n"
        return list(cfg["labels"])
    if kind == "index":
        from babelcart.apps.search import SearchIndex

        return list(SearchIndex.load(folder, verify=True).ids_)  # every file's SHA-256 checked
    from babelcart.apps.recommend import Recommender

    rec = Recommender.load(folder)
    assert len(rec.state_.popularity) == len(rec.item_ids_)
    return list(rec.item_ids_)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["model", "index", "recommender"])
def test_save_killed_at_each_step_leaves_old_or_new(kind: str, tmp_path: Path) -> None:
    outcomes = []
    for step in SAVE_STEPS:
        folder = tmp_path / step / kind
        assert _run_child(kind, folder, "old", "none") == 0
        assert _run_child(kind, folder, "new", step) == -signal.SIGKILL  # it really died at this step
        items = _load_items(kind, folder)
        assert items in (ITEMS["old"], ITEMS["new"]), (step, items)
        outcomes.append("new" if items == ITEMS["new"] else "old")
        assert [p.name for p in folder.parent.iterdir()] == [kind]  # leftovers of the dead save cleaned up
    # while the old folder is in place it stays; once it was moved aside, the finished new copy wins
    assert outcomes == ["old", "old", "old", "new", "new", "new"]


@pytest.mark.slow
def test_first_save_killed_leaves_nothing_or_the_new_version(tmp_path: Path) -> None:
    for step in ("written", "synced", "ready"):
        folder = tmp_path / step / "model"
        assert _run_child("model", folder, "new", step) == -signal.SIGKILL
        if step == "ready":  # finished and fsynced: recovered
            assert _load_items("model", folder) == ITEMS["new"]
        else:
            from babelcart.models.folder import ModelLoadError, read_config

            with pytest.raises(ModelLoadError, match="not found"):
                read_config(folder)
