"""annotate_model_folder: one atomic step that adds to config.json and the card, never writing through the hard
links it makes for the other files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from babelcart.models.folder import annotate_model_folder, read_config, save_model_folder


def test_annotation_adds_config_and_card_and_leaves_the_old_files_alone(tmp_path: Path) -> None:
    folder = save_model_folder(tmp_path / "m", config={"method": "head", "task": "classify"},
                               arrays={"w": np.ones((2, 3), dtype=np.float32)}, metrics={"dev": 0.5}, card="# card")
    outside = tmp_path / "config_before.json"
    os.link(folder / "config.json", outside)  # a second name for the old config's bytes
    weights_before = (folder / "head.safetensors").read_bytes()
    annotate_model_folder(folder, config_update={"auto": {"chosen": "head"}}, card_section="## auto\nchose head")
    assert read_config(folder)["auto"] == {"chosen": "head"}
    assert (folder / "README.md").read_text(encoding="utf-8") == "# card\n\n## auto\nchose head\n"
    assert "auto" not in json.loads(outside.read_text(encoding="utf-8"))
    assert (folder / "head.safetensors").read_bytes() == weights_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config_before.json", "m"]  # no temporary folder left
