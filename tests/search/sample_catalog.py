"""A six-product catalog in four languages, shared by the search tests of both backends."""

from __future__ import annotations

from typing import Any

PRODUCTS: list[dict[str, Any]] = [
    {"id": "p1", "title": "Wireless bluetooth headphones", "description": "Over-ear, noise cancelling",
     "category": "audio", "price": 59.0, "lang": "en"},
    {"id": "p2", "title": "Running shoes", "description": "Lightweight trail running shoe",
     "category": "shoes", "price": 80.0, "lang": "en"},
    {"id": "p3", "title": "Chaussures de course", "description": "Légères, pour le trail",
     "category": "shoes", "price": 75.0, "lang": "fr"},
    {"id": "p4", "title": "蓝牙耳机 无线 降噪", "category": "audio", "price": 30.0, "lang": "zh"},
    {"id": "p5", "title": "Leather wallet", "description": "Brown leather, six card slots",
     "category": "accessories", "lang": "en"},
    {"id": "p6", "title": "Kaffeebecher aus Keramik", "category": "kitchen", "price": 12.5, "lang": "de"},
]
