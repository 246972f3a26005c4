"""Combining marks as a regex class, so that a "word" keeps its vowel signs and viramas.

Python's ``\\w`` leaves out combining marks (Unicode categories Mn, Mc, Me), which cuts Hindi, Tamil or Thai
words at every vowel sign: ``re.findall(r"\\w+", "नमस्ते")`` gives ``['नमस', 'त']``.

>>> import re
>>> re.findall(f"[\\\\w{combining_marks()}]+", "नमस्ते दुनिया")
['नमस्ते', 'दुनिया']
"""

from __future__ import annotations

import functools
import unicodedata


@functools.lru_cache(maxsize=1)
def combining_marks() -> str:
    """The body of a regex character class matching the combining marks of the Basic Multilingual Plane."""
    ranges: list[tuple[int, int]] = []
    for o in range(0x300, 0x10000):
        if unicodedata.category(chr(o))[0] == "M":
            if ranges and ranges[-1][1] == o - 1:
                ranges[-1] = (ranges[-1][0], o)
            else:
                ranges.append((o, o))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
