"""xSID utterances as out-of-scope messages for the support bot, split so translations never straddle.

xSID (``../shared/data/intents/xsid_valid.jsonl``, CC BY-SA 4.0, van der Goot et al. 2021) holds voice-assistant
requests (weather, alarms, reminders, music, restaurants, films, books) in 19 language codes; none is a shop
intent, so a shop's support bot should hand every one of them over. Rows are grouped by their English sentence
(the data's own ``id`` cannot be used: English rows have none, Lithuanian ids are shuffled, Norwegian ids are
``<English row number>/<dialect>``), and each group goes by a hash of that sentence to one part:

- ``test`` (half the groups): reported only;
- ``dev_pool`` (a quarter): the only rows ``support_oos_examples.py`` may copy into the bundled examples;
- ``dev_tune`` (a quarter): settings are chosen here, on rows no bundled example translates.

Japanese and Chinese rows come tokenized with spaces between words; the spaces are removed (as users type).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from babelcart.datasets.shared import shared_data_dir

_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])")
#: intent families of xSID (music = PlayMusic + AddToPlaylist)
FAMILIES = {"PlayMusic": "music", "AddToPlaylist": "music"}


def family(intent: str) -> str:
    """``alarm/set_alarm`` -> ``alarm``; ``PlayMusic`` -> ``music``; others unchanged."""
    return intent.split("/")[0] if "/" in intent else FAMILIES.get(intent, intent)


def _bucket(key: str, salt: str) -> int:
    return int(hashlib.sha1(f"{salt}{key}".encode()).hexdigest(), 16) % 4


def part_of(key: str) -> str:
    """``test`` / ``dev_pool`` / ``dev_tune`` for a group key (normalized English sentence)."""
    b = _bucket(key, "xsid-oos:")
    return "test" if b < 2 else ("dev_pool" if b == 2 else "dev_tune")


def xsid_rows(path: Path | None = None) -> list[dict[str, Any]]:
    """Every xSID row as ``{text, lang, intent, family, key, part}``; empty when the shared data is absent."""
    p = path or shared_data_dir() / "intents" / "xsid_valid.jsonl"
    if not p.exists():
        return []
    raw = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    english = [r["text"] for r in raw if r["lang"] == "en"]
    out = []
    for r in raw:
        if r["lang"] == "en":
            src = r["text"]
        elif r["lang"] == "no":
            src = english[int(str(r["id"]).split("/")[0]) - 1]
        else:
            src = r["text_en"]
        key = " ".join(str(src).lower().split())
        text = _CJK_SPACE.sub("", r["text"]) if r["lang"] in ("ja", "zh") else r["text"]
        out.append({"text": text, "lang": r["lang"], "intent": r["intent"], "family": family(r["intent"]),
                    "key": key, "part": part_of(key)})
    return out
