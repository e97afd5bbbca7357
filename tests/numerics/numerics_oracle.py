"""Helpers shared by the oracle tests: onnxruntime sessions and backend-test arrays."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper


def as_array(x) -> np.ndarray:
    """Backend test data holds TensorProtos for fp8 / int4 values."""
    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else np.asarray(x)


def ort_session(model: onnx.ModelProto, **kw):
    ort = pytest.importorskip("onnxruntime")
    ort.set_default_logger_severity(3)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.ir_version = min(m.ir_version, 10)  # this onnxruntime refuses IR > 13 (NUMERICS.md)
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"], **kw)


def sensitive_model() -> onnx.ModelProto:
    """conv1 -> relu -> conv2 (channel 0 scaled x1000: a wide-range activation) -> sigmoid
    -> conv3. Per-tensor quantization of conv2's output crushes its other channels."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((8, 8, 1, 1)).astype(np.float32) * 0.3
    w2[0] *= 1000.0
    w3 = rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3
    w3[:, 0] = 0.0
    f = onnx.TensorProto.FLOAT
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Sigmoid", ["c2"], ["s2"], name="sigmoid"),
             helper.make_node("Conv", ["s2", "w3"], ["y"], name="conv3")]
    g = helper.make_graph(nodes, "sensitive", [helper.make_tensor_value_info("x", f, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", f, [1, 4, 8, 8])],
                          [numpy_helper.from_array(w, n) for w, n in
                           ((w1, "w1"), (w2, "w2"), (w3, "w3"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m
