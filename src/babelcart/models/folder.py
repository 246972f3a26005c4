"""The model folder: ``config.json`` + ``head.safetensors`` + ``metrics.json`` + ``README.md``. No pickle.

Written atomically (:func:`babelcart.fsutil.atomic_dir`); loading checks the format version, the files,
and the checksum of the weights, and fails with :class:`ModelLoadError` and a clear message.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.fsutil import atomic_dir, read_json_config, recover_dir, sha256_file

FORMAT = "babelcart-model"
FORMAT_VERSION = 1
HEAD_FILE = "head.safetensors"
REQUIRED = ("config.json", HEAD_FILE)


class ModelLoadError(ValueError):
    """A model folder is missing, incomplete, corrupted, from another version, or mismatched."""


def save_model_folder(out_dir: str | Path, *, config: dict[str, Any], arrays: dict[str, np.ndarray],
                      metrics: dict[str, Any], card: str) -> Path:
    """Write the folder in one atomic step; returns its path."""
    from safetensors.numpy import save_file

    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / HEAD_FILE),
                  metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, **config,
                "files": {HEAD_FILE: {"sha256": sha256_file(tmp / HEAD_FILE)}}, "metrics": metrics}
        (tmp / "config.json").write_text(json.dumps(full, indent=2, ensure_ascii=False, default=_jsonable),
                                         encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False, default=_jsonable),
                                          encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return out


def annotate_model_folder(folder: str | Path, *, config_update: dict[str, Any], card_section: str) -> Path:
    """Add ``config_update`` to a written model folder's ``config.json`` and ``card_section`` to its ``README.md``,
    both in one atomic step (the other files are hard-linked into the new folder, not copied)."""
    folder = Path(folder)
    config = read_config(folder)
    card = (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").exists() else ""
    with atomic_dir(folder) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True, copy_function=_link_or_copy)
        for name in ("config.json", "README.md"):
            (tmp / name).unlink(missing_ok=True)  # a hard link: writing through it would change the old folder
        (tmp / "config.json").write_text(json.dumps({**config, **config_update}, indent=2, ensure_ascii=False,
                                                    default=_jsonable), encoding="utf-8")
        (tmp / "README.md").write_text(card.rstrip() + "\n\n" + card_section.strip() + "\n", encoding="utf-8")
    return folder


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a model folder (format and version)."""
    folder = recover_dir(path)
    if not folder.is_dir():
        raise ModelLoadError(f"model folder not found: {folder}")
    cfg_path = folder / "config.json"
    cfg = read_json_config(cfg_path, ModelLoadError,
                           missing=f"{folder} is not a babelcart model folder: config.json is missing")
    if cfg.get("format") != FORMAT:
        raise ModelLoadError(f"{cfg_path} is not a babelcart model config (format {cfg.get('format')!r})")
    check_format_version(cfg, folder)
    return cfg


def check_format_version(cfg: dict[str, Any], folder: Path) -> None:
    """Refuse the config of a model folder in an unknown or newer format version."""
    version = cfg.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelLoadError(f"{folder} has model format version {version!r}; this babelcart reads up to "
                             f"{FORMAT_VERSION} (upgrade babelcart)")


def load_head_arrays(path: str | Path, cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    """Load ``head.safetensors`` after checking it exists and matches the checksum in the config."""
    from safetensors.numpy import load_file

    file = Path(path) / HEAD_FILE
    if not file.exists():
        raise ModelLoadError(f"{path} is incomplete: {HEAD_FILE} is missing")
    expected = cfg.get("files", {}).get(HEAD_FILE, {}).get("sha256")
    if expected and sha256_file(file) != expected:
        raise ModelLoadError(f"{file} is corrupted: its checksum does not match config.json")
    try:
        return load_file(str(file))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types on bad files
        raise ModelLoadError(f"{file} is corrupted: {exc}") from exc
