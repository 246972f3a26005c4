"""The export's validation numbers are printed as a reader reads them: rounded, not 0.19469000000000003."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from babelcart.export.onnx_export import _agreement


def test_validation_numbers_are_rounded() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(8, 3))
    got = ref + rng.normal(scale=1 / 3, size=ref.shape)
    for kind, task in (("classifier", "classify"), ("classifier", "rating"), ("encoder", None)):
        out = _agreement(SimpleNamespace(kind=kind, task=task), ref, got)  # type: ignore[arg-type]
        assert out and all(type(v) is float and v == float(f"{v:.6g}") for v in out.values()), out
        assert _agreement(SimpleNamespace(kind=kind, task=task), ref, ref + 6.7e-8)["max_abs_diff"] > 0  # type: ignore[arg-type]
        assert out["max_abs_diff"] > 0 and 0 <= out.get("pred_agreement", 0) <= 1


def test_refitted_validation_numbers_are_rounded() -> None:
    from babelcart.export.refitted import _validate

    class Clf:
        def predict(self, texts: list[str]) -> list[dict]:
            scores = {"a": 0.6, "b": 0.4} if len(texts) == 1 else {"a": 0.79469, "b": 0.20531}
            return [{"pred": "a", "scores": scores} for _ in texts]

    assert 0.79469 - 0.6 == 0.19469000000000003  # what the export printed
    assert _validate(Clf(), ["x", "y", "z"], ["a", "a", "b"]) == {"pred_agreement": 0.666667,
                                                                 "max_score_diff_alone_vs_batch": 0.19469}
