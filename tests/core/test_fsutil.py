"""Atomic folder and file writes."""

from __future__ import annotations

import pytest

from babelcart.fsutil import atomic_dir, atomic_write_text


def test_atomic_dir_replaces_whole_folder(tmp_path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.json").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b.json").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp or old folders left


def test_atomic_dir_leaves_old_folder_on_error(tmp_path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.json").write_text("half")
        raise RuntimeError("crash mid-write")
    assert (target / "a.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_atomic_dir_refuses_overwrite_when_asked(tmp_path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError), atomic_dir(tmp_path / "m", overwrite=False):
        pass


def test_atomic_write_text(tmp_path) -> None:
    p = tmp_path / "sub" / "f.txt"
    atomic_write_text(p, "héllo")
    atomic_write_text(p, "world")
    assert p.read_text(encoding="utf-8") == "world"
    assert [x.name for x in p.parent.iterdir()] == ["f.txt"]


def test_recover_dir_puts_back_the_copy_of_an_interrupted_swap(tmp_path) -> None:
    from babelcart.fsutil import recover_dir

    target = tmp_path / "model"
    old = tmp_path / ".model.old-99999999"  # the layout an earlier babelcart left (a dead writer's PID)
    old.mkdir()
    (old / "a.json").write_text("old")
    assert recover_dir(target) == target
    assert (target / "a.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert recover_dir(tmp_path / "never-saved") == tmp_path / "never-saved"  # nothing to recover: no-op
    assert not (tmp_path / "never-saved").exists()
