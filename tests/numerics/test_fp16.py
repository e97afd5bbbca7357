"""fp16 arithmetic: elementwise ops equal numpy float16, and the two dot-product
accumulation modes differ as NUMERICS.md says (K = 4096)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.numerics import run_numerics
from npusim.numerics.kernels.dot import matmul_fp16_acc


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def test_elementwise_fp16_equals_numpy_half():
    f = onnx.TensorProto.FLOAT
    m = _model([helper.make_node("Mul", ["a", "b"], ["p"], name="mul"),
                helper.make_node("Div", ["a", "b"], ["q"], name="div"),
                helper.make_node("Add", ["p", "q"], ["s"], name="add"),
                helper.make_node("Sub", ["s", "a"], ["y"], name="sub")],
               [helper.make_tensor_value_info(n, f, [4096]) for n in "ab"],
               [helper.make_tensor_value_info("y", f, [4096])])
    rng = np.random.default_rng(1)
    a = rng.standard_normal(4096).astype(np.float32)
    b = rng.uniform(0.5, 2, 4096).astype(np.float32)
    r = run_numerics(m, {"a": a, "b": b}, precision="fp16")
    a16, b16 = a.astype(np.float16), b.astype(np.float16)
    expected = (a16 * b16 + a16 / b16) - a16
    assert r.outputs["y"].dtype == np.float16
    assert r.outputs["y"].tobytes() == expected.tobytes()


def test_accumulation_modes_at_k_4096():
    k = 4096
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (k, 8)).astype(np.float32)
    x = rng.uniform(0, 1, (1, k)).astype(np.float32)
    f = onnx.TensorProto.FLOAT
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
               [helper.make_tensor_value_info("x", f, [1, k])],
               [helper.make_tensor_value_info("y", f, [1, 8])],
               [numpy_helper.from_array(w, "w")])
    acc32 = run_numerics(m, {"x": x}, precision="fp16", accumulate="fp32").outputs["y"]
    acc16 = run_numerics(m, {"x": x}, precision="fp16", accumulate="fp16").outputs["y"]
    x16, w16 = x.astype(np.float16), w.astype(np.float16)
    assert acc32.tobytes() == np.matmul(x16, w16).tobytes()
    assert acc16.tobytes() == matmul_fp16_acc(x16, w16).tobytes()
    exact = x16.astype(np.float64) @ w16.astype(np.float64)
    err32 = np.abs(acc32 - exact).max() / np.abs(exact).max()
    err16 = np.abs(acc16 - exact).max() / np.abs(exact).max()
    assert err16 > 10 * err32


def test_fast_fp32_accumulation_is_numpy_float16_matmul():
    # NUMERICS.md's fp32-accumulate reference is np.matmul on float16 (in order over K, in
    # float32); the numba loop reproduces it byte for byte, batched and broadcast
    from npusim.numerics.kernels.dot import matmul_fp16_fp32_acc
    rng = np.random.default_rng(3)
    for a_shape, b_shape in [((7, 300), (300, 5)), ((2, 3, 40, 64), (64, 33)),
                             ((1, 200), (4, 200, 9)), ((5, 1), (1, 6))]:
        a = (rng.standard_normal(a_shape) * 4).astype(np.float16)
        b = rng.standard_normal(b_shape).astype(np.float16)
        assert matmul_fp16_fp32_acc(a, b).tobytes() == np.matmul(a, b).tobytes()
