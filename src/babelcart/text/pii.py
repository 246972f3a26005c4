"""Mask personal data with typed placeholders: e-mail, phone, payment card, IBAN, IP address.

Detectors run in priority order and a character belongs to at most one match:
IBAN (mod-97 checked) → card (13-19 digits, Luhn, issuer prefix 2-6, plain or in 4-digit groups / Amex
4-6-5) → e-mail → IPv4/IPv6 (validated with :mod:`ipaddress`) → phone.

Phones use ``phonenumbers.PhoneNumberMatcher`` (leniency ``VALID``) over digit clusters only, so long texts
stay fast: international numbers (``+49 30 …``, ``0086 …``) are found whatever the region; national formats
are tried for ``default_region`` first and then for :data:`DEFAULT_REGIONS` (US, GB, DE, FR, ES, IT, NL, CN,
JP, KR, ID, IN, BR, MX, AU). A cluster is *not* a phone when it looks like a date (``2024-03-15``,
``15.03.2024``), a price (currency sign or code next to it, or decimals), or follows an order/invoice/
tracking keyword in any of several languages (``order``, ``Bestellung``, ``commande``, ``pedido``,
``订单``, ``注文``, ``pesanan`` …, or ``#``).

Without a mapping placeholders are ``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>``, ``<IP>``; with
``keep_mapping=True`` they are numbered (``<EMAIL_1>``; the same value gets the same number) and
:func:`unmask` restores the text exactly. The mapping lives only in memory; nothing is logged.

>>> r = mask_pii("Mail jan@example.de or call +49 30 901820", keep_mapping=True)
>>> r.text
'Mail <EMAIL_1> or call <PHONE_1>'
>>> unmask(r.text, r.mapping)
'Mail jan@example.de or call +49 30 901820'
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_REGIONS", "PII_TYPES", "MaskResult", "PIIMasker", "mask_pii", "unmask"]

PII_TYPES = ("EMAIL", "PHONE", "CARD", "IBAN", "IP")
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CN", "JP", "KR", "ID", "IN", "BR", "MX", "AU")

#: National-format phone candidates need at least this many digits (the shortest common national numbers,
#: e.g. Spanish mobiles, have 9); shorter clusters are order numbers, codes and amounts far more often.
MIN_NATIONAL_DIGITS = 9

_AN = "A-Za-z0-9"
_EMAIL_RE = re.compile(
    rf"(?<![{_AN}._%+-])[{_AN}._%+-]{{1,64}}@[{_AN}](?:[{_AN}-]{{0,62}}[{_AN}])?"
    rf"(?:\.[{_AN}](?:[{_AN}-]{{0,62}}[{_AN}])?)*\.[A-Za-z]{{2,24}}(?![{_AN}-])"
)
_IBAN_START_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?=[ -]?[A-Z0-9])")
_CARD_RE = re.compile(r"(?<![\d+])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\d])")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
)
_IPV6_RE = re.compile(
    r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?![0-9A-Za-z:])"
)
#: Digit clusters that might be phone numbers (8+ characters, at least 6 digits checked later).
_PHONE_CAND_RE = re.compile(r"(?:\+|\(\+?|（|00)?\d[\d \-.()/（）\u2010-\u2015]{5,24}\d")
_DATE_RE = re.compile(
    r"^\s*(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(?:\s+\d{1,2}:\d{2})?\s*$"
)
_PRICE_AFTER_RE = re.compile(r"^\s?(?:[$€£¥₹₩₽元円]|(?:usd|eur|gbp|cny|rmb|jpy|idr|rp|inr|krw)\b)", re.I)
_PRICE_BEFORE_RE = re.compile(r"(?:[$€£¥₹₩₽]|(?:usd|eur|gbp|cny|rmb|jpy|idr|rp|inr|krw)\.?)\s?$", re.I)
_ORDER_BEFORE_RE = re.compile(
    r"(?:order|invoice|tracking|ref(?:erence)?|sku|item|article|bestell\w*|rechnung\w*|auftrag\w*|sendung\w*|"
    r"commande|facture|pedido|factura|ordine|fattura|pesanan|faktur|resi|订单(?:号)?|單號|订单编号|运单号|"
    r"快递单号|注文(?:番号)?|伝票番号|주문(?:번호)?|заказ\w*|no\.?|nr\.?|n°|#)\s*[:：#]?\s*$",
    re.I,
)
_PLACEHOLDER_RE = re.compile(r"<(EMAIL|PHONE|CARD|IBAN|IP)_(\d+)>")

# ISO 13616 lengths per country (the common ones; others accepted within 15-34 if mod-97 holds).
_IBAN_LEN = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "AE": 23, "SA": 24, "BR": 29,
}


@dataclass
class MaskResult:
    """Masked text, counts per type, and (only with ``keep_mapping``) placeholder → original."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] | None = None


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check (spaces and dashes ignored)."""
    s = re.sub(r"[ -]", "", candidate).upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    want = _IBAN_LEN.get(s[:2])
    if want is not None and len(s) != want:
        return False
    rearranged = s[4:] + s[:4]
    num = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(num) % 97 == 1


def _iban_end(text: str, start: int) -> int | None:
    """End of a valid IBAN starting at ``start`` (single spaces/dashes allowed between characters)."""
    ends: list[tuple[int, int]] = []  # (characters so far, end offset)
    n, i = 0, start
    while i < len(text) and n < 34:
        ch = text[i]
        if ch.isascii() and ch.isalnum() and (ch.isdigit() or ch.isupper()):
            n += 1
            i += 1
            ends.append((n, i))
        elif ch in " -" and n >= 4 and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum():
            i += 1
        else:
            break
    want = _IBAN_LEN.get(text[start:start + 2])
    for count, end in reversed(ends):
        if count < 15 or (want is not None and count != want):
            continue
        if end < len(text) and text[end].isascii() and text[end].isalnum():
            continue  # would cut a word in half
        if iban_ok(text[start:end]):
            return end
    return None


def _card_groups_ok(raw: str) -> bool:
    seps = set(re.findall(r"[ -]", raw))
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = [len(g) for g in re.split(r"[ -]", raw)]
    if groups == [4, 6, 5] or groups == [4, 6, 4]:
        return True
    return all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4


@functools.cache
def _region_plan(region: str) -> tuple[re.Pattern[str] | None, str]:
    """The region's general national-number pattern and national prefix (cheap pre-filter)."""
    import phonenumbers

    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if md is None or md.general_desc is None or not md.general_desc.national_number_pattern:
        return None, ""
    return re.compile(md.general_desc.national_number_pattern), md.national_prefix or ""


def _nationally_possible(digits: str, region: str) -> bool:
    pattern, prefix = _region_plan(region)
    if pattern is None:
        return True
    if pattern.fullmatch(digits):
        return True
    return bool(prefix) and digits.startswith(prefix) and pattern.fullmatch(digits[len(prefix):]) is not None


@functools.lru_cache(maxsize=65536)
def _match_phone(probe: str, regions: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Phone spans in one digit cluster, from the first region whose national plan accepts it."""
    from phonenumbers import Leniency, PhoneNumberMatcher

    international = probe.lstrip("(（").startswith("+")
    digits = re.sub(r"\D", "", probe)
    for region in regions:
        if not international and not _nationally_possible(digits, region):
            continue
        hits = tuple((h.start, h.end) for h in PhoneNumberMatcher(probe, region, leniency=Leniency.VALID))
        if hits:
            return hits
    return ()


class PIIMasker:
    """Reusable masker; ``regions`` are tried for national phone formats after ``default_region``.

    >>> PIIMasker(default_region="CN").mask("电话 138 0013 8000").text
    '电话 <PHONE>'
    """

    def __init__(
        self, *, default_region: str | None = None, regions: Sequence[str] = DEFAULT_REGIONS,
        types: Iterable[str] = PII_TYPES,
    ) -> None:
        self.default_region = default_region.upper() if default_region else None
        order = [self.default_region] if self.default_region else []
        self.regions = order + [r for r in regions if r != self.default_region]
        self.types = frozenset(t.upper() for t in types)
        unknown = self.types - set(PII_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; choose from {PII_TYPES}")

    # -- detectors -------------------------------------------------------------------------------------------
    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        taken: list[tuple[int, int, str]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s or a >= e for s, e, _ in taken)

        def add(a: int, b: int, kind: str) -> None:
            if free(a, b):
                taken.append((a, b, kind))

        if "IBAN" in self.types:
            for m in _IBAN_START_RE.finditer(text):
                end = _iban_end(text, m.start())
                if end is not None:
                    add(m.start(), end, "IBAN")
        if "CARD" in self.types:
            for m in _CARD_RE.finditer(text):
                raw = m.group()
                if re.search(r"[A-Z]{2}\d{2}[ -]?$", text[max(0, m.start() - 5):m.start()]):
                    continue  # the tail of an IBAN-like code whose checksum failed
                digits = re.sub(r"\D", "", raw)
                if 13 <= len(digits) <= 19 and _card_groups_ok(raw) and luhn_ok(digits):
                    add(m.start(), m.end(), "CARD")
        if "EMAIL" in self.types and "@" in text:
            for m in _EMAIL_RE.finditer(text):
                add(m.start(), m.end(), "EMAIL")
        if "IP" in self.types:
            for m in _IPV4_RE.finditer(text):
                add(m.start(), m.end(), "IP")
            if "::" in text or text.count(":") >= 7:
                for m in _IPV6_RE.finditer(text):
                    cand = m.group()
                    if cand.count(":") < 2 or len(cand.replace(":", "")) < 2:
                        continue
                    try:
                        ipaddress.IPv6Address(cand)
                    except ValueError:
                        continue
                    add(m.start(), m.end(), "IP")
        if "PHONE" in self.types:
            for a, b in self._phones(text):
                add(a, b, "PHONE")
        return sorted(taken)

    def _phones(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for m in _PHONE_CAND_RE.finditer(text):
            cand = m.group()
            if sum(ch.isdigit() for ch in cand) < 6 or _DATE_RE.match(cand):
                continue
            before = text[max(0, m.start() - 24):m.start()]
            after = text[m.end():m.end() + 5]
            if _PRICE_BEFORE_RE.search(before) or _PRICE_AFTER_RE.match(after):
                continue
            if re.search(r"[.,]\d{2}$", cand) and not cand.startswith(("+", "00")):
                continue  # 1.299,00 / 12,345.50: an amount
            if _ORDER_BEFORE_RE.search(before):
                continue
            if m.start() > 0 and (text[m.start() - 1].isascii() and text[m.start() - 1].isalpha()
                                  or text[m.start() - 1] in "-_/"):
                continue  # ORD-12345678, part of a code
            # Normalize the 00 international prefix so every region's matcher reads it as +.
            probe = "+" + cand[2:] if cand.startswith("00") else cand
            offset = 1 if cand.startswith("00") else 0
            international = probe.lstrip("(（").startswith("+")
            if not international and sum(ch.isdigit() for ch in cand) < MIN_NATIONAL_DIGITS:
                continue
            regions = tuple(self.regions[:1] or ["US"]) if international else tuple(self.regions)
            for s, e in _match_phone(probe, regions):
                s2 = m.start() + (s + offset if s > 0 else 0)
                found.append((s2, m.start() + e + offset))
        return found

    # -- public ----------------------------------------------------------------------------------------------
    def mask(self, text: str, *, keep_mapping: bool = False) -> MaskResult:
        """Replace every detected value by its placeholder; see :func:`mask_pii`."""
        if not isinstance(text, str):
            raise TypeError(f"mask expects str, got {type(text).__name__}")
        spans = self._spans(text)
        counts: dict[str, int] = {}
        mapping: dict[str, str] | None = {} if keep_mapping else None
        numbers: dict[tuple[str, str], str] = {}
        parts: list[str] = []
        pos = 0
        for a, b, kind in spans:
            parts.append(text[pos:a])
            counts[kind] = counts.get(kind, 0) + 1
            if mapping is not None:
                key = (kind, text[a:b])
                if key not in numbers:
                    n = sum(1 for k in numbers if k[0] == kind) + 1
                    numbers[key] = f"<{kind}_{n}>"
                    mapping[numbers[key]] = text[a:b]
                parts.append(numbers[key])
            else:
                parts.append(f"<{kind}>")
            pos = b
        parts.append(text[pos:])
        return MaskResult(text="".join(parts), counts=counts, mapping=mapping)


def mask_pii(text: str, *, keep_mapping: bool = False, default_region: str | None = None) -> MaskResult:
    """Mask e-mails, phones, cards, IBANs and IPs in ``text`` (see the module docstring).

    >>> mask_pii("IBAN DE89 3704 0044 0532 0130 00, IP 10.0.0.1").text
    'IBAN <IBAN>, IP <IP>'
    """
    return _masker(default_region).mask(text, keep_mapping=keep_mapping)


_MASKERS: dict[str | None, PIIMasker] = {}


def _masker(region: str | None) -> PIIMasker:
    if region not in _MASKERS:
        _MASKERS[region] = PIIMasker(default_region=region)
    return _MASKERS[region]


def unmask(text: str, mapping: dict[str, str] | None) -> str:
    """Put the originals back for numbered placeholders found in ``mapping`` (others are left as they are)."""
    if not mapping:
        return text
    return _PLACEHOLDER_RE.sub(lambda m: mapping.get(m.group(), m.group()), text)
