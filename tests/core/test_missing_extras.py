"""A command that needs an optional extra which is not installed stops with one 'error:' line naming the install
command, before any work (the import is made to fail as it does where the extra is missing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.records import write_records
from babelcart.extras import MissingExtraError, require_extra
from babelcart.models.folder import FORMAT, FORMAT_VERSION


def _block(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
    for name in [m for m in sys.modules if m.startswith("babelcart.learn.finetune") and m != "babelcart.models.finetuned"]:
        monkeypatch.delitem(sys.modules, name)  # imported again, as in a fresh process without the extra


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    train = tmp_path / "train.jsonl"
    write_records([{"text": f"{'great' if i % 2 else 'awful'} thing {i}", "label": "pos" if i % 2 else "neg",
                    "lang": "en"} for i in range(30)], train)
    finetuned = tmp_path / "ft-model"  # what 'train --method finetune' writes, as far as the loader looks first
    finetuned.mkdir()
    (finetuned / "config.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                                       "method": "finetune"}), encoding="utf-8")
    return {"train": train, "finetuned": finetuned, "out": tmp_path / "out"}


CASES = [
    (["torch", "transformers"], ["train", "--method", "finetune", "--train", "{train}", "--out", "{out}"],
     "error: --method finetune needs the [train] extra (pip install 'babelcart[train]')"),
    (["torch", "transformers"], ["embed", "{train}", "--encoder", "hf:some/model", "--out", "{out}"],
     "error: the hf: encoder needs the [hf] extra: pip install 'babelcart[hf]' (torch is not installed)"),
    (["sentence_transformers"], ["embed", "{train}", "--encoder", "st:some/model", "--out", "{out}"],
     "error: the st: encoder needs the [hf] extra: pip install 'babelcart[hf]' (sentence_transformers is not "
     "installed)"),
    (["torch", "transformers"], ["predict", "{finetuned}", "{train}", "--out", "{out}"],
     "error: fine-tuning needs the [train] extra: pip install 'babelcart[train]' (torch is not installed)"),
    (["fastapi"], ["serve", "--port", "1"],
     "error: the HTTP service needs the [serve] extra: pip install 'babelcart[serve]' (fastapi is not installed)"),
]


@pytest.mark.parametrize(("blocked", "command", "message"), CASES, ids=["train-finetune", "hf", "st", "predict-ft", "serve"])
def test_missing_extra_is_one_error_line_before_any_work(monkeypatch: pytest.MonkeyPatch, files: dict[str, Path],
                                                          blocked: list[str], command: list[str],
                                                          message: str) -> None:
    _block(monkeypatch, *blocked)
    import babelcart.encoders

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("an encoder was built before the missing extra was reported")

    if command[0] == "train":
        monkeypatch.setattr(babelcart.encoders, "get_encoder", no_work)
    res = CliRunner().invoke(app, [a.format(**files) for a in command])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == message
    assert "Traceback" not in res.output and not files["out"].exists()


def test_require_extra_names_the_module_and_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"PostgreSQL needs the \[postgres\] extra: pip install "
                                                r"'babelcart\[postgres\]' \(psycopg is not installed\)"):
        require_extra("postgres", ["psycopg"], "PostgreSQL")
