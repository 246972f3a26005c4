"""Tiny stand-ins shared by the service tests (a keyword 'model' and its JSON model folders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class KeywordClassifier:
    """A stand-in for a trained model folder: 'neg' when a negative word is in the text, else 'pos'."""

    task = "classify"
    labels = ["neg", "pos"]

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.calls: list[int] = []

    def predict(self, texts: list[str], langs: list[str | None] | None = None) -> list[dict[str, Any]]:
        self.calls.append(len(texts))
        out = []
        for i, t in enumerate(texts):
            neg = any(w in t.lower() for w in self.words)
            p = 0.9 if neg else 0.2
            out.append({"pred": "neg" if neg else "pos", "scores": {"neg": p, "pos": 1 - p},
                        "lang": (langs[i] if langs else None) or "und"})
        return out


def fake_loader(path: Path) -> KeywordClassifier:
    """Loads the tiny JSON 'model folders' made by :func:`make_model`; raises like a real loader would."""
    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("broken"):
        raise ValueError(f"{path}/head.safetensors is corrupted (truncated file)")
    return KeywordClassifier(cfg["words"])


def make_model(models_dir: Path, name: str, *, broken: bool = False) -> Path:
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"words": ["bad", "broken", "terrible", "rusak", "差"],
                                                    "broken": broken}))
    return folder
