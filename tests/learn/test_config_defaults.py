"""One default per setting: ``babelcart train``'s options and the fine-tune's FitOptions read TrainConfig's, and the
library call and the CLI call with the same inputs and seed write the same model."""

from __future__ import annotations

import inspect
import json
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from typer.testing import CliRunner

import babelcart
from babelcart.cli import app
from babelcart.cli.learn import train as cli_train
from babelcart.datasets.records import write_records
from babelcart.learn.config import FitOptions, TrainConfig, config_default

#: CLI options whose TrainConfig field has another name or shape.
RENAMED = {"train_file": "train", "train_embeddings": "freeze_embeddings", "quiet": "show_progress",
           "task": "heads", "label_field": "heads"}
#: TrainConfig fields that are not ``babelcart train`` options (library use only), each with the reason.
LIBRARY_ONLY = {"role": "query or passage vectors: the CLI always trains on query vectors",
                "calibrate": "temperature calibration of the frozen head: on for every CLI model",
                "pseudo_weight": "weight of pseudo-labelled rows: a research knob, no option",
                "parallel_langs": "an option, but a list of codes on the CLI and pairs in the config"}
#: CLI list options: no value is the field's empty list.
LISTS = {"unlabeled", "parallel", "parallel_langs"}


def _cli_defaults() -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(cli_train).parameters.items()}


def _field_default(name: str) -> object:
    f = TrainConfig.__dataclass_fields__[name]
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]


def test_every_cli_default_is_the_config_default() -> None:
    cli = _cli_defaults()
    compared = 0
    for name, default in cli.items():
        field = RENAMED.get(name, name)
        if name in ("out", "train_file", "task", "label_field", "quiet"):
            continue  # required, or a shape the config builds (heads, show_progress)
        if name in LISTS:
            assert default is None and _field_default(field) in ([], None), name
            continue
        assert field in TrainConfig.__dataclass_fields__, f"--{name} has no TrainConfig field"
        want = _field_default(field)
        if name == "train_embeddings":
            want = not want
        assert default == want, f"--{name} defaults to {default!r}, TrainConfig.{field} to {want!r}"
        compared += 1
    assert compared >= 30


def test_every_config_field_is_an_option_or_named_library_only() -> None:
    options = {RENAMED.get(n, n) for n in _cli_defaults()}
    missing = {f.name for f in fields(TrainConfig)} - options - set(LIBRARY_ONLY)
    assert not missing, f"TrainConfig fields with no CLI option and no reason in LIBRARY_ONLY: {sorted(missing)}"


def test_fit_options_share_the_config_defaults() -> None:
    shared = {f.name for f in fields(FitOptions)} & {f.name for f in fields(TrainConfig)}
    assert {"lr", "batch_size", "self_train_fraction", "class_weight"} <= shared
    opts = FitOptions()
    for name in shared - {"epochs", "linear_probe", "contrastive_weight"}:  # resolved values (FitOptions' doc)
        assert getattr(opts, name) == config_default(name), name


def test_library_and_cli_train_the_same_model(tmp_path: Path) -> None:
    rows = [{"text": f"{'great lovely perfect' if i % 2 else 'awful broken bad'} item {i}",
             "label": "pos" if i % 2 else "neg", "lang": "en"} for i in range(60)]
    data = tmp_path / "train.jsonl"
    write_records(rows, data)
    lib = babelcart.train(str(data), out=tmp_path / "lib", encoder="hash:128", seed=3)
    res = CliRunner().invoke(app, ["train", "--train", str(data), "--out", str(tmp_path / "cli"),
                                   "--encoder", "hash:128", "--seed", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    lib_cfg = json.loads((lib / "config.json").read_text(encoding="utf-8"))
    cli_cfg = json.loads((tmp_path / "cli" / "config.json").read_text(encoding="utf-8"))
    assert lib_cfg["method"] == cli_cfg["method"] and lib_cfg.get("auto", {}).get("chosen") == \
        cli_cfg.get("auto", {}).get("chosen")
    lib_w, cli_w = load_file(str(lib / "head.safetensors")), load_file(str(tmp_path / "cli" / "head.safetensors"))
    assert lib_w.keys() == cli_w.keys() and all(np.array_equal(lib_w[k], cli_w[k]) for k in lib_w)
    texts = ["lovely perfect", "broken bad", "great item", "awful"]
    assert babelcart.load(lib).predict(texts) == babelcart.load(tmp_path / "cli").predict(texts)
