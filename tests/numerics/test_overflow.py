"""An int32 accumulator overflow is reported with the layer's name, never wrapped."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.errors import NumericsError
from npusim.numerics import run_numerics

K = 70_000  # 255 * 127 * 70000 > 2^31


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
