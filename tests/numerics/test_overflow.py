"""An int32 accumulator overflow is reported with the layer's name, never wrapped."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.errors import NumericsError
from npusim.numerics import run_numerics

# 255 * 127 * K > 2^31, and so are K / 2 pair sums of 32767 (onnxruntime's U8S8 kernel on a
# host without VNNI saturates each pair of products at int16: kernels/u8s8.py)
K = 140_000


def _model():
    u8, f = onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT
    inits = [numpy_helper.from_array(np.float32(1.0), "s"),
             numpy_helper.from_array(np.uint8(0), "z"),
             numpy_helper.from_array(np.full((K, 2), 127, np.int8), "b"),
             numpy_helper.from_array(np.int8(0), "bz"),
             numpy_helper.from_array(np.float32(1e6), "ys")]
    node = helper.make_node("QLinearMatMul", ["a", "s", "z", "b", "s", "bz", "ys", "z"], ["y"],
                            name="big_dot")
    g = helper.make_graph([node], "ovf", [helper.make_tensor_value_info("a", u8, [1, K])],
                          [helper.make_tensor_value_info("y", u8, [1, 2])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    del f
    return m


def test_overflow_names_the_layer():
    a = np.full((1, K), 255, np.uint8)
    with pytest.raises(NumericsError, match="big_dot"):
        run_numerics(_model(), {"a": a})


def test_overflow_recorded_when_asked():
    a = np.full((1, K), 255, np.uint8)
    r = run_numerics(_model(), {"a": a}, on_overflow="record", layerwise=False)
    assert r.layer("big_dot").overflow_count == 2


def test_bias_past_int32_widens_the_weight_scale_as_onnxruntime_does():
    # activations of ~1e-9 (an untrained detector's late layers) and a bias of 2: at
    # s_x * s_w the bias would need ~1e17; the weight scale grows until it fits int32
    from npusim.ir.passes import canonicalize
    from npusim.numerics.load import load_model
    from npusim.numerics.quantizer import config_for, quantize_graph
    f = onnx.TensorProto.FLOAT
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 1, 1)).astype(np.float32) * 0.1
    b = np.full(4, 2.0, np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="head")
    g = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("x", f, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", f, [1, 4, 4, 4])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    x = {"x": (rng.standard_normal((1, 3, 4, 4)) * 1e-9).astype(np.float32)}
    graph, _ = load_model(m)
    qdq = quantize_graph(canonicalize(graph), [x], config_for("ort", "int8"))
    sx = float(qdq.constant("x__scale"))
    sw = qdq.constant("w__scale").astype(np.float64)
    bq = qdq.constant("b__quantized")
    assert np.all(np.abs(bq.astype(np.int64)) <= 2**31 - 1)
    assert np.all(sx * sw >= 2 * 2.0 / (2**32 - 2))  # onnxruntime's smallest valid bias scale
    r = run_numerics(m, x, layerwise=False)
    assert np.allclose(r.outputs["y"], 2.0, atol=1e-6)
