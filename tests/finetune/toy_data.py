"""Toy labelled data for the fine-tuning tests (built in code, deterministic)."""

from __future__ import annotations

import random

#: Four classes, each signalled by its own words (several languages), plus shared noise words.
CLASS_WORDS = {
    "shipping": ["shipping", "pengiriman", "livraison", "物流", "order"],
    "quality": ["quality", "kualitas", "qualität", "质量", "broke"],
    "fit": ["dress", "fits", "kleid", "small", "shoes"],
    "sound": ["bluetooth", "headphones", "battery", "life", "answer"],
}
NOISE = ["the", "and", "is", "very", "sangat", "das", "el", "le", "la", "y"]


def toy_records(n: int, *, seed: int) -> list[dict]:
    """Balanced 4-class records whose label is readable from the words (linearly separable)."""
    rng = random.Random(seed)
    labels = sorted(CLASS_WORDS)
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.sample(CLASS_WORDS[label], 2) + rng.sample(NOISE, 3)
        rng.shuffle(words)
        out.append({"text": " ".join(words), "label": label, "lang": rng.choice(["en", "de", "id"])})
    return out


def rating_records(n: int, *, seed: int) -> list[dict]:
    """Ratings 1..5 where the share of 'good' vs 'bad' words grows with the rating."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = i % 5 + 1
        words = ["good"] * (r - 1) + ["bad"] * (5 - r) + rng.sample(NOISE, 2)
        rng.shuffle(words)
        out.append({"text": " ".join(words), "label": r})
    return out
