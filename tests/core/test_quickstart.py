"""The README's library quickstart as a test: its python block, read from README.md, run exactly as written (the
bundled encoder, about 15 s on 2 cores) in an empty folder, and what it prints checked."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    """The python block under the README's "Library quickstart" heading."""
    text = README.read_text(encoding="utf-8")
    return text.split("## Library quickstart", 1)[1].split("```python", 1)[1].split("```", 1)[0]


def test_the_quickstart_is_short_and_uses_the_public_api() -> None:
    code = quickstart()
    assert len([line for line in code.splitlines() if line.strip()]) <= 16
    for name in ("babelcart.train(", "babelcart.load(", "babelcart.SearchIndex.build("):
        assert name in code, name


def test_the_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(quickstart(), f"{README}: Library quickstart", "exec"), {"__name__": "__quickstart__"})
    assert (tmp_path / "models" / "rating" / "config.json").exists()
    assert (tmp_path / "idx" / "manifest.json").exists()
    out = capsys.readouterr().out.splitlines()
    predictions, hits = [line.split() for line in out[:3]], out[3:]
    assert [p[0] for p in predictions] == ["id", "zh", "de"] and all(p[1] in "12345" for p in predictions)
    stars = {p[0]: float(p[2]) for p in predictions}
    assert stars["id"] > stars["zh"] + 1 and stars["de"] > stars["zh"] + 1  # praise above "poor quality"
    assert len(hits) == 3 and hits[0].startswith("tokped-33 Sanken Rice Cooker"), hits  # 电饭煲 = rice cooker
