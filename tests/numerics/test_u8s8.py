"""onnxruntime's uint8 x int8 GEMM saturates each pair of adjacent products at int16 on an x86-64
host without VNNI (vpmaddubsw); the `ort` scheme follows the host it runs on, so on every host
npusim's integer layers equal onnxruntime's byte for byte (kernels/u8s8.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper


from npusim.numerics.kernels import u8s8
from numerics_oracle import ort_session, run_numerics

U8, I32 = onnx.TensorProto.UINT8, onnx.TensorProto.INT32


def test_pair_sums_on_paper():
    # 255 * 127 + 255 * 127 = 64770 clips to 32767; then 255 * -128 + 255 * -128 = -65280
    # clips to -32768; the odd last product 3 * -1 stands alone: 32767 - 32768 - 3 = -4
    a = np.array([[255, 255, 255, 255, 3]], np.uint8)
    b = np.array([[127, 127, -128, -128, -1]], np.int8)
    raw, hits = u8s8.pair_sums(a, b)
    assert raw.tolist() == [[-4]] and hits == 2
    # a pair that fits is exact: 200 * 100 + 100 * 100 = 30000
    assert u8s8.pair_sums(np.array([[200, 100]], np.uint8),
                          np.array([[100, 100]], np.int8))[0].tolist() == [[30000]]
    assert not u8s8.can_saturate(np.array([[64, 64, 127]], np.int8))  # 128 * 255 fits
    assert u8s8.can_saturate(np.array([[64, 65]], np.int8))


def _model(node, x_shape, inits, out_type=U8):
    def make(y_shape):
        g = helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", U8, x_shape)],
            [helper.make_tensor_value_info("y", out_type, y_shape)],
            [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
        m.ir_version = 10
        return m
    # the output's shape as onnxruntime computes it
    y = ort_session(make(None)).run(None, {"x": np.zeros(x_shape, np.uint8)})[0]
    return make(list(y.shape))


def _conv(c, m, k, group=1, spatial=2, **attrs):
    rng = np.random.default_rng(c * 100 + m + k + group)
    w = rng.integers(-128, 128, (m, c // group) + (k,) * spatial).astype(np.int8)
    inits = {"sx": np.float32(0.02), "zx": np.uint8(37), "w": w,
             "sw": rng.uniform(0.001, 0.01, m).astype(np.float32),
             "zw": np.zeros(m, np.int8), "sy": np.float32(0.5), "zy": np.uint8(128),
             "b": rng.integers(-3000, 3000, m).astype(np.int32)}
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"],
                            ["y"], name="conv", group=group, **attrs)
    return node, inits


CONVS = {  # odd channel counts make pairs straddle kernel positions
    "3x3 c8": (_conv(8, 16, 3, pads=[1, 1, 1, 1]), (2, 8, 9, 9)),
    "3x3 c3 stride 2": (_conv(3, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2]), (1, 3, 11, 11)),
    "3x3 c5 dilation 2": (_conv(5, 4, 3, pads=[2, 2, 2, 2], dilations=[2, 2]), (1, 5, 9, 9)),
    "1x1 c64": (_conv(64, 8, 1), (1, 64, 5, 5)),
    "grouped c12 g4": (_conv(12, 8, 3, group=4, pads=[1, 1, 1, 1]), (1, 12, 7, 7)),
    "depthwise": (_conv(8, 8, 3, group=8, pads=[1, 1, 1, 1]), (1, 8, 7, 7)),
    "1-D k5 c7": (_conv(7, 6, 5, spatial=1, pads=[2, 2]), (1, 7, 20)),
}


@pytest.mark.parametrize("case", CONVS, ids=list(CONVS))
def test_qlinear_conv_equals_onnxruntime_on_this_host(case):
    (node, inits), shape = CONVS[case]
    model = _model(node, shape, inits)
    rng = np.random.default_rng(len(case))
    for x in (rng.integers(150, 256, shape), rng.integers(0, 256, shape),
              np.full(shape, 255)):
        x = x.astype(np.uint8)
        theirs = ort_session(model).run(None, {"x": x})[0]
        ours = run_numerics(model, {"x": x}, layerwise=False).outputs["y"]
        assert ours.tobytes() == theirs.tobytes()


def test_matmul_integer_equals_onnxruntime_on_this_host():
    rng = np.random.default_rng(5)
    b = rng.integers(-128, 128, (33, 12)).astype(np.int8)  # odd K
    node = helper.make_node("MatMulInteger", ["x", "b", "za", "zb"], ["y"], name="mm")
    model = _model(node, [2, 4, 33], {"b": b, "za": np.uint8(9), "zb": np.int8(0)}, I32)
    for x in (rng.integers(200, 256, (2, 4, 33)), rng.integers(0, 256, (2, 4, 33))):
        x = x.astype(np.uint8)
        theirs = ort_session(model).run(None, {"x": x})[0]
        result = run_numerics(model, {"x": x}, layerwise=False)
        assert result.outputs["y"].tobytes() == theirs.tobytes()
    # another scheme models a chip, which sums exactly
    exact = (x.astype(np.int64) - 9) @ b.astype(np.int64)
    tflite = run_numerics(model, {"x": x}, scheme="tflite", layerwise=False).outputs["y"]
    assert tflite.tolist() == exact.tolist()


@pytest.mark.skipif(not u8s8.HOST_SATURATES, reason="this host's onnxruntime sums exactly")
def test_saturated_layers_are_named():
    (node, inits), shape = CONVS["3x3 c8"]
    result = run_numerics(_model(node, shape, inits), {"x": np.full(shape, 255, np.uint8)},
                          layerwise=False)
    note = next(n for n in result.notes if "int16" in n)
    assert "conv" in note and "pair sums clipped in 1 layers" in note


def test_cli_names_the_host_and_follows_it_when_asked(tmp_path, capsys):
    from npusim.cli import main
    (node, inits), shape = CONVS["3x3 c8"]
    onnx.save(_model(node, shape, inits), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.full(shape, 255, np.uint8))
    args = ["numerics", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
            "--no-layerwise"]
    assert main(args) == 0
    exact = capsys.readouterr().out
    assert main([*args, "--host-u8s8"]) == 0
    followed = capsys.readouterr().out
    if u8s8.HOST_SATURATES:
        assert "may differ in conv" in exact and "pair sums clipped in 1 layers" in followed
    else:
        assert "int16" not in exact and "int16" not in followed
