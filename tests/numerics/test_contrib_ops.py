"""Every com.microsoft QOperator onnxruntime.quantization emits, one node at a time, against an
onnxruntime CPU session: uint8 and int8, nonzero zero points, broadcasting, code patterns that
cover every byte, all-zero and saturating inputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper


from numerics_oracle import ort_session, run_numerics

MS = "com.microsoft"
NP = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8, np.float32: TensorProto.FLOAT,
      np.bool_: TensorProto.BOOL, np.int32: TensorProto.INT32}


def _model(node, inputs, outputs, inits):
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info(n, NP[dt], s) for n, dt, s in inputs],
                          [helper.make_tensor_value_info(n, NP[dt], s) for n, dt, s in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21),
                                            helper.make_opsetid(MS, 1)])
    m.ir_version = 10
    return m


def _codes(dtype, shape, kind, seed=0):
    info = np.iinfo(dtype)
    n = int(np.prod(shape))
    if kind == "all":       # every code, repeated
        v = np.arange(n) % 256 + info.min
    elif kind == "zeros":
        v = np.zeros(n)
    elif kind == "saturated":
        v = np.where(np.arange(n) % 2, info.max, info.min)
    else:
        v = np.random.default_rng(seed).integers(info.min, info.max + 1, n)
    return v.astype(dtype).reshape(shape)


def _check(model, feeds):
    theirs = ort_session(model).run(None, feeds)[0]
    ours = run_numerics(model, feeds, layerwise=False).outputs[model.graph.output[0].name]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes(), (
        f"{int(np.count_nonzero(ours != theirs))} of {ours.size} differ")


KINDS = ["all", "random", "zeros", "saturated"]
DTYPES = [np.uint8, np.int8]


def _zp(dtype, v):
    return np.asarray(v if dtype == np.uint8 else v - 128, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,attrs", [("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.1}),
                                      ("QLinearSoftmax", {"axis": -1, "opset": 13}),
                                      ("QLinearSoftmax", {"axis": 1, "opset": 13}),
                                      ("QLinearGlobalAveragePool", {"channels_last": 0}),
                                      ("QLinearAveragePool", {"kernel_shape": [3, 3],
                                                              "strides": [2, 2],
                                                              "pads": [1, 1, 1, 1]}),
                                      ("QLinearAveragePool", {"kernel_shape": [2, 2],
                                                              "count_include_pad": 1,
                                                              "pads": [0, 0, 1, 1]})])
def test_unary_contrib_op_matches_onnxruntime(op, attrs, dtype):
    shape = [2, 6, 7, 9]
    out_shape = {"QLinearGlobalAveragePool": [2, 6, 1, 1],
                 "QLinearAveragePool": None}.get(op, shape)
    soft = op == "QLinearSoftmax"
    inits = {"sx": np.float32(0.0731), "zx": _zp(dtype, 131),
             "sy": np.float32(1 / 256 if soft else 0.0517),
             "zy": _zp(dtype, 0 if soft else 117)}
    node = helper.make_node(op, ["x", "sx", "zx", "sy", "zy"], ["y"], domain=MS, **attrs)
    if out_shape is None:
        k, s = attrs["kernel_shape"][0], attrs.get("strides", [1, 1])[0]
        p = attrs["pads"]
        out_shape = [2, 6, (7 + p[0] + p[2] - k) // s + 1, (9 + p[1] + p[3] - k) // s + 1]
    model = _model(node, [("x", dtype, shape)], [("y", dtype, out_shape)], inits)
    for kind in KINDS:
        _check(model, {"x": _codes(dtype, shape, kind)})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sx,sy,d", [(2.9e-6, 2.0017e-5, 196), (0.05, 1e-4, 49),
                                     (0.0731, 1 / 256, 196)])
def test_qlinear_softmax_with_a_small_output_scale_saturates_like_onnxruntime(sx, sy, d, dtype):
    # near-uniform attention over many keys (a random-weight LeViT): the table is scaled
    # near FLT_MAX / d, so t * (1 / sy) overflows to inf and onnxruntime saturates it to the
    # top code; converting inf to an integer first gave the bottom code (all zeros)
    inits = {"sx": np.float32(sx), "zx": _zp(dtype, 128), "sy": np.float32(sy),
             "zy": _zp(dtype, 0)}
    node = helper.make_node("QLinearSoftmax", ["x", "sx", "zx", "sy", "zy"], ["y"], domain=MS,
                            axis=-1, opset=13)
    model = _model(node, [("x", dtype, [3, d])], [("y", dtype, [3, d])], inits)
    for kind in KINDS:
        _check(model, {"x": _codes(dtype, [3, d], kind)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_qlinear_softmax_matches_onnxruntime_across_widths_and_scales(dtype):
    # the kernel against onnxruntime's: widths across its vector block sizes (16, 32),
    # output scales from 1/256 down to attention-like 2e-5, rows with repeated codes
    from npusim.ir import Node
    from npusim.numerics.ops.qlookup import qlinear_softmax
    rng = np.random.default_rng(11)
    node = Node("s", "QLinearSoftmax", ("x", "sx", "zx", "sy", "zy"), ("y",),
                {"axis": -1, "opset": 13})
    info = np.iinfo(dtype)
    for d in [*range(1, 40), 48, 64, 65, 100, 196, 300]:
        for sx, sy, zy in ((0.0731, 1 / 256, 0), (0.3, 1 / 255, 3), (0.05, 1e-4, 0),
                           (2.9e-6, 2e-5, 0), (0.01, 0.001, 7)):
            x = rng.integers(info.min, info.max + 1, (3, d)).astype(dtype)
            x[2, : d // 2] = x[2, 0]
            inits = {"sx": np.float32(sx), "zx": _zp(dtype, 128), "sy": np.float32(sy),
                     "zy": _zp(dtype, zy)}
            onnx_node = helper.make_node("QLinearSoftmax", ["x", "sx", "zx", "sy", "zy"],
                                         ["y"], domain=MS, axis=-1, opset=13)
            model = _model(onnx_node, [("x", dtype, [3, d])], [("y", dtype, [3, d])], inits)
            theirs = ort_session(model).run(None, {"x": x})[0]
            ours = qlinear_softmax(node, [x, *inits.values()], None)[0]
            assert ours.tobytes() == theirs.tobytes(), (d, sx, sy, zy)


def test_qlinear_softmax_outputs_on_a_rounding_tie_are_named_in_the_notes():
    # two equal codes at y_scale 1 / 0.003 -> 333: each output is 333 / 2 = 166.5, a tie that
    # onnxruntime rounds down (166) where the float64 model rounds up; the run says so
    inits = {"sx": np.float32(0.01), "zx": _zp(np.uint8, 128), "sy": np.float32(0.003),
             "zy": _zp(np.uint8, 0)}
    node = helper.make_node("QLinearSoftmax", ["x", "sx", "zx", "sy", "zy"], ["y"], domain=MS,
                            axis=-1, opset=13, name="sm")
    model = _model(node, [("x", np.uint8, [1, 2])], [("y", np.uint8, [1, 2])], inits)
    feeds = {"x": np.full((1, 2), 77, np.uint8)}
    r = run_numerics(model, feeds, layerwise=False)
    assert any("QLinearSoftmax outputs in 1 layers (sm)" in n for n in r.notes), r.notes
    theirs = ort_session(model).run(None, feeds)[0]
    assert abs(int(r.outputs["y"][0, 0]) - int(theirs[0, 0])) <= 1
    quiet = run_numerics(model, {"x": np.array([[77, 60]], np.uint8)}, layerwise=False)
    assert not any("QLinearSoftmax" in n for n in quiet.notes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("b_shape", [[2, 3, 4, 5], [1, 3, 1, 1], [1], [5]])
def test_binary_contrib_op_broadcasts_like_onnxruntime(op, b_shape, dtype):
    a_shape = [2, 3, 4, 5]
    inits = {"sa": np.float32(0.0213), "za": _zp(dtype, 140), "sb": np.float32(0.0377),
             "zb": _zp(dtype, 99), "sc": np.float32(0.0412), "zc": _zp(dtype, 121)}
    node = helper.make_node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"], domain=MS)
    model = _model(node, [("a", dtype, a_shape), ("b", dtype, b_shape)], [("c", dtype, a_shape)],
                   inits)
    for kind in KINDS:
        _check(model, {"a": _codes(dtype, a_shape, kind), "b": _codes(dtype, b_shape, kind, 1)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_qlinear_concat_requantizes_each_input(dtype):
    shapes = [[1, 2, 4, 4], [1, 3, 4, 4], [1, 1, 4, 4]]
    scales = [0.05, 0.021, 0.09]
    inits = {"sy": np.float32(0.04), "zy": _zp(dtype, 128)}
    names = ["sy", "zy"]
    for i, s in enumerate(scales):
        inits[f"s{i}"] = np.float32(s)
        inits[f"z{i}"] = _zp(dtype, 128) if i == 0 else _zp(dtype, 100 + 20 * i)
        names += [f"x{i}", f"s{i}", f"z{i}"]
    inits["s0"] = np.float32(0.04)  # same scale and zero point as the output: a plain copy
    node = helper.make_node("QLinearConcat", names, ["y"], domain=MS, axis=1)
    model = _model(node, [(f"x{i}", dtype, s) for i, s in enumerate(shapes)],
                   [("y", dtype, [1, 6, 4, 4])], inits)
    for kind in KINDS:
        _check(model, {f"x{i}": _codes(dtype, s, kind, i) for i, s in enumerate(shapes)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_qlinear_where_broadcasts_condition(dtype):
    inits = {"sx": np.float32(0.03), "zx": _zp(dtype, 120), "sy": np.float32(0.07),
             "zy": _zp(dtype, 140), "sz": np.float32(0.05), "zz": _zp(dtype, 128)}
    node = helper.make_node("QLinearWhere", ["c", "x", "sx", "zx", "y", "sy", "zy", "sz", "zz"],
                            ["z"], domain=MS)
    model = _model(node, [("c", np.bool_, [1, 8]), ("x", dtype, [4, 8]), ("y", dtype, [4, 1])],
                   [("z", dtype, [4, 8])], inits)
    cond = (np.arange(8) % 3 == 0).reshape(1, 8)
    for kind in KINDS:
        _check(model, {"c": cond, "x": _codes(dtype, [4, 8], kind), "y": _codes(dtype, [4, 1],
                                                                                 kind, 1)})


@pytest.mark.parametrize("float_out", [False, True])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_qgemm_matches_onnxruntime(trans_b, float_out):
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (16, 24) if trans_b else (24, 16)).astype(np.int8)
    inits = {"sa": np.float32(0.02), "za": np.uint8(133), "w": w,
             "sw": np.full(16, 0.004, np.float32) * (1 + np.arange(16) / 16).astype(np.float32),
             "zw": np.zeros(16, np.int8), "c": rng.integers(-3000, 3000, 16).astype(np.int32),
             "sy": np.float32(0.11), "zy": np.uint8(120)}
    ins = ["a", "sa", "za", "w", "sw", "zw", "c"] + ([] if float_out else ["sy", "zy"])
    if float_out:
        inits = {k: v for k, v in inits.items() if k not in ("sy", "zy")}
    node = helper.make_node("QGemm", ins, ["y"], domain=MS, transB=trans_b)
    out_dt = np.float32 if float_out else np.uint8
    model = _model(node, [("a", np.uint8, [5, 24])], [("y", out_dt, [5, 16])], inits)
    for kind in KINDS:
        _check(model, {"a": _codes(np.uint8, [5, 24], kind)})


@pytest.mark.parametrize("bias", [False, True])
def test_matmul_integer_to_float_matches_onnxruntime(bias):
    rng = np.random.default_rng(4)
    inits = {"b": rng.integers(-128, 128, (32, 12)).astype(np.int8),
             "sa": np.float32(0.0123), "sb": (rng.random(12).astype(np.float32) * 0.01 + 0.001),
             "za": np.uint8(121), "zb": np.zeros(12, np.int8),
             "bias": rng.standard_normal(12).astype(np.float32)}
    ins = ["a", "b", "sa", "sb", "za", "zb"] + (["bias"] if bias else [])
    if not bias:
        del inits["bias"]
    node = helper.make_node("MatMulIntegerToFloat", ins, ["y"], domain=MS)
    model = _model(node, [("a", np.uint8, [3, 7, 32])], [("y", np.float32, [3, 7, 12])], inits)
    for kind in KINDS:
        _check(model, {"a": _codes(np.uint8, [3, 7, 32], kind)})


def test_dynamic_quantize_linear_matches_onnxruntime():
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      [64])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [64]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    rng = np.random.default_rng(5)
    for x in (rng.standard_normal(64), rng.random(64), rng.random(64) * 255, np.zeros(64),
              np.full(64, 3.0e38)):
        feeds = {"x": x.astype(np.float32)}
        theirs = ort_session(model).run(None, feeds)
        r = run_numerics(model, feeds, layerwise=False)
        for name, t in zip(("y", "s", "z"), theirs):
            assert r.outputs[name].tobytes() == np.asarray(t).tobytes(), name
