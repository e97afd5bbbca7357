"""Per-op MACs, vector ops and bytes on cases small enough to check on paper."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from npusim.errors import UnsupportedOpError
from npusim.frontend import load_graph
from npusim.ir import FusionKind, Role, op_work
from tests.conftest import make_model, vi
from onnx import helper


def _work(node, inputs, outputs, inits=()):
    g = load_graph(make_model([node], inputs, outputs, inits))
    return op_work(g.nodes[0], g), g


def _w(name, shape):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def test_conv3x3_macs_and_bytes():
    # 1x8x16x16 input, 16 filters of 8x3x3, pad 1: out 1x16x16x16.
    # MACs = 16*16*16 outputs x (8*3*3) = 4096 * 72 = 294912.
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3],
                            pads=[1, 1, 1, 1])
    work, _ = _work(node, [vi("x", [1, 8, 16, 16])], [vi("y", [None] * 4)],
                    [_w("w", (16, 8, 3, 3)), _w("b", (16,))])
    assert work.macs == 294912
    assert work.vector_ops == 16 * 16 * 16  # one bias add per output
    assert work.kind is FusionKind.CONV
    reads = {a.tensor: (a.elements, a.role) for a in work.reads}
    assert reads == {"x": (2048, Role.ACTIVATION), "w": (1152, Role.WEIGHT),
                     "b": (16, Role.BIAS)}
    assert [(a.tensor, a.elements) for a in work.writes] == [("y", 4096)]


def test_depthwise_conv_macs():
    # 32 channels, group 32, 3x3, stride 2, pad 1 on 1x32x32x32 -> 1x32x16x16.
    # Each output takes 1*3*3 MACs: 32*16*16*9 = 73728.
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=32,
                            strides=[2, 2], pads=[1, 1, 1, 1])
    work, g = _work(node, [vi("x", [1, 32, 32, 32])], [vi("y", [None] * 4)],
                    [_w("w", (32, 1, 3, 3))])
    assert g.shape("y") == (1, 32, 16, 16)
    assert work.macs == 73728
    assert work.vector_ops == 0  # no bias


def test_grouped_dilated_conv_macs():
    # 64 -> 128 channels in 4 groups (16 in / 32 out per group), 3x3 dilation 2, pad 2,
    # on 1x64x20x20 -> 1x128x20x20: MACs = 128*20*20 * 16*9 = 7372800.
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=4,
                            dilations=[2, 2], pads=[2, 2, 2, 2])
    work, g = _work(node, [vi("x", [1, 64, 20, 20])], [vi("y", [None] * 4)],
                    [_w("w", (128, 16, 3, 3))])
    assert g.shape("y") == (1, 128, 20, 20)
    assert work.macs == 7372800


def test_conv_transpose_macs():
    # 1x16x8x8 -> 8 channels, 2x2 stride 2: every input element scatters into 8*2*2 outputs.
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[2, 2],
                            strides=[2, 2])
    work, g = _work(node, [vi("x", [1, 16, 8, 8])], [vi("y", [None] * 4)],
                    [_w("w", (16, 8, 2, 2))])
    assert g.shape("y") == (1, 8, 16, 16)
    assert work.macs == 1024 * 32


def test_batched_matmul_with_broadcast():
    # [2,1,4,8] @ [3,8,5] broadcasts to [2,3,4,5]: 120 outputs x K=8 = 960 MACs.
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    work, g = _work(node, [vi("a", [2, 1, 4, 8]), vi("b", [3, 8, 5])], [vi("y", [None] * 4)])
    assert g.shape("y") == (2, 3, 4, 5)
    assert work.macs == 960
    assert work.kind is FusionKind.MATMUL


def test_gemm_trans_a():
    # A is [K=6, M=4] with transA, B [6, 3]: M*N*K = 4*3*6 = 72; C adds 12.
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1)
    work, _ = _work(node, [vi("a", [6, 4])], [vi("y", [None] * 2)], [_w("b", (6, 3)), _w("c", (3,))])
    assert work.macs == 72
    assert work.vector_ops == 12


def test_softmax_counts_five_ops_per_element():
    node = helper.make_node("Softmax", ["x"], ["y"], axis=-1)
    work, _ = _work(node, [vi("x", [2, 4, 16])], [vi("y", [None] * 3)])
    assert work.macs == 0
    assert work.vector_ops == 5 * 128
    assert work.kind is FusionKind.REDUCTION
    assert [a.elements for a in work.reads] == [128]


def test_reshape_is_a_view():
    node = helper.make_node("Reshape", ["x", "s"], ["y"])
    s = numpy_helper.from_array(np.array([4, 8], np.int64), "s")
    work, _ = _work(node, [vi("x", [2, 16])], [vi("y", [None] * 2)], [s])
    assert work.kind is FusionKind.SHAPE_ONLY
    assert work.reads == () and work.writes == ()


def test_gather_reads_only_what_it_emits():
    # Embedding lookup: 3 rows of a 1000x16 table plus 3 int64 indices.
    node = helper.make_node("Gather", ["table", "idx"], ["y"], axis=0)
    work, _ = _work(node, [vi("idx", [3], 7)], [vi("y", [None] * 2)], [_w("table", (1000, 16))])
    assert {a.tensor: a.elements for a in work.reads} == {"table": 48, "idx": 3}


def test_unknown_op_is_named_with_its_node():
    node = helper.make_node("Det", ["b"], ["y"], name="det")
    model = make_model([node], [vi("b", [2, 3, 3])], [vi("y", [None])])
    with pytest.raises(UnsupportedOpError, match="Det .first at node 'det'"):
        load_graph(model)
