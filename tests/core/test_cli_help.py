"""Every command's --help is clean at 80 columns; --version exists."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from babelcart import __version__
from babelcart.cli import app

runner = CliRunner()


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    if hasattr(cmd, "list_commands"):  # a group (typer vendors its own click)
        ctx = cmd.context_class(cmd)
        for name in cmd.list_commands(ctx):
            out += _commands(cmd.get_command(ctx, name), (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_listed() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "predict", "train", "export", "recommend user", "index build", "ingest events"} <= names


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) or "babelcart" for p, _ in COMMANDS])
def test_help_is_clean_at_80_columns(path: tuple[str, ...], cmd: Any) -> None:
    res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    text = res.output
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for junk in ("``", "<bool>", "…", "╭", "\x1b["):
        assert junk not in text, f"{junk!r} in:\n{text}"
    for param in cmd.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in text, f"{opt} cut or missing in:\n{text}"


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"babelcart {__version__}"
