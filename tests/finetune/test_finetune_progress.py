"""Fine-tuning is never silent: one bar per stage shows the epoch, the steps of all its epochs and the time left
(off when stderr is not a terminal, as every long job's bar)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from toy_data import toy_records  # noqa: E402

from babelcart.learn.finetune import FinetuneRun  # noqa: E402

pytestmark = pytest.mark.torch


def _fit(tiny_bert: Path, show_progress: bool | None) -> None:
    run = FinetuneRun(task="classify", labels=None, encoder_spec=f"hf:{tiny_bert}", max_length=32,
                      freeze_embeddings=False)
    run.fit(toy_records(24, seed=1), toy_records(8, seed=2), epochs=2, batch_size=4, linear_probe=True,
            show_progress=show_progress)


def test_one_bar_per_stage_with_epochs_steps_and_time_left(tiny_bert: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    _fit(tiny_bert, show_progress=True)
    err = capsys.readouterr().err
    assert "linear probe: features" in err
    assert "supervised epoch 1/2" in err and "supervised epoch 2/2" in err
    steps = re.findall(r"supervised epoch \d/2: .*?\| *(\d+)/(\d+) \[[^<\]]*<([^,\]]+)", err)
    assert steps and {total for _, total, _ in steps} == {"12"}  # 24 rows / batch 4 x 2 epochs, one bar
    assert max(int(n) for n, _, _ in steps) == 12


def test_no_bar_off_a_terminal(tiny_bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fit(tiny_bert, show_progress=None)  # pytest's stderr is not a TTY
    assert "epoch" not in capsys.readouterr().err
