"""The bundled sample files (``datasets/demo``): the demo's data and every input of the README tour.

``babelcart samples DIR`` writes them into a folder, with the NOTICE that says where each comes from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from babelcart.datasets.records import Record, read_records

#: Bundled files that are settings, not data (``--shop demo`` reads the profile where it lies).
NOT_SAMPLES = {"shop.toml"}


def sample_names() -> list[str]:
    """The bundled sample's file names (data files and NOTICE.md), sorted."""
    folder = resources.files("babelcart.datasets").joinpath("demo")
    return sorted(f.name for f in folder.iterdir() if f.is_file() and f.name not in NOT_SAMPLES)


def read_sample(name: str) -> list[Record]:
    """The records of one bundled sample file, e.g. ``read_sample("reviews_en.jsonl")``."""
    if name not in sample_names() or not name.endswith(".jsonl"):
        raise ValueError(f"no bundled sample {name!r}; the JSONL ones: "
                         f"{', '.join(n for n in sample_names() if n.endswith('.jsonl'))}")
    with resources.as_file(resources.files("babelcart.datasets").joinpath("demo", name)) as path:
        return list(read_records(path))


def write_samples(dest: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the sample files into ``dest`` (made if missing); returns the paths written.

    A file already there with other content is left alone and raises ``FileExistsError`` (before anything is
    written) unless ``overwrite``; one with the same content is kept as it is.
    """
    folder = resources.files("babelcart.datasets").joinpath("demo")
    out = Path(dest)
    data = {name: folder.joinpath(name).read_bytes() for name in sample_names()}
    clashes = [name for name, body in data.items() if (out / name).exists() and (out / name).read_bytes() != body]
    if clashes and not overwrite:
        raise FileExistsError(f"{out} already has other files named {', '.join(clashes)} (--force overwrites them)")
    out.mkdir(parents=True, exist_ok=True)
    for name, body in data.items():
        (out / name).write_bytes(body)
    return [out / name for name in data]
