"""Crash-safe writes (a file or a whole folder appears complete or not at all), and reading a folder's config.

A folder is saved beside its target and swapped in by renames; every file and folder is fsynced first.
The swap of an existing folder takes two renames (target → ``.NAME.old-PID-TOKEN``, then the finished
``.NAME.new-PID-TOKEN`` → target). A process killed between them leaves no target, but a complete copy
beside it: :func:`recover_dir`, which every loader calls first, puts it back (the new one when it is
finished, else the old one), so a load finds one complete version, never a mix and never nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The points of a folder save, in order, at which :data:`_fault_hook` is called (fault-injection tests).
SAVE_STEPS = ("written", "synced", "ready", "old_moved", "replaced", "cleaned")

#: Called with each step name of :data:`SAVE_STEPS` during a save; a test's child process sets it to
#: kill itself at one step. ``None`` in normal use.
_fault_hook: Callable[[str], None] | None = None

#: How long a loader waits for a live writer to finish its swap before it restores a copy itself.
_LIVE_WRITER_WAIT_S = 2.0

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|new|old)-(?P<pid>\d+)(?:-[0-9a-f]+)?$")


def _step(name: str) -> None:
    if _fault_hook is not None:
        _fault_hook(name)


def _fsync_path(path: Path) -> None:
    """fsync a file or a folder (folders cannot be opened for fsync on some systems: skipped there)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file under ``root``, then the folders bottom-up."""
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for f in files:
            _fsync_path(Path(dirpath) / f)
        _fsync_path(Path(dirpath))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _leftovers(target: Path) -> list[tuple[str, int, Path]]:
    """``(kind, pid, path)`` of the save folders that sit beside ``target``, newest first."""
    out: list[tuple[float, str, int, Path]] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for e in entries:
        m = _LEFTOVER.match(e.name)
        if m and m["name"] == target.name:
            with contextlib.suppress(OSError):
                out.append((e.stat(follow_symlinks=False).st_mtime, m["kind"], int(m["pid"]), Path(e.path)))
    out.sort(key=lambda t: -t[0])
    return [(kind, pid, path) for _, kind, pid, path in out]


def recover_dir(target: str | Path) -> Path:
    """Make ``target`` hold a complete saved version again after a save was killed; returns ``target``.

    When ``target`` is missing but a finished new copy or the previous copy sits beside it (the save died
    between its two renames), that copy is renamed back: the new one if it was finished, else the old one.
    Folders left by dead writers are removed. A folder that never had a complete version stays missing.
    Loaders call this first; it costs one listing of the parent folder.
    """
    target = Path(target)
    found = _leftovers(target)
    if not found:
        return target
    if not target.exists():
        deadline = time.monotonic() + _LIVE_WRITER_WAIT_S
        while any(_pid_alive(pid) for _, pid, _ in found) and time.monotonic() < deadline:
            time.sleep(0.02)  # a live writer is between its renames: let it finish
            if target.exists():
                break
        if not target.exists():
            _restore(target, found)
    for _kind, pid, path in _leftovers(target):
        if not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
    return target


def _restore(target: Path, found: list[tuple[str, int, Path]]) -> None:
    """Rename the best complete copy in ``found`` to ``target`` (finished new copies before old ones)."""
    for want in ("new", "old"):
        for kind, _pid, path in found:
            if kind != want:
                continue
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another loader restored it first
            except OSError as exc:
                if target.exists():
                    return
                raise OSError(f"{target} is missing after an interrupted save and its complete copy {path} "
                              f"could not be put back ({exc}); rename it to {target.name}") from exc
            _fsync_path(target.parent)
            logger.warning("%s was missing after an interrupted save; restored its %s copy", target, kind)
            return


def _sibling(target: Path, kind: str, token: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{token}")


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` crash-safely.

    On an exception the temporary folder is removed and ``target`` is left as it was. A process killed at
    any point leaves the old or the new folder for :func:`recover_dir` (called by every loader).

    >>> with atomic_dir("model") as tmp:  # doctest: +SKIP
    ...     (tmp / "config.json").write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    token = secrets.token_hex(4)
    work, ready, old = (_sibling(target, kind, token) for kind in ("tmp", "new", "old"))
    work.mkdir()
    current = work
    moved_old = False
    try:
        yield work
        _step("written")
        _fsync_tree(work)
        _step("synced")
        os.rename(work, ready)
        current = ready
        _fsync_path(target.parent)
        _step("ready")
        if target.exists():
            os.rename(target, old)
            moved_old = True
            _step("old_moved")
        os.rename(ready, target)
        current = target
        _fsync_path(target.parent)
        _step("replaced")
        if moved_old:
            shutil.rmtree(old, ignore_errors=True)
        _step("cleaned")
    except BaseException:
        if current != target:
            shutil.rmtree(current, ignore_errors=True)
            if moved_old and not target.exists():
                os.rename(old, target)
        raise


def cache_root() -> Path:
    """``$BABELCART_CACHE_DIR``, else ``~/.cache/babelcart``: where models built from installed wheels are kept."""
    root = os.environ.get("BABELCART_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "babelcart"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_path(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json_config(path: Path, error: type[Exception], *, missing: str) -> dict[str, Any]:
    """The JSON object in the file ``path``; else ``error``: ``missing`` when there is no such file, or why
    the file cannot be read (not UTF-8, not JSON, not an object). The folder is recovered first
    (:func:`recover_dir`), so every loader that reads its config here sees a complete folder."""
    recover_dir(path.parent)
    if not path.is_file():
        raise error(missing)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is corrupted (not valid JSON: {exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{path} is not a JSON object")
    return data


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks (model, index and encoder files are checked by it)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(4 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
