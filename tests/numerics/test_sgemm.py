"""float32 Conv / Gemm / MatMul in MLAS's summation order (`kernels.sgemm`) against onnxruntime's
default CPU session, byte for byte, and the order itself on a case computed on paper."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.numerics.kernels import sgemm

pytestmark = pytest.mark.skipif(
    sgemm.BLOCK is None, reason="MLAS's order is reproduced on AVX-512F and AVX2 + FMA3 hosts only")


def test_gemm_sums_k_in_strides_of_256():
    # K = 512: a_0 b_0 = 2^25, then 511 products of 1. In one float32 chain every +1 is lost
    # (2^25 + 1 rounds back to 2^25: its ulp is 4). MLAS restarts the chain at k = 256, so
    # the second stride sums its 256 ones exactly and adds them: 2^25 + 256.
    a = np.ones((1, 512), np.float32)
    a[0, 0] = 2.0 ** 25
    b = np.ones((512, 1), np.float32)
    assert sgemm.gemm(a, b)[0, 0] == 2.0 ** 25 + 256
    # with C = 1 and alpha = 0.5: C + 0.5 * 2^25 (+ 0.5 * 255 lost to the ulp of 2) + 0.5 * 256
    y = sgemm.gemm(a, b, np.ones((1, 1), np.float32), alpha=0.5)
    assert y[0, 0] == 1 + 2.0 ** 24 + 128


def _model(nodes, inputs, initializers):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, v.shape)
                     for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


def _run_ort(model, feeds):
    """(output, whether onnxruntime rewrote a Conv to its NCHWc form)."""
    ort = pytest.importorskip("onnxruntime")
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        y = session.run(None, feeds)[0]
        optimized = onnx.load(options.optimized_model_filepath)
    return y, any(n.op_type == "Conv" and n.domain.endswith("nchwc") for n in optimized.graph.node)


def _inputs(shape, rng):
    yield rng.standard_normal(shape).astype(np.float32)
    yield rng.integers(0, 256, shape).astype(np.float32)  # image-like: large sums


# (in channels, out channels, kernel, stride, pads, dilation, group): every NCHWc kernel
# (NCHW input below one block, the general one, 1x1 pointwise in 128-channel chunks,
# depthwise), blocks that end mid-way (24, 200 channels), asymmetric pads, and convs
# onnxruntime leaves to MlasConv (grouped with channels off the block, depthwise of 3)
CONVS = [(3, 16, 3, 1, (1, 1, 1, 1), 1, 1), (3, 10, 7, 2, (3, 3, 3, 3), 1, 1),
         (12, 8, 3, 1, (1, 0, 0, 1), 1, 1), (16, 32, 3, 1, (1, 1, 1, 1), 1, 1),
         (24, 40, 3, 2, (1, 1, 1, 1), 1, 1), (64, 64, 3, 1, (2, 2, 2, 2), 2, 1),
         (200, 16, 1, 1, (0, 0, 0, 0), 1, 1), (200, 24, 1, 2, (0, 0, 0, 0), 1, 1),
         (32, 16, 1, 1, (1, 1, 1, 1), 1, 1), (48, 48, 3, 1, (1, 1, 1, 1), 1, 48),
         (12, 12, 5, 2, (2, 2, 2, 2), 1, 12), (32, 64, 3, 1, (1, 1, 1, 1), 1, 2),
         (48, 48, 3, 1, (1, 1, 1, 1), 1, 2), (3, 3, 3, 1, (1, 1, 1, 1), 1, 3),
         (64, 32, 5, 1, (2, 2, 2, 2), 1, 1)]


@pytest.mark.parametrize("case", CONVS, ids=[str(c) for c in CONVS])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_onnxruntime_where_it_runs_nchwc(case, bias):
    c_in, c_out, k, stride, pads, dilation, group = case
    rng = np.random.default_rng(c_in * 1000 + c_out)
    w = rng.standard_normal((c_out, c_in // group, k, k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    inits = {"w": w, "b": b} if bias else {"w": w}
    node = helper.make_node("Conv", ["x", *inits], ["y"], pads=list(pads), group=group,
                            strides=[stride] * 2, dilations=[dilation] * 2)
    chunk = sgemm.conv_chunk((1, c_in, 11, 11), w.shape, group, pads)
    for x in _inputs((1, c_in, 11, 11), rng):
        theirs, nchwc = _run_ort(_model([node], {"x": x}, inits), {"x": x})
        assert nchwc == (chunk is not None)  # the rule of which convs run NCHWc
        if chunk is None:
            continue
        ours = sgemm.conv2d(x, w, b if bias else None, strides=(stride,) * 2, pads=pads,
                            dilations=(dilation,) * 2, group=group, chunk=chunk)
        assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("m,k,n", [(8, 100, 64), (8, 600, 64), (1, 1000, 10), (3, 777, 1)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 1.0), (1.0, 2.0)])
def test_gemm_matches_onnxruntime(m, k, n, alpha, beta):
    rng = np.random.default_rng(k)
    b = rng.standard_normal((n, k)).astype(np.float32)
    c = rng.standard_normal(n).astype(np.float32)
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=alpha, beta=beta)
    for a in _inputs((m, k), rng):
        theirs, _ = _run_ort(_model([node], {"a": a}, {"b": b, "c": c}), {"a": a})
        assert sgemm.gemm(a, b.T, c, alpha, beta).tobytes() == theirs.tobytes()


MATMULS = [((2, 8, 600), (600, 64), True), ((1, 600), (600, 10), True), ((600,), (600, 7), True),
           ((2, 3, 8, 128), (2, 3, 128, 5), False),  # attention-like: both at run time
           ((1, 4, 16, 64), (1, 1, 64, 16), False), ((5, 100), (100, 3), False)]


@pytest.mark.parametrize("a_shape,b_shape,constant_b", MATMULS)
def test_matmul_matches_onnxruntime(a_shape, b_shape, constant_b):
    rng = np.random.default_rng(len(a_shape))
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    inputs, inits = ({"a": a}, {"b": b}) if constant_b else ({"a": a, "b": b}, {})
    theirs, _ = _run_ort(_model([helper.make_node("MatMul", ["a", "b"], ["y"])], inputs, inits),
                         inputs)
    assert sgemm.matmul(a, b).tobytes() == theirs.tobytes()


def test_runtime_matmuls_npusim_cannot_order_are_named():
    from npusim.ir import DType, Graph, Node, Tensor
    from npusim.numerics.ops.islands import island_reason

    def reason(a_shape, b_shape):
        tensors = {"a": Tensor("a", a_shape, DType.FLOAT32), "b": Tensor("b", b_shape, DType.FLOAT32),
                   "y": Tensor("y", a_shape[:-1] + b_shape[-1:], DType.FLOAT32)}
        node = Node("mm", "MatMul", ("a", "b"), ("y",), {}, "")
        return island_reason(Graph("g", (node,), tensors, ("a", "b"), ("y",), 21), node)
    assert reason((4, 16, 128), (4, 128, 16)) is None
    assert "thread split" in reason((4, 16, 384), (4, 384, 16))   # K > 128
    assert "GEMV" in reason((1, 64), (64, 16))                    # one row


def test_executor_runs_float_islands_in_mlas_order():
    # the float Conv kernel of the numerics executor, not only the kernel module
    from npusim.ir import Node
    from npusim.numerics.ops.context import Context
    from npusim.numerics.ops.floating import conv_float
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 64, 8, 8)).astype(np.float32)
    w = rng.standard_normal((32, 64, 3, 3)).astype(np.float32)
    node = Node("c", "Conv", ("x", "w"), ("y",), {"pads": (1, 1, 1, 1)}, "")
    theirs, _ = _run_ort(_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)],
                                {"x": x}, {"w": w}), {"x": x})
    assert conv_float(node, [x, w], Context())[0].tobytes() == theirs.tobytes()


def test_numpy_would_not_do():
    # the reason for the module: BLAS's order differs from MLAS's on ordinary data
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 1000)).astype(np.float32)
    b = rng.standard_normal((1000, 64)).astype(np.float32)
    assert (np.matmul(a, b) != sgemm.gemm(a, b)).any()

