"""If with a constant condition, Loop and Scan with constant trip counts: inlined or unrolled,
priced from hand-computed MACs; -1 dims bound by --shapes; data-dependent ops refused."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from npusim.errors import UnsupportedOpError
from npusim.frontend import load_graph
from npusim.ir import op_work
from tests.conftest import make_model, vi


def _macs(g) -> int:
    return sum(op_work(n, g).macs for n in g.nodes)


def _ort_shapes(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [o.shape for o in sess.run(None, feeds)]


def _w(name, shape, seed=0):
    return numpy_helper.from_array(
        np.random.default_rng(seed).normal(size=shape).astype(np.float32), name)


def test_if_with_a_condition_that_folds_takes_its_branch():
    # cond = (x.shape[0] == 4), true for x 4x8: the then branch x @ W (8x16) runs,
    # 4*16 outputs x 8 = 512 MACs; the else branch (a Relu) is dropped.
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"], name="mm")],
                             "then", [], [vi("t", [4, 16])])
    other = helper.make_graph([helper.make_node("Relu", ["x"], ["e"], name="relu")],
                              "else", [], [vi("e", [4, 8])])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Equal", ["n", "four"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then,
                              else_branch=other)]
    inits = [_w("w", (8, 16)), numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array(4, np.int64), "four")]
    model = make_model(nodes, [vi("x", [4, 8])], [vi("y", [4, 16])], inits)
    g = load_graph(model)
    assert [n.op_type for n in g.nodes] == ["MatMul"]
    assert g.nodes[0].name == "branch/then/mm"
    assert _macs(g) == 512
    x = np.ones((4, 8), np.float32)
    assert [g.shape("y")] == [tuple(s) for s in _ort_shapes(model, {"x": x})]


def _loop_model(trips: int):
    # body: v' = v @ W (2x8 @ 8x8: 128 MACs), scan output relu(v')
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["v_in", "w"], ["v_out"], name="mm"),
         helper.make_node("Relu", ["v_out"], ["r"], name="relu")],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL),
                 vi("v_in", [2, 8])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [2, 8]), vi("r", [2, 8])])
    loop = helper.make_node("Loop", ["m", "", "x"], ["v", "scan"], name="loop", body=body)
    inits = [_w("w", (8, 8)), numpy_helper.from_array(np.array(trips, np.int64), "m")]
    return make_model([loop], [vi("x", [2, 8])], [vi("v", [2, 8]), vi("scan", [None] * 3)],
                      inits)


def test_loop_with_a_constant_trip_count_is_unrolled():
    model = _loop_model(3)
    g = load_graph(model)
    # 3 iterations x 2*8 outputs x 8 = 384 MACs
    assert _macs(g) == 3 * 128
    assert sum(n.op_type == "MatMul" for n in g.nodes) == 3
    assert "loop#2/mm" in {n.name for n in g.nodes}
    x = np.ones((2, 8), np.float32)
    assert [g.shape("v"), g.shape("scan")] == [tuple(s) for s in _ort_shapes(model, {"x": x})]


def test_scan_over_a_static_axis_is_unrolled():
    # h' = h @ W + x_t over 4 steps of x [4, 1, 8]: 4 x (1*8*8) = 256 MACs; reverse scan output
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w"], ["hw"], name="mm"),
         helper.make_node("Add", ["hw", "xt"], ["h2"], name="add"),
         helper.make_node("Identity", ["h2"], ["o"])],
        "body", [vi("h", [1, 8]), vi("xt", [1, 8])], [vi("h2", [1, 8]), vi("o", [1, 8])])
    scan = helper.make_node("Scan", ["h0", "x"], ["hn", "ys"], name="scan", body=body,
                            num_scan_inputs=1, scan_output_directions=[1])
    model = make_model([scan], [vi("h0", [1, 8]), vi("x", [4, 1, 8])],
                       [vi("hn", [1, 8]), vi("ys", [None] * 3)], [_w("w", (8, 8))])
    g = load_graph(model)
    assert _macs(g) == 256
    feeds = {"h0": np.zeros((1, 8), np.float32), "x": np.ones((4, 1, 8), np.float32)}
    assert [g.shape("hn"), g.shape("ys")] == [tuple(s) for s in _ort_shapes(model, feeds)]


def test_minus_one_dims_are_bound_by_shapes():
    # an exporter's -1 / unnamed dims: --shapes gives the whole input shape by name
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model = make_model([node], [vi("x", [-1, 3, -1, -1])], [vi("y", [-1, 4, -1, -1])],
                       [_w("w", (4, 3, 3, 3))])
    g = load_graph(model, "x:2x3x16x16")
    assert g.shape("y") == (2, 4, 16, 16)
    assert _macs(g) == 2 * 4 * 16 * 16 * 27
    unnamed = make_model([node], [vi("x", [None, 3, None, None])], [vi("y", [None] * 4)],
                         [_w("w", (4, 3, 3, 3))])
    assert load_graph(unnamed, "x:1x3x8x8").shape("y") == (1, 4, 8, 8)
    with pytest.raises(Exception, match=r"'x' \[\?, 3, \?, \?\].*--shapes x:<\?>x3"):
        load_graph(model)


@pytest.mark.parametrize("op", ["NonZero", "NonMaxSuppression"])
def test_data_dependent_ops_are_refused_by_name_with_the_cut_hint(op):
    if op == "NonZero":
        nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                 helper.make_node("NonZero", ["r"], ["y"], name="nz")]
        inputs, outputs = [vi("x", [4, 4])], [vi("y", [2, None], TensorProto.INT64)]
    else:
        nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                 helper.make_node("NonMaxSuppression", ["r", "s"], ["y"], name="nms")]
        inputs = [vi("x", [1, 10, 4]), vi("s", [1, 1, 10])]
        outputs = [vi("y", [None, 3], TensorProto.INT64)]
    model = make_model(nodes, inputs, outputs)
    with pytest.raises(UnsupportedOpError, match=rf"{op} \(first at node .*--outputs r"):
        load_graph(model)
    g = load_graph(model, outputs="r")
    assert [n.op_type for n in g.nodes] == ["Relu"] and g.outputs == ("r",)


def test_nested_if_on_a_scalar_input_fixed_by_shapes():
    # As silero-vad exports it: If(sr == 16000) whose branch holds another If that reads a
    # value the outer branch defines; --shapes sr=16000 fixes the scalar input.
    inner = helper.make_graph([helper.make_node("MatMul", ["h", "w"], ["m"], name="mm")],
                              "inner_then", [], [vi("m", [4, 16])])
    inner_else = helper.make_graph([helper.make_node("Identity", ["h"], ["e"])],
                                   "inner_else", [], [vi("e", [4, 8])])
    outer = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["h"], name="relu"),
         helper.make_node("Shape", ["h"], ["hs"]),
         helper.make_node("Gather", ["hs", "zero"], ["rows"], axis=0),
         helper.make_node("Equal", ["rows", "four"], ["c2"]),
         helper.make_node("If", ["c2"], ["o"], name="inner", then_branch=inner,
                          else_branch=inner_else)],
        "then", [], [vi("o", [4, 16])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "else", [],
                              [vi("n", [4, 8])])
    nodes = [helper.make_node("Equal", ["sr", "rate"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="outer", then_branch=outer,
                              else_branch=other)]
    inits = [_w("w", (8, 16)), numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array(4, np.int64), "four"),
             numpy_helper.from_array(np.array(16000, np.int64), "rate")]
    model = make_model(nodes, [vi("x", [4, 8]), vi("sr", [], TensorProto.INT64)],
                       [vi("y", [4, 16])], inits)
    with pytest.raises(UnsupportedOpError, match="fix that with --shapes NAME=VALUE"):
        load_graph(model)
    g = load_graph(model, "sr=16000")
    assert [n.op_type for n in g.nodes] == ["Relu", "MatMul"] and g.inputs == ("x",)
    assert _macs(g) == 4 * 16 * 8
    feeds = {"x": np.ones((4, 8), np.float32), "sr": np.array(16000, np.int64)}
    assert [g.shape("y")] == [tuple(s) for s in _ort_shapes(model, feeds)]
    # numerics takes the same feeds: the fixed input is checked against its value, dropped
    from npusim.errors import NumericsError
    from npusim.numerics import run_numerics
    r = run_numerics(model, feeds, shapes="sr=16000", layerwise=False)
    assert r.outputs["y"].shape == (4, 16)
    with pytest.raises(NumericsError, match="'sr' is fixed to 16000 by --shapes"):
        run_numerics(model, {**feeds, "sr": np.array(8000, np.int64)}, shapes="sr=16000")
