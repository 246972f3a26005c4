"""Retail transaction lines (one row per invoice line, e.g. UCI Online Retail) → purchase events + catalog.

``parse_transactions(rows, mapping)`` is pure (no store): every line gets a status, nothing is dropped
silently.

- ``purchase``: a product line with a customer; lines of the same customer, item and time (one invoice)
  become one event whose ``weight`` is the net quantity and ``value`` quantity × unit price.
- ``cancellation``: an order id starting with ``C`` or a negative quantity. It cancels: its quantity is taken
  off the same customer's latest earlier purchases of that item; an event cancelled to zero is removed and
  its lines become ``cancelled``. A cancellation with nothing before it to cancel gets a ``warning``.
- ``no_customer``: no user id; reported and skipped (counted in the summary).
- ``non_product``: postage, fees, manual adjustments, gift vouchers (``NON_PRODUCT_CODES``,
  ``gift_`` prefixes); not events and not in the catalog.
- ``error``: unreadable time, quantity or price, or a missing item id.

The catalog has one product per item id: the most frequent non-empty description as title and the median
unit price (over all product lines, with or without a customer).

>>> rows = [{"InvoiceNo": "1", "StockCode": "A", "Description": "MUG", "Quantity": "6",
...          "InvoiceDate": "2011-01-02 10:00", "UnitPrice": "2.5", "CustomerID": "7"}]
>>> parse_transactions(rows, ONLINE_RETAIL_MAP).events[0]["weight"]
6.0
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babelcart.store.rows import parse_ts

FIELDS = ("user_id", "item_id", "ts", "order_id", "quantity", "price", "title", "country")
REQUIRED = ("user_id", "item_id", "ts", "quantity")
ONLINE_RETAIL_MAP: dict[str, str] = {
    "user_id": "CustomerID", "item_id": "StockCode", "ts": "InvoiceDate", "order_id": "InvoiceNo",
    "quantity": "Quantity", "price": "UnitPrice", "title": "Description", "country": "Country"}
NON_PRODUCT_CODES = frozenset({"POST", "DOT", "M", "D", "C2", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK"})
NON_PRODUCT_PREFIXES = ("gift_",)


def parse_map(spec: str) -> dict[str, str]:
    """``"user_id=CustomerID,item_id=StockCode,..."`` (or ``online-retail``) → {field: column}."""
    if spec.strip().lower() in ("online-retail", "online_retail"):
        return dict(ONLINE_RETAIL_MAP)
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, col = part.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or not key or not col:
            raise ValueError(f"bad --map entry {part!r}: want field=Column")
        if key not in FIELDS:
            raise ValueError(f"unknown field {key!r} in --map (known: {', '.join(FIELDS)})")
        out[key] = col
    missing = [f for f in REQUIRED if f not in out]
    if missing:
        raise ValueError(f"--map lacks {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    return out


def is_non_product(code: str) -> bool:
    """Postage, fees, adjustments and vouchers rather than goods."""
    return code.strip().upper() in NON_PRODUCT_CODES or code.strip().lower().startswith(NON_PRODUCT_PREFIXES)


@dataclass
class Transactions:
    """Parsed transaction lines: ``events`` (store rows), ``products`` (catalog), per-line ``results``."""

    events: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    event_lines: list[list[int]] = field(default_factory=list)  # positions in ``results`` per event
    countries: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"lines": len(self.results), "events": len(self.events),
                               "products": len(self.products)}
        for r in self.results:
            out[r["status"]] = out.get(r["status"], 0) + 1
        out["warnings"] = sum("warning" in r for r in self.results)
        return out

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.results)


def _number(value: Any, what: str) -> float:
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if num != num or num in (float("inf"), float("-inf")):
        raise ValueError(f"{what} is not finite: {value!r}")
    return num


def _user(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # spreadsheets write 17850 as 17850.0
        text = text[:-2]
    return text or None


def parse_transactions(rows: Iterable[Mapping[str, Any]], mapping: Mapping[str, str]) -> Transactions:
    """Turn transaction lines into purchase events and a catalog (see the module docstring)."""
    out = Transactions()
    col = {f: mapping.get(f) for f in FIELDS}
    ts_cache: dict[str, datetime | None] = {}
    titles: dict[str, Counter[str]] = defaultdict(Counter)
    prices: dict[str, list[float]] = defaultdict(list)
    buys: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    cancels: list[tuple[int, str, str, datetime, float]] = []
    for pos, row in enumerate(rows):
        at = row.get("_line", row.get("line") if "error" in row else None)
        line = int(at) if isinstance(at, int) else pos + 1
        res: dict[str, Any] = {"line": line, "status": "error"}
        out.results.append(res)
        if "error" in row:
            res["error"] = str(row["error"])
            continue

        def get(f: str, row: Mapping[str, Any] = row) -> Any:
            c = col[f]
            return row.get(c) if c else None

        try:
            item = str(get("item_id") or "").strip()
            if not item:
                raise ValueError("no item id")
            res["item_id"] = item
            if is_non_product(item):
                res["status"] = "non_product"
                continue
            raw_ts = str(get("ts") or "")
            if raw_ts not in ts_cache:
                ts_cache[raw_ts] = parse_ts(raw_ts)
            ts = ts_cache[raw_ts]
            if ts is None:
                raise ValueError("no time")
            qty = _number(get("quantity"), "quantity")
            price = _number(get("price"), "price") if get("price") not in (None, "") else None
        except ValueError as exc:
            res["error"] = str(exc)
            continue
        title = str(get("title") or "").strip()
        if title:
            titles[item][title] += 1
        if price is not None and price > 0 and qty > 0:
            prices[item].append(price)
        user = _user(get("user_id"))
        if user is None:
            res["status"] = "no_customer"
            continue
        res["user_id"] = user
        if col["country"] and get("country"):
            out.countries.setdefault(user, str(get("country")))
        order = str(get("order_id") or "")
        if order.upper().startswith("C") or qty < 0:
            res["status"] = "cancellation"
            cancels.append((len(out.results) - 1, user, item, ts, abs(qty)))
            continue
        if qty == 0:
            res.update(error="quantity is 0")
            continue
        res["status"] = "purchase"
        ev = buys.setdefault((user, item, ts), {"user_id": user, "item_id": item, "type": "purchase", "ts": ts,
                                                "weight": 0.0, "value": 0.0, "_lines": []})
        ev["weight"] += qty
        ev["value"] += qty * (price or 0.0)
        ev["_lines"].append(len(out.results) - 1)
    _apply_cancellations(out, buys, cancels)
    for ev in sorted(buys.values(), key=lambda e: (e["ts"], e["user_id"], e["item_id"])):
        if ev["weight"] > 0:
            out.events.append({k: v for k, v in ev.items() if k != "_lines"})
            out.event_lines.append(ev["_lines"])
    for item in sorted(set(titles) | set(prices)):
        title = titles[item].most_common(1)[0][0] if titles[item] else item
        price = round(statistics.median(prices[item]), 4) if prices[item] else None
        out.products.append({"id": item, "title": title, "price": price, "lang": "en" if titles[item] else None})
    return out


def _apply_cancellations(out: Transactions, buys: dict[tuple[str, str, datetime], dict[str, Any]],
                         cancels: list[tuple[int, str, str, datetime, float]]) -> None:
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (user, item, _), ev in buys.items():
        by_pair[(user, item)].append(ev)
    for evs in by_pair.values():
        evs.sort(key=lambda e: e["ts"])
    for res_i, user, item, ts, qty in sorted(cancels, key=lambda c: c[3]):
        left = qty
        for ev in reversed(by_pair.get((user, item), [])):
            if left <= 0:
                break
            if ev["ts"] > ts or ev["weight"] <= 0:
                continue
            take = min(left, ev["weight"])
            unit = ev["value"] / ev["weight"] if ev["weight"] else 0.0
            ev["weight"] -= take
            ev["value"] -= take * unit
            left -= take
            if ev["weight"] <= 0:
                for i in ev["_lines"]:
                    out.results[i].update(status="cancelled", warning=f"cancelled by line {out.results[res_i]['line']}")
        if left > 0:
            out.results[res_i]["warning"] = (f"{left:g} of {qty:g} cancelled units match no earlier purchase in "
                                             "this file")
