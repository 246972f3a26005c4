"""Retail transaction lines → events + catalog: statuses, cancellations, weights; CLI ingest --map, users, train --until."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.transactions import ONLINE_RETAIL_MAP, is_non_product, parse_map, parse_transactions

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
ROWS = [
    ["1", "A1", "RED MUG", "6", "2011-01-03 10:00", "2.50", "17850", "United Kingdom"],
    ["1", "A1", "RED MUG", "2", "2011-01-03 10:00", "2.50", "17850", "United Kingdom"],   # same invoice: summed
    ["1", "POST", "POSTAGE", "1", "2011-01-03 10:00", "18", "17850", "United Kingdom"],   # non-product
    ["2", "B2", "BLUE BOWL", "4", "2011-01-04 11:00", "3.00", "", "United Kingdom"],      # no customer
    ["3", "B2", "BLUE BOWL", "3", "2011-01-05 09:00", "3.00", "12345", "France"],
    ["C4", "B2", "BLUE BOWL", "-3", "2011-01-06 09:00", "3.00", "12345", "France"],      # cancels invoice 3
    ["C5", "A1", "RED MUG", "-1", "2011-01-01 09:00", "2.50", "12345", "France"],       # nothing before it
    ["6", "C3", "", "1", "not a date", "1.0", "12345", "France"],                       # error
    ["7", "A1", "RED MUG", "5", "2011-02-01 09:00", "2.70", "12345.0", "France"],        # 12345.0 → 12345
]


def _statuses(tx) -> list[str]:
    return [r["status"] for r in tx.results]


def _rows() -> list[dict[str, str]]:
    return [dict(zip(HEADER, r, strict=True)) for r in ROWS]


def test_every_line_gets_a_status_and_cancellations_cancel() -> None:
    tx = parse_transactions(_rows(), ONLINE_RETAIL_MAP)
    assert _statuses(tx) == ["purchase", "purchase", "non_product", "no_customer", "cancelled", "cancellation",
                             "cancellation", "error", "purchase"]
    assert "cancelled by line 6" in tx.results[4]["warning"]
    assert "match no earlier purchase" in tx.results[6]["warning"]
    assert "time" in tx.results[7]["error"] or "timestamp" in tx.results[7]["error"]
    by = {(e["user_id"], e["item_id"]): e for e in tx.events}
    assert set(by) == {("17850", "A1"), ("12345", "A1")}  # the cancelled bowl purchase is gone
    assert by[("17850", "A1")]["weight"] == 8.0 and by[("17850", "A1")]["value"] == pytest.approx(20.0)
    counts = tx.counts()
    assert counts["lines"] == len(ROWS) and counts["no_customer"] == 1 and counts["non_product"] == 1
    cat = {p["id"]: p for p in tx.products}
    assert set(cat) == {"A1", "B2"}  # POST is not a product; C3's line was unreadable
    assert cat["A1"]["title"] == "RED MUG" and cat["A1"]["price"] == pytest.approx(2.5)
    assert cat["B2"]["title"] == "BLUE BOWL"  # known from the customer-less line too
    assert tx.countries["12345"] == "France"


def test_partial_cancellation_keeps_the_rest() -> None:
    rows = _rows()[:2] + [dict(zip(HEADER, ["C9", "A1", "RED MUG", "-5", "2011-01-04 10:00", "2.5", "17850", "UK"],
                                   strict=True))]
    tx = parse_transactions(rows, ONLINE_RETAIL_MAP)
    assert [e["weight"] for e in tx.events] == [3.0]
    assert _statuses(tx) == ["purchase", "purchase", "cancellation"]


def test_map_parsing_and_non_product_codes() -> None:
    assert parse_map("online-retail") == ONLINE_RETAIL_MAP
    m = parse_map("user_id=Cust, item_id=Sku, ts=When, quantity=Qty")
    assert m == {"user_id": "Cust", "item_id": "Sku", "ts": "When", "quantity": "Qty"}
    with pytest.raises(ValueError, match="lacks quantity"):
        parse_map("user_id=a,item_id=b,ts=c")
    with pytest.raises(ValueError, match="unknown field"):
        parse_map("user=a,item_id=b,ts=c,quantity=d")
    with pytest.raises(ValueError, match="field=Column"):
        parse_map("user_id")
    assert is_non_product("POST") and is_non_product("gift_0001_20") and is_non_product("BANK CHARGES")
    assert not is_non_product("85123A") and not is_non_product("DCGSSGIRL")


def _world_csv(path) -> str:
    """12 customers who re-buy their own items across two months (plus the messy lines above)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(ROWS)
        inv = 100
        for u in range(12):
            for month in (3, 4, 5):
                for d in (2, 16):
                    inv += 1
                    for item in (f"I{u % 4}", f"I{u % 4 + 4}"):
                        w.writerow([str(inv), item, f"ITEM {item}", "2", f"2011-{month:02d}-{d:02d} 1{u % 10}:00",
                                    "1.5", str(20000 + u), "Germany" if u % 2 else "United Kingdom"])
    return str(path)


@pytest.mark.slow
def test_cli_ingest_map_then_batch_recommend_and_train_until(tmp_path) -> None:
    runner = CliRunner()
    src = _world_csv(tmp_path / "retail.csv")
    db = f"sqlite:///{tmp_path / 'bc.db'}"
    rep = tmp_path / "report.jsonl"
    r = runner.invoke(app, ["ingest", "events", src, "--db", db, "--map", "online-retail", "-o", str(rep)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in rep.read_text().splitlines()]
    assert len(lines) == len(ROWS) + 12 * 6 * 2  # one result per input line
    assert {"no_customer", "non_product", "cancellation", "cancelled", "error", "purchase"} <= {x["status"] for x in lines}
    assert "no_customer" in r.output  # the summary counts them
    again = runner.invoke(app, ["ingest", "events", src, "--db", db, "--map", "online-retail", "-o", str(rep)])
    assert again.exit_code == 0 and "duplicate" in again.output  # re-ingesting adds nothing
    r = runner.invoke(app, ["ingest", "events", src, "--db", db, "--map", "user_id=CustomerID"])
    assert r.exit_code != 0 and "lacks" in r.output
    model = tmp_path / "model"
    r = runner.invoke(app, ["recommend", "train", "--db", db, "--encoder", "hash:32", "--until", "2011-05-01",
                            "-o", str(model), "-q"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["now"] < 1304208000  # 2011-05-01: nothing after --until was used
    users = tmp_path / "users.txt"
    users.write_text("20001\nnobody\n\n20002\n", encoding="utf-8")
    out = tmp_path / "recs.jsonl"
    r = runner.invoke(app, ["recommend", "users", str(users), "--db", db, "--model", str(model), "-k", "3",
                            "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["user_id"] for x in recs] == ["20001", "nobody", None, "20002"]  # input order, every line
    assert len(recs[0]["results"]) == 3 and set(recs[0]["results"][0]) == {"id", "score"}
    assert "I1" in [x["id"] for x in recs[0]["results"]]  # customer 20001 re-buys I1 and I5
    assert "cold start" in recs[1]["note"] and len(recs[1]["results"]) == 3
    assert "error" in recs[2]
    r = runner.invoke(app, ["recommend", "train", "--db", db, "--until", "yesterday-ish", "-o", str(model)])
    assert r.exit_code != 0
