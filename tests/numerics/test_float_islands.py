"""Float islands (a float op between DequantizeLinear and QuantizeLinear) against onnxruntime's
default CPU session: the MLAS kernels bit for bit, QDQ patterns onnxruntime fuses into contrib
ops, and the islands npusim cannot reproduce reported per layer instead of silently."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper


from npusim.numerics.kernels.mlas import HOST_MLAS, erf, logistic, softmax, tanh
from numerics_oracle import ort_session, run_numerics

F = TensorProto.FLOAT


def _float_model(nodes, x_shape, y_shape, inits=None, opset=21):
    g = helper.make_graph(nodes, "island", [helper.make_tensor_value_info("x", F, x_shape)],
                          [helper.make_tensor_value_info("y", F, y_shape)],
                          [numpy_helper.from_array(np.asarray(v), k)
                           for k, v in (inits or {}).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _sweep() -> np.ndarray:
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-40, 3e38, -3e38, 17.85, -17.85,
                        18.0, 3.7809, 3.79, 0.921875, -0.921875, 9.0, -9.0], np.float32)
    return np.concatenate([np.linspace(-20, 20, 200001, dtype=np.float32),
                           (rng.standard_normal(100000) * 4).astype(np.float32), special])


@pytest.mark.parametrize("op,fn", [("Sigmoid", logistic), ("Erf", erf), ("Tanh", tanh)])
def test_mlas_kernel_bit_exact(op, fn):
    x = _sweep()
    theirs = ort_session(_float_model([helper.make_node(op, ["x"], ["y"])], [x.size],
                                      [x.size])).run(None, {"x": x})[0]
    ours = fn(x)
    assert ours.view(np.int32).tolist() == theirs.view(np.int32).tolist()


@pytest.mark.skipif(HOST_MLAS is None, reason="the softmax kernels reproduced are the "
                    "AVX-512F and the AVX2 + FMA3 ones")
@pytest.mark.parametrize("width", [5, 16, 47, 48, 49, 128, 1000])
def test_float_softmax_bit_exact(width):
    # a float Softmax (left outside Q/DQ, or in a float model): MLAS's exp and its 16-lane sum;
    # scale 30 sends most exps below 2^-126, where the kernel's vscalefps rounds subnormals
    rng = np.random.default_rng(width)
    session = ort_session(_float_model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
                                       [6, width], [6, width]))
    for x in (rng.standard_normal((6, width)), rng.standard_normal((6, width)) * 30,
              rng.random((6, width)), np.zeros((6, width))):
        x = x.astype(np.float32)
        assert softmax(x).tobytes() == session.run(None, {"x": x})[0].tobytes()


@pytest.mark.skipif(HOST_MLAS is None, reason="onnxruntime's LayerNormalization kernel "
                    "is its AVX2 code, checked on AVX-512F and AVX2 + FMA3 hosts")
@pytest.mark.parametrize("d", [1, 2, 3, 4, 7, 8, 9, 12, 13, 31, 128, 192, 255, 768])
@pytest.mark.parametrize("bias", [True, False])
def test_float_layernorm_bit_exact(d, bias):
    # rows under 8: Welford in float32; from 8: float64 mean in 4 lanes, float32 variance in
    # 8 fma lanes and the tails (4 squared and added, then fma); y = fma(t, scale, bias)
    from npusim.numerics.ops.islands import _layer_norm_rows
    rng = np.random.default_rng(d)
    scale = rng.standard_normal(d).astype(np.float32)
    b = rng.standard_normal(d).astype(np.float32)
    inits = {"s": scale, **({"b": b} if bias else {})}
    for eps in (1e-12, 1e-5):
        node = helper.make_node("LayerNormalization", ["x", "s", *(["b"] if bias else [])],
                                ["y"], axis=-1, epsilon=eps)
        session = ort_session(_float_model([node], [40, d], [40, d], inits, opset=17))
        for x in (rng.standard_normal((40, d)), rng.standard_normal((40, d)) * 0.1 + 5,
                  rng.uniform(-3, 3, (40, d)) * np.exp(rng.uniform(-8, 8, (40, 1))),
                  np.full((40, d), 1.5)):
            x = x.astype(np.float32)
            ours = np.empty_like(x)
            _layer_norm_rows(x, scale, b if bias else np.zeros(d, np.float32), bias,
                             np.float32(eps), ours)
            assert ours.tobytes() == session.run(None, {"x": x})[0].tobytes()


def _inputs(shape):
    rng = np.random.default_rng(1)
    return {"normal": rng.standard_normal(shape), "uniform": rng.random(shape),
            "image": rng.random(shape) * 255, "zeros": np.zeros(shape),
            "saturating": np.where(rng.random(shape) < 0.5, -1e4, 1e4)}


def _qdq(op_nodes, dtype, shape, out_shape, extra=None):
    """x -> Q -> DQ -> ops -> Q -> DQ -> y, 8-bit with nonzero zero points."""
    zp = (lambda v: np.asarray(v if dtype == np.uint8 else v - 128, dtype))
    inits = {"s_in": np.float32(0.037), "z_in": zp(121), "s_out": np.float32(0.0213),
             "z_out": zp(17 if op_nodes[0].op_type != "Softmax" else 0), **(extra or {})}
    if op_nodes[0].op_type == "Softmax":
        inits["s_out"] = np.float32(1 / 256)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s_in", "z_in"], ["xf"]), *op_nodes,
             helper.make_node("QuantizeLinear", ["yf", "s_out", "z_out"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "s_out", "z_out"], ["y"])]
    return _float_model(nodes, shape, out_shape, inits)


ISLANDS = {
    "Sigmoid": ([helper.make_node("Sigmoid", ["xf"], ["yf"])], None),
    "LeakyRelu": ([helper.make_node("LeakyRelu", ["xf"], ["yf"], alpha=0.1)], None),
    "Softmax": ([helper.make_node("Softmax", ["xf"], ["yf"], axis=-1)], None),
    # GPT-2's attention: Softmax -> Cast to float -> Q; onnxruntime drops the no-op Cast and
    # fuses QLinearSoftmax, so must npusim
    "Softmax_cast": ([helper.make_node("Softmax", ["xf"], ["sf"], axis=-1),
                      helper.make_node("Cast", ["sf"], ["yf"], to=TensorProto.FLOAT)], None),
    "AveragePool": ([helper.make_node("AveragePool", ["xf"], ["yf"], kernel_shape=[3, 3],
                                      strides=[2, 2], pads=[1, 1, 1, 1])], [2, 4, 4, 5]),
    "GlobalAveragePool": ([helper.make_node("GlobalAveragePool", ["xf"], ["yf"])],
                          [2, 4, 1, 1]),
    "Erf": ([helper.make_node("Erf", ["xf"], ["yf"])], None),
    "Tanh": ([helper.make_node("Tanh", ["xf"], ["yf"])], None),
    "Gelu": ([helper.make_node("Div", ["xf", "sqrt2"], ["g0"]),
              helper.make_node("Erf", ["g0"], ["g1"]), helper.make_node("Add", ["g1", "one"],
                                                                         ["g2"]),
              helper.make_node("Mul", ["xf", "g2"], ["g3"]),
              helper.make_node("Mul", ["g3", "half"], ["yf"])], None),
    # a squeeze-excite / global-average mean (KR: Eigen row sums) and a sum over channels
    # and rows (RKR with the leading block of 2)
    "ReduceMean_hw": ([helper.make_node("ReduceMean", ["xf", "axes_hw"], ["yf"])],
                      [2, 4, 1, 1]),
    "ReduceSum_nh": ([helper.make_node("ReduceSum", ["xf", "axes_nh"], ["yf"], keepdims=0)],
                     [4, 9]),
    "Add_broadcast": ([helper.make_node("Add", ["xf", "bias"], ["yf"])], None),
    "Mul_broadcast": ([helper.make_node("Mul", ["xf", "bias"], ["yf"])], None),
}
EXTRA = {"sqrt2": np.float32(1.4142135), "one": np.float32(1), "half": np.float32(0.5),
         "axes_hw": np.array([2, 3], np.int64), "axes_nh": np.array([0, 2], np.int64),
         "bias": np.linspace(-1.5, 1.5, 9, dtype=np.float32)}


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("name", sorted(ISLANDS))
def test_qdq_island_bit_exact(name, dtype):
    nodes, out_shape = ISLANDS[name]
    shape = [2, 4, 7, 9]
    extra = {k: v for k, v in EXTRA.items() if any(k in n.input for n in nodes)}
    model = _qdq(nodes, dtype, shape, out_shape or shape, extra)
    session = ort_session(model)
    for kind, x in _inputs(shape).items():
        feeds = {"x": x.astype(np.float32)}
        theirs = session.run(None, feeds)[0]
        ours = run_numerics(model, feeds, layerwise=False).outputs["y"]
        assert ours.tobytes() == theirs.tobytes(), (name, kind)


def _reduce_mean_island():
    # opset 18: ReduceMean takes its axes as an input. A mean over the middle axis of a
    # (8, 300, 16) tensor: onnxruntime sums it with an MLAS GEMM by a ones vector (its KRK
    # path), which npusim does not reproduce
    axes = np.array([1], np.int64)
    nodes = [helper.make_node("ReduceMean", ["xf", "axes"], ["yf"], name="mean", keepdims=1)]
    return _qdq(nodes, np.uint8, [8, 300, 16], [8, 1, 16], {"axes": axes})


def test_softmax_then_a_no_op_cast_fuses_as_onnxruntime_fuses_it():
    # GPT-2's attention: DQ -> Softmax -> Cast(float) -> Q. onnxruntime drops the Cast and
    # runs QLinearSoftmax (its exp table), not a float softmax; a float run differed from it
    # on attention rows of 32 keys
    nodes, _ = ISLANDS["Softmax_cast"]
    shape = [2, 4, 16, 49]
    model = _qdq(nodes, np.uint8, shape, shape, {})
    session = ort_session(model)
    for kind, x in _inputs(shape).items():
        feeds = {"x": x.astype(np.float32)}
        r = run_numerics(model, feeds, layerwise=False)
        assert [row.op_type for row in r.layers if "Softmax" in row.op_type] == [
            "QLinearSoftmax"], kind
        assert r.outputs["y"].tobytes() == session.run(None, feeds)[0].tobytes(), kind


def test_not_bit_exact_island_divergence_is_reported():
    """A float island npusim does not reproduce bit for bit: the run names the layer and its
    measured mismatch against onnxruntime instead of differing silently."""
    rng = np.random.default_rng(2)
    model = _reduce_mean_island()
    x = {"x": (rng.standard_normal((8, 300, 16)) * 2).astype(np.float32)}
    r = run_numerics(model, x, layerwise=False)
    (div,) = r.divergence
    assert div.layer == "mean" and div.op_type == "ReduceMean" and "MLAS GEMM" in div.reason
    assert div.total == 128 and div.mismatched is not None and div.max_ulp is not None
    assert any("ReduceMean" in n for n in r.notes)
    theirs = ort_session(model).run(None, x)[0]
    # the Q after the island absorbs ulp differences except at rounding boundaries
    assert np.count_nonzero(r.outputs["y"] != theirs) <= div.mismatched


def test_cli_names_not_bit_exact_layers(tmp_path):
    import onnx

    from test_cli import _run
    onnx.save(_reduce_mean_island(), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(3).standard_normal((8, 300, 16))
             .astype(np.float32))
    code, text = _run([str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz")])
    assert code == 0 and "mean (ReduceMean)" in text, text


CONV_TRANSPOSES = [  # c_in, c_out, group, kernel, stride, pads, dilation, output_padding
    (8, 4, 1, 2, 2, (0, 0, 0, 0), 1, (0, 0)), (6, 6, 3, 3, 2, (1, 1, 1, 1), 1, (1, 1)),
    (4, 8, 1, 3, 1, (1, 0, 2, 1), 2, (0, 0)), (16, 16, 16, 4, 2, (1, 1, 1, 1), 1, (0, 0)),
    (3, 5, 1, 5, 3, (2, 2, 2, 2), 1, (2, 1)), (256, 64, 1, 2, 2, (0, 0, 0, 0), 1, (0, 0))]


@pytest.mark.parametrize("case", CONV_TRANSPOSES, ids=[str(c[:5]) for c in CONV_TRANSPOSES])
def test_float_conv_transpose_matches_onnxruntime(case):
    # GEMM + col2im (a detector's upsampling head ran minutes through onnx.reference):
    # byte for byte on narrow inputs, within float32 rounding on 256 input channels
    from npusim.ir import Node
    from npusim.numerics.ops.context import Context
    from npusim.numerics.ops.floating import conv_transpose_float
    c_in, c_out, g, k, s, p, d, op = case
    rng = np.random.default_rng(c_in)
    x = rng.standard_normal((2, c_in, 6, 7)).astype(np.float32)
    w = rng.standard_normal((c_in, c_out // g, k, k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    attrs = dict(strides=[s, s], pads=list(p), dilations=[d, d], output_padding=list(op),
                 group=g)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    g_ = helper.make_graph([node], "ct", [helper.make_tensor_value_info("x", F, x.shape)],
                          [helper.make_tensor_value_info("y", F, None)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g_, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    theirs = ort_session(m).run(None, {"x": x})[0]
    ours = conv_transpose_float(Node("ct", "ConvTranspose", ("x", "w", "b"), ("y",), {
        k_: tuple(v) if isinstance(v, list) else v for k_, v in attrs.items()}),
        [x, w, b], Context())[0]
    assert ours.shape == theirs.shape
    if c_in <= 16 or HOST_MLAS is not None:
        assert ours.tobytes() == theirs.tobytes()
    assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("group", [1, 2])
def test_quantized_conv_transpose_matches_onnxruntime(group):
    # npusim's int8 quantizer wraps a ConvTranspose (a detector's upsampling) in Q/DQ, per
    # output channel (axis 1) for one group, per tensor for two; onnxruntime runs that QDQ
    # group as a float island too (not fused), and the outputs agree byte for byte
    from npusim.ir.passes import canonicalize
    from npusim.numerics.load import load_model
    from npusim.numerics.mixed import to_onnx
    from npusim.numerics.quantizer import config_for, quantize_graph
    rng = np.random.default_rng(group)
    w1 = (rng.standard_normal((16, 4, 3, 3)) * 0.2).astype(np.float32)
    wt = (rng.standard_normal((16, 16 // group, 2, 2)) * 0.2).astype(np.float32)
    bt = (rng.standard_normal(16) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ConvTranspose", ["r", "wt", "bt"], ["y"], strides=[2, 2],
                              group=group, name="up")]
    m = _float_model(nodes, [1, 4, 8, 8], [1, 16, 16, 16], {"w1": w1, "wt": wt, "bt": bt})
    feeds = {"x": rng.standard_normal((1, 4, 8, 8)).astype(np.float32)}
    graph, _ = load_model(m)
    qdq = quantize_graph(canonicalize(graph), [feeds], config_for("ort", "int8"))
    up = next(n for n in qdq.nodes if n.op_type == "ConvTranspose")
    assert qdq.producer(up.inputs[1]).op_type == "DequantizeLinear"
    assert qdq.producer(up.inputs[2]).op_type == "DequantizeLinear"   # int32 bias
    session = ort_session(to_onnx(qdq))
    for x in _inputs((1, 4, 8, 8)).values():
        x = {"x": x.astype(np.float32)}
        ours = run_numerics(m, x, calibration=[feeds], layerwise=False).outputs["y"]
        assert ours.tobytes() == session.run(None, x)[0].tobytes()


def test_a_nan_from_a_float_island_quantizes_to_the_type_minimum_as_in_onnxruntime():
    # EfficientViT's linear attention divides by a denominator that quantizes to zero: 0 / 0
    # is NaN, which onnxruntime's QuantizeLinear turns into the type's minimum whatever the
    # zero point (npusim had left the zero point: 687 of 1000 logits moved)
    nodes = [helper.make_node("Mul", ["xf", "zero"], ["d"]),
             helper.make_node("Div", ["xf", "d"], ["yf"])]   # x / 0: +-inf, and 0 / 0: NaN
    for dtype in (np.uint8, np.int8):
        shape = [2, 4, 7, 9]
        model = _qdq(nodes, dtype, shape, shape, {"zero": np.float32(0)})
        session = ort_session(model)
        for kind, x in _inputs(shape).items():
            feeds = {"x": x.astype(np.float32)}
            ours = run_numerics(model, feeds, layerwise=False).outputs["y"]
            assert ours.tobytes() == session.run(None, feeds)[0].tobytes(), (dtype, kind)
