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


def convnext_block(channels: int = 32, size: int = 16, seed: int = 0) -> onnx.ModelProto:
    """A ConvNeXt block as torchvision exports it: depthwise 7x7 conv, NHWC LayerNorm,
    Linear 4x, erf GELU (Div, Erf, Add, Mul, Mul), Linear back, NCHW, residual Add."""
    rng = np.random.default_rng(seed)
    c, h = channels, 4 * channels

    def w(*shape, s=0.2):
        return (rng.standard_normal(shape) * s).astype(np.float32)
    inits = {"dw_w": w(c, 1, 7, 7), "dw_b": w(c), "ln_s": 1 + w(c, s=0.1), "ln_b": w(c, s=0.1),
             "fc1_w": w(c, h, s=0.15), "fc1_b": w(h), "fc2_w": w(h, c, s=0.1), "fc2_b": w(c),
             "sqrt2": np.array(1.4142135, np.float32), "one": np.array(1.0, np.float32),
             "half": np.array(0.5, np.float32)}
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "dw_w", "dw_b"], ["dw"], name="dwconv", group=c, pads=[3] * 4),
             mk("Transpose", ["dw"], ["t"], name="to_nhwc", perm=[0, 2, 3, 1]),
             mk("LayerNormalization", ["t", "ln_s", "ln_b"], ["ln"], name="norm", axis=-1,
                epsilon=1e-6),
             mk("MatMul", ["ln", "fc1_w"], ["f1"], name="fc1"),
             mk("Add", ["f1", "fc1_b"], ["f1b"], name="fc1_bias"),
             mk("Div", ["f1b", "sqrt2"], ["g0"], name="gelu_div"),
             mk("Erf", ["g0"], ["g1"], name="gelu_erf"),
             mk("Add", ["g1", "one"], ["g2"], name="gelu_add"),
             mk("Mul", ["f1b", "g2"], ["g3"], name="gelu_mul"),
             mk("Mul", ["g3", "half"], ["g4"], name="gelu_half"),
             mk("MatMul", ["g4", "fc2_w"], ["f2"], name="fc2"),
             mk("Add", ["f2", "fc2_b"], ["f2b"], name="fc2_bias"),
             mk("Transpose", ["f2b"], ["back"], name="to_nchw", perm=[0, 3, 1, 2]),
             mk("Add", ["x", "back"], ["y"], name="residual")]
    f = onnx.TensorProto.FLOAT
    g = helper.make_graph(nodes, "convnext_block",
                          [helper.make_tensor_value_info("x", f, [1, c, size, size])],
                          [helper.make_tensor_value_info("y", f, [1, c, size, size])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def run_numerics(*args, **kwargs):
    """`npusim.numerics.run_numerics` for a comparison with an onnxruntime session on this
    host: following its uint8 x int8 pair saturation where it has one (x86-64 without VNNI,
    `kernels/u8s8.py`); elsewhere the same as the exact default."""
    from npusim.numerics import run_numerics as run
    return run(*args, host_u8s8=True, **kwargs)
