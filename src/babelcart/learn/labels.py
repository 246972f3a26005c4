"""Label checks shared by training and inference (evaluation must not import the trainer)."""

from __future__ import annotations

from typing import Any

__all__ = ["parse_label"]


def parse_label(value: Any, task: str) -> Any:
    """Check one label: ratings are integers 1-5 (``"4"`` accepted from CSV); classes are str or int."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"label must be a string or an integer, got {value!r}")
    if task == "rating":
        v = value
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v.strip())
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or not 1 <= v <= 5:
            raise ValueError(f"rating must be an integer from 1 to 5, got {value!r}")
        return v
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("label is an empty string")
        return value
    if isinstance(value, int):
        return value
    raise ValueError(f"label must be a string or an integer, got {type(value).__name__}")
