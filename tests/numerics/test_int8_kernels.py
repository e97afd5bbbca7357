"""The numba int8 fast paths (the AVX-512 VNNI direct convolution over channels-last memory
and the portable im2col + int32 GEMM, both with fused `ort` requantization; QLinearAdd in
vector FMAs; the integer MaxPool) against onnxruntime, and against the general float64-exact
path for every scheme, on geometries that hit the tile remainders (odd pixel counts, M not a
multiple of 8 or 16, a partial 64-channel group), padding, strides, dilation, clamps and
saturation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.ir import Node
from npusim.numerics.kernels import vnni
from npusim.numerics.ops import qcommon, qelementwise
from npusim.numerics.ops import qconv as qconv_ops
from npusim.numerics.ops.context import Context, Settings
from numerics_oracle import ort_session

GEOMETRIES = [  # (C, H, W, M, kernel, stride, pad, dilation)
    (3, 9, 7, 13, 3, 1, 1, 1),
    (5, 8, 8, 16, 1, 1, 0, 1),
    (4, 11, 10, 9, 3, 2, 1, 1),
    (6, 7, 9, 8, 3, 1, 2, 2),
    (2, 13, 13, 7, 7, 2, 3, 1),
    (16, 5, 5, 33, 1, 2, 0, 1),
    (8, 6, 6, 80, 3, 1, 1, 1),     # a second 64-channel group with one 16-channel block
    (64, 5, 4, 130, 1, 1, 0, 1),   # plain GEMM on channels-last memory, M % 16 != 0
]


@pytest.fixture(params=["vnni", "portable"])
def conv_path(request, monkeypatch):
    """Each test runs on the AVX-512 VNNI kernels (where the CPU has them) and on the
    portable im2col kernels."""
    if request.param == "vnni" and not vnni.AVAILABLE:
        pytest.skip("no AVX-512 VNNI on this CPU")
    if request.param == "portable":
        monkeypatch.setattr(vnni, "AVAILABLE", False)
    return request.param


def _conv_inputs(rng, c, m, k, x_dtype=np.uint8):
    lo, hi = (0, 256) if x_dtype == np.uint8 else (-128, 128)
    w = rng.integers(-127, 128, (m, c, k, k)).astype(np.int8)
    sx = np.float32(rng.uniform(0.01, 0.05))
    sw = rng.uniform(0.001, 0.02, m).astype(np.float32)
    sy = np.float32(rng.uniform(0.05, 0.5))
    zx = x_dtype(rng.integers(lo, hi))
    zy = np.uint8(rng.integers(0, 256))
    bias = rng.integers(-20000, 20000, m).astype(np.int32)
    return w, sx, zx, sw, sy, zy, bias


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_qlinear_conv_fast_path_matches_onnxruntime(geom, conv_path):
    c, h, wd, m, k, s, p, d = geom
    rng = np.random.default_rng(hash(geom) % 2**32)
    w, sx, zx, sw, sy, zy, bias = _conv_inputs(rng, c, m, k)
    x = rng.integers(0, 256, (2, c, h, wd)).astype(np.uint8)
    inits = [numpy_helper.from_array(np.asarray(v), n) for v, n in (
        (sx, "sx"), (zx, "zx"), (w, "w"), (sw, "sw"), (np.zeros(m, np.int8), "zw"),
        (sy, "sy"), (zy, "zy"), (bias, "b"))]
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"],
                            ["y"], name="conv", strides=[s, s], pads=[p] * 4,
                            dilations=[d, d])
    u8 = onnx.TensorProto.UINT8
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", u8, x.shape)],
                          [helper.make_tensor_value_info("y", u8, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    theirs = ort_session(model).run(None, {"x": x})[0]
    ours = qconv_ops.qlinear_conv(Node("conv", "QLinearConv", tuple("abcdefghi"), ("y",),
                                     {"strides": (s, s), "pads": (p,) * 4,
                                      "dilations": (d, d)}),
                                [x, sx, zx, w, sw, np.zeros(m, np.int8), sy, zy, bias],
                                Context(Settings(host_u8s8=True)))[0]
    # on a host whose onnxruntime saturates pair sums (no VNNI) that path answers
    # (kernels/u8s8.py); the fast kernels equal the exact general path on every host (below)
    assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()


def _general_path(node, inputs, ctx):
    """The float64-exact convolution and numpy requantization the fast path replaces."""
    x, sx, zx, w, sw, zw, sy, zy, b = inputs
    acc = qconv_ops._int_conv(qcommon.centered(x, zx), qcommon.centered(w, zw, 0), node)
    acc = acc + qcommon.int_bias(ctx, b).reshape(1, -1, 1, 1)
    return qcommon.finish(node, ctx, acc, sx, sw, sy, zy, zy.dtype, 1)


@pytest.mark.parametrize("scheme", ["ort", "onnx-ref", "tflite", "npu-shift"])
@pytest.mark.parametrize("x_dtype", [np.uint8, np.int8])
def test_fast_conv_equals_general_path(scheme, x_dtype, conv_path):
    rng = np.random.default_rng(7)
    for c, h, wd, m, k, s, p, d in GEOMETRIES:
        w, sx, zx, sw, sy, zy, bias = _conv_inputs(rng, c, m, k, x_dtype)
        lo, hi = (0, 256) if x_dtype == np.uint8 else (-128, 128)
        x = rng.integers(lo, hi, (1, c, h, wd)).astype(x_dtype)
        sy = np.float32(sy / 8)  # push some outputs into saturation
        bias[::3] = rng.integers(-(2**26), 2**26, bias[::3].size)  # f32(acc) rounds > 2^24
        attrs = {"strides": (s, s), "pads": (p,) * 4, "dilations": (d, d),
                 "_clamp": (int(zy), 255)}
        node = Node("conv", "QLinearConv", tuple("abcdefghi"), ("y",), attrs)
        inputs = [x, sx, zx, w, sw, np.zeros(m, np.int8), sy, zy, bias]
        fast_ctx, slow_ctx = Context(Settings(scheme=scheme)), Context(Settings(scheme=scheme))
        fast = qconv_ops.qlinear_conv(node, inputs, fast_ctx)[0]
        slow = _general_path(node, inputs, slow_ctx)
        assert fast.dtype == slow.dtype and fast.tobytes() == slow.tobytes()
        def counts(ctx):  # saturation counts, largest |acc|
            return {k: (e.saturated, e.total, e.overflow, e.max_abs_acc)
                    for k, e in ctx.events.items()}
        assert counts(fast_ctx) == counts(slow_ctx)
        assert fast_ctx.events["conv"].saturated > 0


def test_fast_conv_accumulator_overflow_still_raises(conv_path):
    # raw sums fit int32, but the bias pushes the accumulator out of range
    x = np.full((1, 4, 3, 3), 255, np.uint8)
    w = np.full((2, 4, 1, 1), 127, np.int8)
    node = Node("big", "QLinearConv", tuple("abcdefghi"), ("y",), {})
    inputs = [x, np.float32(1), np.uint8(0), w, np.float32([1, 1]), np.zeros(2, np.int8),
              np.float32(1e9), np.uint8(0), np.array([2**31 - 1, 0], np.int32)]
    from npusim.errors import NumericsError
    with pytest.raises(NumericsError, match="big"):
        qconv_ops.qlinear_conv(node, inputs, Context())
    ctx = Context(Settings(on_overflow="record"))
    qconv_ops.qlinear_conv(node, inputs, ctx)
    assert ctx.events["big"].overflow == 9


@pytest.mark.parametrize("dtypes", [(np.uint8, np.uint8, np.uint8), (np.int8, np.int8, np.int8),
                                    (np.uint8, np.int8, np.uint8)])
def test_qlinear_add_table_equals_mlas_formula(dtypes):
    rng = np.random.default_rng(11)
    a_dt, b_dt, c_dt = dtypes

    def draw(dt, shape):
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max + 1, shape).astype(dt)

    for _ in range(5):
        a, b = draw(a_dt, (2, 3, 17, 19)), draw(b_dt, (2, 3, 17, 19))
        sa, sb, sc = (np.float32(rng.uniform(0.005, 0.1)) for _ in range(3))
        za, zb, zc = draw(a_dt, ()), draw(b_dt, ()), draw(c_dt, ())
        node = Node("add", "QLinearAdd", tuple("abcdefgh"), ("y",), {"_clamp": (int(zc), 127)})
        ctx = Context()
        ours = qelementwise.qlinear_add(node, [a, sa, za, b, sb, zb, sc, zc], ctx)[0]
        ref_ctx = Context()
        v = qelementwise._mlas_add(a, b, sa, za, sb, zb, sc, zc)
        ref = qcommon.clamp_output(node, ref_ctx, v, np.dtype(c_dt), zc)
        assert ours.dtype == ref.dtype and ours.tobytes() == ref.tobytes()
        assert ctx.events == ref_ctx.events



def _qconv_node(name, s, p):
    return Node(name, "QLinearConv", tuple("abcdefghi"), ("y",),
                {"strides": (s, s), "pads": (p,) * 4, "dilations": (1, 1)})


def test_channels_last_views_chain_like_contiguous_arrays():
    """Integer kernels return NCHW views of channels-last memory; a conv, add and max pool
    reading such views give the bytes they give on C-contiguous copies of them."""
    from npusim.numerics.ops import floating
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (2, 8, 9, 10)).astype(np.uint8)
    w1, sx, zx, sw1, sy, zy, b1 = _conv_inputs(rng, 8, 12, 3)
    y1 = qconv_ops.qlinear_conv(_qconv_node("c1", 1, 1), [x, sx, zx, w1, sw1,
                              np.zeros(12, np.int8), sy, zy, b1], Context())[0]
    assert y1.shape == (2, 12, 9, 10)
    w2, _, _, sw2, sy2, zy2, b2 = _conv_inputs(rng, 12, 12, 1)
    add_in = [None, np.float32(0.02), np.uint8(3), None, np.float32(0.03), np.uint8(200),
              np.float32(0.04), np.uint8(9)]
    pool = Node("pool", "MaxPool", ("x",), ("y",), {"kernel_shape": (3, 3), "strides": (2, 2),
                                                   "pads": (1, 1, 1, 1)})
    for v in (y1, np.ascontiguousarray(y1)):
        outs = []
        for u in (v, np.ascontiguousarray(v)):
            y2 = qconv_ops.qlinear_conv(_qconv_node("c2", 1, 0), [u, sy, zy, w2, sw2,
                                      np.zeros(12, np.int8), sy2, zy2, b2], Context())[0]
            add_in[0], add_in[3] = u, y2
            y3 = qelementwise.qlinear_add(Node("add", "QLinearAdd", tuple("abcdefgh"), ("y",), {}),
                                     list(add_in), Context())[0]
            y4 = floating.max_pool(pool, [y3], Context())[0]
            outs.append([a.tobytes() for a in (y2, y3, y4)])
        assert outs[0] == outs[1]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("geom", [((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0),
                                  ((2, 3), (1, 2), (0, 1, 1, 0), (2, 1), 0),
                                  ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1), 1),
                                  ((3, 2), (3, 1), (2, 0, 1, 1), (1, 2), 1)])
def test_integer_max_pool_equals_padded_windows(dtype, geom):
    from npusim.numerics.kernels.conv import pad_spatial, windows
    from npusim.numerics.ops import floating
    kernel_shape, strides, pads, dilations, ceil_mode = geom
    info = np.iinfo(dtype)
    x = np.random.default_rng(3).integers(info.min, info.max + 1, (2, 5, 11, 9)).astype(dtype)
    node = Node("pool", "MaxPool", ("x",), ("y",), {
        "kernel_shape": kernel_shape, "strides": strides, "pads": pads,
        "dilations": dilations, "ceil_mode": ceil_mode})
    k, s, p, d = floating._pool_geometry(node, x)
    win = windows(pad_spatial(x, p, value=info.min), k, s, d)
    ref = win.max(axis=(-2, -1))
    for v in (x, np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)):
        ours = floating.max_pool(node, [v], Context())[0]
        assert ours.dtype == ref.dtype and ours.tobytes() == ref.tobytes()
