"""ONNX export, int8, head pruning, the ``onnx:`` encoder and the ONNX classifier on tiny models built in code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from tests.export.helpers_export import SENTENCES, build_finetuned  # noqa: E402
from tests.finetune.tiny_models import build_tiny_bert, build_tiny_xlmr  # noqa: E402

from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.encoders.onnx import OnnxModelError  # noqa: E402
from babelcart.export import ExportError, export_model, prune_heads, quantize_int8  # noqa: E402
from babelcart.models.onnx import load_onnx_classifier  # noqa: E402

pytestmark = pytest.mark.torch

TEXTS = [
    "great product, fast shipping",
    "质量很好，物流很快",
    "produk bagus sekali",
    "",
    "bluetooth headphones " * 200,  # beyond max_position: must be truncated, not crash
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> object:
    """One thread for torch and onnxruntime: on a shared 2-core box, spinning thread pools crawl."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BABELCART_ONNX_THREADS", "1")
        yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def e5_src(work: Path) -> Path:
    # "e5" in the name: the hf encoder (and so the export) uses query:/passage: prefixes
    return build_tiny_xlmr(work / "tiny-e5", num_heads=4)


@pytest.fixture(scope="module")
def e5_onnx(work: Path, e5_src: Path) -> Path:
    return export_model(e5_src, work / "tiny-e5-onnx", int8=True)


@pytest.fixture(scope="module")
def clf_src(work: Path) -> Path:
    return build_finetuned(work / "clf")


@pytest.fixture(scope="module")
def clf_onnx(work: Path, clf_src: Path) -> Path:
    return export_model(clf_src, work / "clf-onnx", int8=True)


@pytest.mark.slow
def test_encoder_export_files_and_validation(e5_onnx: Path) -> None:
    cfg = json.loads((e5_onnx / "config.json").read_text())
    assert {"model.onnx", "model.int8.onnx"} <= {p.name for p in e5_onnx.iterdir()}
    assert (e5_onnx / "tokenizer" / "tokenizer.json").is_file()
    assert cfg["kind"] == "encoder" and cfg["dim"] == 32
    assert cfg["prefixes"] == {"query": "query: ", "passage": "passage: "}
    assert cfg["validation"]["fp32"]["min_cosine"] >= 0.999
    assert 0.9 <= cfg["validation"]["int8"]["min_cosine"] <= 1.0
    assert not list(e5_onnx.parent.glob(".tiny-e5-onnx*")), "temporary folder left behind"


def test_onnx_encoder_matches_hf_encoder(e5_src: Path, e5_onnx: Path) -> None:
    ref = get_encoder(f"hf:{e5_src}")
    fp32 = get_encoder(f"onnx:{e5_onnx}?precision=fp32")
    int8 = get_encoder(f"onnx:{e5_onnx}")
    for role in ("query", "passage"):
        r = ref.encode(TEXTS, role=role)  # type: ignore[arg-type]
        a = fp32.encode(TEXTS, role=role)  # type: ignore[arg-type]
        b = int8.encode(TEXTS, role=role)  # type: ignore[arg-type]
        assert a.shape == b.shape == (len(TEXTS), 32) and a.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
        assert (a * r).sum(1).min() > 0.9999
        assert (b * r).sum(1).min() > 0.98
    # the prefixes are applied: the same text as query and passage embeds differently
    q, p = fp32.encode(["red dress"], role="query"), fp32.encode(["red dress"], role="passage")
    assert float((q * p).sum()) < 0.99999


def test_onnx_encoder_precision_and_spec(e5_onnx: Path) -> None:
    auto = get_encoder(f"onnx:{e5_onnx}")
    assert auto.spec.endswith("precision=int8") and auto.precision == "int8"  # type: ignore[attr-defined]
    fp32 = get_encoder(f"onnx:{e5_onnx}", precision="fp32")
    assert fp32.spec.endswith("precision=fp32")
    again = get_encoder(fp32.spec)  # a spec round-trips
    np.testing.assert_allclose(again.encode(["abc"]), fp32.encode(["abc"]), atol=1e-6)
    assert get_encoder(f"onnx:{e5_onnx}").encode([]).shape == (0, 32)
    # micro-batching by token length changes padding only, never the vectors or their order
    one = get_encoder(f"onnx:{e5_onnx}?precision=fp32&micro_batch=1").encode(TEXTS, batch_size=64)
    big = get_encoder(f"onnx:{e5_onnx}?precision=fp32&micro_batch=64").encode(TEXTS, batch_size=64)
    np.testing.assert_allclose(one, big, atol=1e-5)
    single = get_encoder(f"onnx:{e5_onnx}?precision=fp32")
    np.testing.assert_allclose(one, np.stack([single.encode([t])[0] for t in TEXTS]), atol=1e-5)
    with pytest.raises(ValueError, match="precision"):
        get_encoder(f"onnx:{e5_onnx}?precision=fp16")


def test_classifier_round_trip_matches_torch(clf_src: Path, clf_onnx: Path) -> None:
    from babelcart.models.finetuned import load_finetuned

    ref = load_finetuned(clf_src, device="cpu")
    texts = SENTENCES + TEXTS
    langs = ["en"] * len(texts)
    want = ref.predict(texts, langs=langs)
    fp32 = load_onnx_classifier(clf_onnx, precision="fp32").predict(texts, langs=langs)
    int8 = load_onnx_classifier(clf_onnx).predict(texts, langs=langs)
    assert [r["pred"] for r in fp32] == [r["pred"] for r in want]
    for a, r in zip(fp32, want, strict=True):
        assert set(a) == {"pred", "scores", "lang"} and a["lang"] == "en"
        assert a["scores"].keys() == r["scores"].keys()
        np.testing.assert_allclose(list(a["scores"].values()), list(r["scores"].values()), atol=1e-4)
    agree = np.mean([a["pred"] == r["pred"] for a, r in zip(int8, want, strict=True)])
    assert agree >= 0.75
    cfg = json.loads((clf_onnx / "config.json").read_text())
    assert cfg["kind"] == "classifier" and cfg["labels"] == ["neg", "pos", "neutral"]
    assert cfg["validation"]["fp32"]["pred_agreement"] == 1.0


def test_load_model_serves_onnx_exports(clf_onnx: Path) -> None:
    from babelcart.models import load_model

    served = load_model(clf_onnx).predict(SENTENCES, langs=["en"] * len(SENTENCES))
    direct = load_onnx_classifier(clf_onnx).predict(SENTENCES, langs=["en"] * len(SENTENCES))
    assert [r["pred"] for r in served] == [r["pred"] for r in direct]


@pytest.mark.slow
@pytest.mark.parametrize(("rating_head", "rating_decode"), [("coral", None), ("softmax", None), ("softmax", "mode")])
def test_rating_classifier_round_trip(work: Path, rating_head: str, rating_decode: str | None) -> None:
    from babelcart.models.finetuned import load_finetuned

    name = f"rating-{rating_head}-{rating_decode}"
    src = build_finetuned(work / name, task="rating", seed=3, rating_head=rating_head, rating_decode=rating_decode)
    out = export_model(src, work / f"{name}-onnx")
    want = load_finetuned(src, device="cpu").predict(SENTENCES, langs=["en"] * 4)
    got = load_onnx_classifier(out).predict(SENTENCES, langs=["en"] * 4)
    assert [g["pred"] for g in got] == [w["pred"] for w in want]
    assert all(isinstance(g["pred"], int) for g in got)
    np.testing.assert_allclose([g["expected"] for g in got], [w["expected"] for w in want], atol=1e-4)
    np.testing.assert_allclose([list(g["scores"].values()) for g in got],
                               [list(w["scores"].values()) for w in want], atol=1e-4)


def test_prune_heads_shrinks_and_still_runs() -> None:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64)).eval()
    with torch.no_grad():  # make head 2 of layer 0 clearly the least important
        model.encoder.layer[0].attention.self.query.weight[16:24] *= 0.01
        model.encoder.layer[0].attention.self.key.weight[16:24] *= 0.01
        model.encoder.layer[0].attention.self.value.weight[16:24] *= 0.01
    removed = prune_heads(model, fraction=0.25)
    assert sum(len(v) for v in removed.values()) == 2 and 2 in removed[0]
    sizes = [layer.attention.self.query.weight.shape[0] for layer in model.encoder.layer]
    assert sum(sizes) == 6 * 8
    for layer in model.encoder.layer:
        sa = layer.attention.self
        assert sa.key.weight.shape[0] == sa.value.weight.shape[0] == sa.query.weight.shape[0]
        assert layer.attention.output.dense.weight.shape[1] == sa.query.weight.shape[0]
    ids = torch.randint(0, 50, (2, 9))
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert out.shape == (2, 9, 32) and torch.isfinite(out).all()
    # every layer keeps at least one head even when asked for almost everything
    prune_heads(model, fraction=0.95)
    assert all(layer.attention.self.query.weight.shape[0] >= 8 for layer in model.encoder.layer)
    with pytest.raises(ValueError, match="fraction"):
        prune_heads(model, fraction=1.0)


@pytest.mark.slow
def test_pruned_export_runs(work: Path, e5_src: Path) -> None:
    out = export_model(e5_src, work / "pruned-onnx", int8=True, prune=0.5)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["pruning"]["heads_before"] == 8 and cfg["pruning"]["heads_after"] == 4
    assert cfg["validation"]["fp32"]["min_cosine"] >= 0.999
    vecs = get_encoder(f"onnx:{out}").encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 32) and np.isfinite(vecs).all()
    assert (out / "model.int8.onnx").stat().st_size < (work / "tiny-e5-onnx" / "model.int8.onnx").stat().st_size


@pytest.mark.slow
def test_pruned_classifier_recovery(work: Path, clf_src: Path) -> None:
    data = work / "recovery.jsonl"
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in
             [(SENTENCES[0], "pos"), (SENTENCES[1], "neg"), (SENTENCES[2], "pos"), (SENTENCES[3], "neg")] * 4]
    lines += ["{not json", json.dumps({"text": "x", "label": "unknown-label"})]
    data.write_text("\n".join(lines) + "\n")
    out = export_model(clf_src, work / "clf-pruned", prune=0.5, recovery_data=data, recovery_steps=40,
                       recovery_lr=1e-3)
    rec = json.loads((out / "config.json").read_text())["pruning"]["recovery"]
    assert rec["lines"] == 16 and rec["skipped"] == 2
    assert rec["loss_last"] < rec["loss_first"]
    preds = load_onnx_classifier(out).predict(SENTENCES, langs=["en"] * 4)
    assert [p["pred"] for p in preds] == ["pos", "neg", "pos", "neg"]


def test_recovery_needs_prune_and_labels(work: Path, clf_src: Path, e5_src: Path) -> None:
    with pytest.raises(ValueError, match="prune"):
        export_model(clf_src, work / "x", recovery_data=work / "none.jsonl")
    bad = work / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a", "label": "nope"}) + "\n")
    with pytest.raises(ExportError, match="no usable"):
        export_model(clf_src, work / "y", prune=0.25, recovery_data=bad)
    with pytest.raises(ExportError, match="classifier"):
        export_model(e5_src, work / "z", prune=0.25, recovery_data=bad)
    assert not (work / "y").exists() and not (work / "z").exists()


# ---------------------------------------------------------------- errors


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_corrupted_or_missing_onnx_file(work: Path, e5_onnx: Path) -> None:
    bad = _copy(e5_onnx, work / "corrupt")
    (bad / "model.int8.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(OnnxModelError, match="corrupted"):
        get_encoder(f"onnx:{bad}")
    (bad / "model.int8.onnx").unlink()
    (bad / "model.onnx").unlink()
    with pytest.raises(OnnxModelError, match="no model.int8.onnx or model.onnx"):
        get_encoder(f"onnx:{bad}")
    with pytest.raises(OnnxModelError, match="not found"):
        get_encoder(f"onnx:{work / 'does-not-exist'}")


def test_bad_config(work: Path, e5_onnx: Path, clf_onnx: Path) -> None:
    bad = _copy(e5_onnx, work / "badcfg")
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(OnnxModelError, match="newer babelcart"):
        get_encoder(f"onnx:{bad}")
    (bad / "config.json").write_text("{oops")
    with pytest.raises(OnnxModelError, match="not valid JSON"):
        get_encoder(f"onnx:{bad}")
    (bad / "config.json").unlink()
    with pytest.raises(OnnxModelError, match="no config.json"):
        get_encoder(f"onnx:{bad}")
    with pytest.raises(OnnxModelError, match="not an encoder"):
        get_encoder(f"onnx:{clf_onnx}")
    with pytest.raises(OnnxModelError, match="not a classifier"):
        load_onnx_classifier(e5_onnx)


def test_classifier_bad_input(clf_onnx: Path) -> None:
    clf = load_onnx_classifier(clf_onnx)
    with pytest.raises(TypeError):
        clf.predict("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="langs"):
        clf.predict(["a", "b"], langs=["en"])
    assert clf.predict([]) == []


def test_unexportable_sources(work: Path) -> None:
    with pytest.raises(FileNotFoundError):
        export_model(work / "missing", work / "o1")
    heads = work / "heads-model"
    heads.mkdir()
    (heads / "config.json").write_text(json.dumps({"method": "heads", "labels": ["a"]}))
    with pytest.raises(ExportError, match="only 'finetune'"):
        export_model(heads, work / "o2")
    broken = _copy(build_finetuned(work / "broken-src", seed=5), work / "broken")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ExportError, match="corrupted"):
        export_model(broken, work / "o3")
    with pytest.raises(FileNotFoundError):
        quantize_int8(work / "nope.onnx", work / "nope.int8.onnx")


def test_missing_onnxruntime_or_torch(monkeypatch: pytest.MonkeyPatch, e5_onnx: Path, e5_src: Path,
                                      work: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"babelcart\[onnx\]"):
        get_encoder(f"onnx:{e5_onnx}")
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"babelcart\[onnx\]"):
        export_model(e5_src, work / "no-torch")


# ---------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_export_and_embed(work: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    src = build_tiny_bert(work / "cli-bert", seed=1)
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(src), "--onnx", "--int8", "--out", str(work / "cli-onnx")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "encoder" and summary["files"] == ["model.int8.onnx", "model.onnx"]
    assert summary["validation"]["fp32"]["min_cosine"] >= 0.999
    inp = work / "in.jsonl"
    inp.write_text(json.dumps({"text": "hello"}) + "\n" + json.dumps({"nope": 1}) + "\n")
    res = runner.invoke(app, ["embed", str(inp), "--encoder", f"onnx:{work / 'cli-onnx'}"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(rows[0]["embedding"]) == 32 and "error" in rows[1]
    res = runner.invoke(app, ["export", str(src), "--out", str(work / "cli-x")])
    assert res.exit_code != 0 and "--onnx" in res.output
    res = runner.invoke(app, ["export", str(work / "missing"), "--onnx"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["export", str(src), "--onnx", "--prune", "1.5"])
    assert res.exit_code != 0


def test_int8_warning_below_threshold() -> None:
    from babelcart.export.onnx_export import int8_warning

    assert int8_warning({"texts": 10, "fp32": {}}) is None
    assert int8_warning({"texts": 10, "int8": {"pred_agreement": 1.0, "min_cosine": 0.99}}) is None
    msg = int8_warning({"texts": 10, "int8": {"pred_agreement": 0.8, "min_cosine": 0.99}})
    assert msg and "80%" in msg and "without --int8" in msg
    assert int8_warning({"texts": 10, "int8": {"min_cosine": 0.9}})  # an encoder: by cosine
    assert int8_warning({"texts": 10, "int8": {"min_cosine": 0.99}}) is None


def test_cli_predict_on_an_export_equals_the_source_folder(work: Path, clf_src: Path, clf_onnx: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    runner = CliRunner()
    fp32 = export_model(clf_src, work / "clf-onnx-fp32")
    inp = work / "predict-in.jsonl"
    lines = [{"id": i, "text": t} for i, t in enumerate(SENTENCES + TEXTS[:3])] + [{"id": "x", "title": "no text"}]
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")

    def predict(folder: Path) -> list[dict]:
        res = runner.invoke(app, ["predict", str(folder), str(inp), "-q"])
        assert res.exit_code == 0, res.output
        return [json.loads(x) for x in res.stdout.splitlines()]

    want, got = predict(clf_src), predict(fp32)
    assert len(got) == len(lines) and "error" in got[-1] and "error" not in got[0]
    for g, w in zip(got[:-1], want[:-1], strict=True):
        assert (g["id"], g["pred"], g["lang"]) == (w["id"], w["pred"], w["lang"])
        np.testing.assert_allclose(list(g["scores"].values()), list(w["scores"].values()), atol=1e-4)
    int8 = predict(clf_onnx)  # the int8 file is what an --int8 export serves by default
    confident = [i for i, w in enumerate(want[:-1]) if sorted(w["scores"].values())[-1]
                 - sorted(w["scores"].values())[-2] > 0.1]
    assert confident and all(int8[i]["pred"] == want[i]["pred"] for i in confident)
    bad = work / "predict-bad.jsonl"
    bad.write_text('{"title": "no text"}\n', encoding="utf-8")
    res = runner.invoke(app, ["predict", str(fp32), str(bad)])
    assert res.exit_code == 1 and "1 line, 1 error" in res.stderr


def test_cli_classifier_export_as_encoder_is_one_clear_line(clf_onnx: Path, work: Path) -> None:
    import subprocess

    inp = work / "enc-in.jsonl"
    inp.write_text('{"text": "hello"}\n', encoding="utf-8")
    res = subprocess.run([sys.executable, "-c", "from babelcart.cli import main; main()", "embed", str(inp), "--encoder", f"onnx:{clf_onnx}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [f"error: {clf_onnx} holds an ONNX classifier, not an encoder"]
