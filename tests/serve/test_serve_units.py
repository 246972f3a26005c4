"""Library pieces of the service: micro-batcher, token buckets, key store, settings, `keys` CLI."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.config import load_settings, read_toml
from babelcart.serve.auth import KeyStore, RateLimiter, parse_key
from babelcart.serve.batching import BatcherClosed, MicroBatcher


# ------------------------------------------------------------------ micro-batching
class Recorder:
    def __init__(self, delay: float = 0.02, fail_on: str | None = None) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, items: list[str]) -> list[str]:
        with self.lock:
            self.sizes.append(len(items))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError("bad item")
        return [s.upper() for s in items]


def _run_concurrently(batcher: MicroBatcher, groups: list[list[str]]) -> list[object]:
    async def main() -> list[object]:
        return await asyncio.gather(*(batcher.submit(g) for g in groups), return_exceptions=True)
    return asyncio.run(main())


def test_batcher_merges_concurrent_requests_and_keeps_order():
    fn = Recorder()
    seen: list[tuple[int, int]] = []
    b = MicroBatcher(fn, name="t", max_batch=64, max_wait_ms=20, on_batch=lambda n, i, r: seen.append((i, r)))
    groups = [[f"a{i}", f"b{i}"] for i in range(20)]
    out = _run_concurrently(b, groups)
    b.close()
    assert out == [[f"A{i}", f"B{i}"] for i in range(20)]
    assert sum(fn.sizes) == 40 and len(fn.sizes) < 20 and max(fn.sizes) > 2
    assert sum(i for i, _ in seen) == 40 and sum(r for _, r in seen) == 20


def test_batcher_respects_max_batch():
    fn = Recorder(delay=0.0)
    b = MicroBatcher(fn, name="t", max_batch=4, max_wait_ms=30)
    out = _run_concurrently(b, [[str(i)] for i in range(12)])
    b.close()
    assert out == [[str(i)] for i in range(12)]
    assert max(fn.sizes) <= 4


def test_batcher_disabled_runs_each_request_alone():
    fn = Recorder(delay=0.005)
    b = MicroBatcher(fn, name="t", enabled=False)
    out = _run_concurrently(b, [["x", "y"]] * 6)
    b.close()
    assert out == [["X", "Y"]] * 6
    assert fn.sizes == [2] * 6


def test_one_bad_request_does_not_fail_the_others():
    fn = Recorder(fail_on="boom")
    b = MicroBatcher(fn, name="t", max_wait_ms=30)
    out = _run_concurrently(b, [["a"], ["boom"], ["c"], ["d"]])
    b.close()
    assert out[0] == ["A"] and out[2] == ["C"] and out[3] == ["D"]
    assert isinstance(out[1], ValueError)


def test_wrong_result_count_is_an_error():
    b: MicroBatcher[str, str] = MicroBatcher(lambda xs: xs[:-1], name="short")
    with pytest.raises(RuntimeError, match="returned 1 results for 2"):
        b.submit_sync(["a", "b"], timeout=5)
    b.close()


def test_empty_submit_and_closed_batcher():
    b = MicroBatcher(Recorder(), name="t")
    assert b.submit_sync([]) == []
    b.close()
    with pytest.raises(BatcherClosed):
        b.submit_sync(["a"])
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)


# ------------------------------------------------------------------ rate limits
def test_token_bucket_refills_with_time():
    now = [100.0]
    rl = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [rl.acquire("k")[0] for _ in range(4)] == [True, True, True, False]
    allowed, retry = rl.acquire("k")
    assert not allowed and retry == 1
    now[0] += 0.5  # one token back
    assert rl.acquire("k") == (True, 0)
    assert rl.acquire("k")[0] is False
    now[0] += 100  # never more than burst
    assert [rl.acquire("k")[0] for _ in range(4)] == [True, True, True, False]
    assert rl.acquire("other") == (True, 0)


def test_slow_rate_gives_long_retry_after():
    rl = RateLimiter(rate=0.1, burst=1, clock=lambda: 0.0)
    rl.acquire("k")
    assert rl.acquire("k") == (False, 10)


# ------------------------------------------------------------------ keys
def test_keystore_create_verify_revoke(tmp_path: Path):
    store = KeyStore(tmp_path / "k" / "keys.json")
    key, rec = store.create(scope="write", name="shop")
    assert parse_key(key) == (rec.id, key.split("_", 2)[2])
    assert store.verify(key) == rec
    assert rec.allows("read") and rec.allows("write") and not rec.allows("admin")
    assert store.verify(key + "x") is None and store.verify("bc_" + rec.id + "_") is None
    other = KeyStore(tmp_path / "k" / "keys.json")  # another process sees the same file
    assert other.verify(key) is not None
    store.revoke(rec.id)
    assert store.verify(key) is None and other.verify(key) is None
    with pytest.raises(KeyError):
        store.revoke("ffffffff")
    with pytest.raises(ValueError, match="scope must be one of"):
        store.create(scope="root")


def test_corrupted_keys_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="keys file .* is corrupted"):
        KeyStore(path).verify("bc_12345678_abc")


def test_keys_cli_prints_key_once_and_lists_without_secrets(tmp_path: Path):
    from babelcart.cli import app

    runner = CliRunner()
    kf = str(tmp_path / "keys.json")
    res = runner.invoke(app, ["keys", "create", "--scope", "read", "--name", "web", "--keys-file", kf])
    assert res.exit_code == 0, res.output
    key = res.stdout.strip().splitlines()[0]
    assert key.startswith("bc_") and KeyStore(kf).verify(key) is not None
    listing = runner.invoke(app, ["keys", "list", "--keys-file", kf, "--json"])
    rows = json.loads(listing.stdout)
    assert rows[0]["scope"] == "read" and rows[0]["name"] == "web"
    assert key.split("_", 2)[2] not in listing.stdout and "hash" not in rows[0]
    res = runner.invoke(app, ["keys", "revoke", rows[0]["id"], "--keys-file", kf])
    assert res.exit_code == 0 and KeyStore(kf).verify(key) is None
    bad = runner.invoke(app, ["keys", "create", "--scope", "superuser", "--keys-file", kf])
    assert bad.exit_code != 0 and "scope must be one of" in bad.output


# ------------------------------------------------------------------ settings
def test_settings_priority_file_env_overrides(tmp_path: Path, monkeypatch):
    cfg = tmp_path / "babelcart.toml"
    cfg.write_text('[babelcart]\nport = 9001\nrate_limit_per_s = 5.5\ncors_origins = ["https://a.example"]\n'
                   'models_dir = "m"\n')
    s = load_settings(cfg)
    assert s.port == 9001 and s.rate_limit_per_s == 5.5 and s.cors_origins == ["https://a.example"]
    assert s.models_dir == Path("m")
    monkeypatch.setenv("BABELCART_PORT", "9002")
    monkeypatch.setenv("BABELCART_BATCHING_ENABLED", "false")
    s = load_settings(cfg)
    assert s.port == 9002 and s.batching_enabled is False and s.rate_limit_per_s == 5.5
    s = load_settings(cfg, port=9003, host=None)
    assert s.port == 9003 and s.host == "127.0.0.1"
    monkeypatch.setenv("BABELCART_CONFIG", str(cfg))
    assert load_settings().rate_limit_per_s == 5.5


def test_bad_config_files_are_clear_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        read_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_toml(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1")
    with pytest.raises(ValueError, match="unknown setting"):
        read_toml(unknown)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("port = 'high'")
    with pytest.raises(ValueError, match="port"):
        load_settings(wrong)


def test_unknown_babelcart_env_vars_warn(monkeypatch, caplog):
    monkeypatch.setenv("BABELCART_PROT", "9000")  # a typo
    monkeypatch.setenv("BABELCART_PORT", "9001")
    monkeypatch.setenv("BABELCART_DATA_DIR", "/data")  # read by the dataset loaders, not a setting
    with caplog.at_level("WARNING", logger="babelcart.config"):
        assert load_settings(None).port == 9001
    warned = [r.getMessage() for r in caplog.records]
    assert warned == ["unknown environment variable BABELCART_PROT is ignored (did you mean BABELCART_PORT?)"]


def test_serve_workers_get_settings_from_a_0600_file_not_the_environment(tmp_path: Path, monkeypatch):
    import os
    import stat

    import uvicorn

    from babelcart.cli import app
    from babelcart.config import SETTINGS_FILE_ENV, settings_from_env

    secrets = {"db_url": "postgresql+psycopg://shop:dbpass@db.internal/shop",
               "webhook_url": "https://hooks.example.com/T0/s3cr3t"}
    cfg = tmp_path / "b.toml"
    cfg.write_text("".join(f'{k} = "{v}"\n' for k, v in secrets.items()))
    monkeypatch.delenv(SETTINGS_FILE_ENV, raising=False)
    seen: dict[str, object] = {}

    def fake_run(target, **kwargs):  # what a worker would find when it starts
        path = Path(os.environ[SETTINGS_FILE_ENV])
        seen.update(path=path, mode=stat.S_IMODE(path.stat().st_mode), workers=kwargs["workers"],
                    env=" ".join(os.environ.values()), settings=settings_from_env())

    monkeypatch.setattr(uvicorn, "run", fake_run)
    res = CliRunner().invoke(app, ["serve", "--config", str(cfg), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert seen["workers"] == 2 and seen["mode"] == 0o600
    for key, value in secrets.items():
        assert value not in str(seen["env"]) and "dbpass" not in str(seen["env"])
        assert getattr(seen["settings"], key) == value
    assert not Path(str(seen["path"])).exists()  # removed when the server stops


def test_serve_cli_reports_bad_config(tmp_path: Path):
    from babelcart.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 1")
    res = CliRunner().invoke(app, ["serve", "--config", str(bad)])
    assert res.exit_code != 0 and "unknown setting" in res.output
