"""Float32 ReduceSum / ReduceMean against onnxruntime, byte for byte, on every axis pattern
its CPU kernel distinguishes (KR, R, RK, RKR, two reduced blocks); the paths that depend on
its GEMM or its thread count are named by `island_reason`, not claimed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from npusim.ir import DType, Graph, Node, Tensor
from npusim.numerics.ops.islands import island_reason
from npusim.numerics.ops.reduce import pattern, reduce_sum_mean, unreproduced
from numerics_oracle import ort_session

SHAPES = [(1, 16, 7, 7), (2, 24, 7, 7), (1, 197, 192), (2, 50, 64), (3, 1, 5, 9), (1, 1, 33),
          (1, 8, 1, 1), (2, 3, 4, 5), (1, 1280, 7, 7), (8, 3, 13, 11)]


def _model(op: str, shape, axes, keepdims: int, opset: int):
    inputs, inits, attrs = ["x"], [], {"keepdims": keepdims}
    if op == "ReduceSum" or opset >= 18:  # axes as an input
        inputs.append("axes")
        inits.append(numpy_helper.from_array(np.array(axes, np.int64), "axes"))
    else:
        attrs["axes"] = list(axes)
    node = helper.make_node(op, inputs, ["y"], **attrs)
    graph = helper.make_graph([node], "r", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, shape)], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model, Node("r", op, tuple(inputs), ("y",), {k: tuple(v) if isinstance(v, list)
                                                          else v for k, v in attrs.items()})


def _data(shape, kind: str, rng) -> np.ndarray:
    x = rng.standard_normal(shape)
    if kind == "wide":  # magnitudes over 2^23: cancellation and rounding at every step
        x = x * np.exp(rng.uniform(-8, 8, shape))
    if kind == "relu":  # post-activation: non-negative with zeros
        x = np.maximum(x, 0) * 6
    return x.astype(np.float32)


# every axis set npusim claims bit for bit (the flagged ones depend on onnxruntime's GEMM
# or its thread count)
CASES = [(shape, axes) for shape in SHAPES for r in range(1, len(shape) + 1)
         for axes in itertools.combinations(range(len(shape)), r)
         if unreproduced(shape, axes) is None]


@pytest.mark.parametrize("shape,axes", CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_float_sum_and_mean_match_onnxruntime(shape, axes):
    rng = np.random.default_rng(sum(shape) * 31 + sum(axes))
    for op, opset, keep in (("ReduceMean", 17, 1), ("ReduceMean", 18, 0), ("ReduceSum", 13, 1)):
        model, node = _model(op, shape, axes, keep, opset)
        session = ort_session(model)
        for kind in ("normal", "wide", "relu"):
            x = _data(shape, kind, rng)
            theirs = session.run(None, {"x": x})[0]
            inputs = [x] + ([np.array(axes, np.int64)] if len(node.inputs) > 1 else [])
            ours = reduce_sum_mean(node, inputs, None)[0]
            assert ours.dtype == np.float32 and ours.shape == theirs.shape, (op, kind)
            assert ours.tobytes() == theirs.tobytes(), (op, opset, kind, pattern(shape, axes))


def test_eigen_order_is_not_numpy_order():
    # the case this replaces: numpy's pairwise sum differs from onnxruntime's row sums
    x = _data((64, 999), "normal", np.random.default_rng(0)) * 2
    model, node = _model("ReduceMean", (64, 999), (1,), 1, 18)
    theirs = ort_session(model).run(None, {"x": x})[0]
    assert np.mean(x, axis=1, keepdims=True).tobytes() != theirs.tobytes()
    ours = reduce_sum_mean(node, [x, np.array([1], np.int64)], None)[0]
    assert ours.tobytes() == theirs.tobytes()


def _graph(shape, axes) -> tuple[Graph, Node]:
    node = Node("m", "ReduceMean", ("x", "axes"), ("y",), {"keepdims": 1})
    axes_t = np.array(axes, np.int64)
    tensors = {"x": Tensor("x", shape, DType.FLOAT32),
               "axes": Tensor("axes", axes_t.shape, DType.INT64, axes_t),
               "y": Tensor("y", tuple(1 if i in axes else d for i, d in enumerate(shape)),
                           DType.FLOAT32)}
    return Graph("g", (node,), tensors, ("x",), ("y",), 18), node


def test_island_reason_names_only_the_paths_npusim_does_not_reproduce():
    assert island_reason(*_graph((1, 32, 7, 7), (2, 3))) is None        # KR
    assert island_reason(*_graph((1, 50, 64), (1,))) is None            # KRK, one block: in turn
    assert "MLAS GEMM" in island_reason(*_graph((8, 300, 16), (1,)))    # KRK GEMM
    assert "thread count" in island_reason(*_graph((2, 16, 7, 7), (0, 2, 3)))  # RKR, 16 kept
    assert island_reason(*_graph((2, 128, 7, 7), (0, 2, 3))) is None    # RKR, 128 kept


def test_other_dtypes_and_empty_axes_go_through_onnx_reference():
    node = Node("r", "ReduceMean", ("x",), ("y",), {"keepdims": 0, "axes": (1,)})
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert reduce_sum_mean(node, [x], None)[0].tolist() == [1, 5, 9]
    noop = Node("r", "ReduceSum", ("x", "axes"), ("y",), {"noop_with_empty_axes": 1})
    f = np.ones((2, 3), np.float32)
    assert reduce_sum_mean(noop, [f, np.array([], np.int64)], None)[0].tobytes() == f.tobytes()
