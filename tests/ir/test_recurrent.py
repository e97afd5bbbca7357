"""LSTM, GRU, RNN and Einsum MACs against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from npusim.frontend import load_graph
from npusim.ir import FusionKind, op_work
from tests.conftest import make_model, vi


def _w(name, shape):
    return numpy_helper.from_array(np.full(shape, 0.01, np.float32), name)


def _work(node, inputs, outputs, inits=()):
    g = load_graph(make_model([node], inputs, outputs, inits))
    return op_work(g.nodes[0], g), g


def test_bidirectional_lstm_macs():
    # seq 5, batch 2, input 8, hidden 16, 2 directions:
    # 4 gates x (8 + 16) x 16 x 5 steps x 2 dirs x 2 batch = 30720 MACs.
    node = helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "yh", "yc"], hidden_size=16,
                            direction="bidirectional")
    work, g = _work(node, [vi("x", [5, 2, 8])],
                    [vi("y", [None] * 4), vi("yh", [None] * 3), vi("yc", [None] * 3)],
                    [_w("w", (2, 64, 8)), _w("r", (2, 64, 16)), _w("b", (2, 128))])
    assert g.shape("y") == (5, 2, 2, 16)
    assert work.macs == 30720
    assert work.kind is FusionKind.MATMUL
    # 4 gates: 8 bias adds + 4 activations + 5 state-update ops = 17 per unit and step
    assert work.vector_ops == 17 * 16 * 5 * 2 * 2


def test_batch_first_gru_macs():
    # layout 1: x is [batch 3, seq 7, input 10], hidden 12, forward:
    # 3 gates x (10 + 12) x 12 x 7 x 1 x 3 = 16632 MACs.
    node = helper.make_node("GRU", ["x", "w", "r"], ["y", "yh"], hidden_size=12, layout=1)
    work, g = _work(node, [vi("x", [3, 7, 10])], [vi("y", [None] * 4), vi("yh", [None] * 3)],
                    [_w("w", (1, 36, 10)), _w("r", (1, 36, 12))])
    assert g.shape("y") == (3, 7, 1, 12)
    assert work.macs == 16632


def test_rnn_macs():
    # 1 gate x (4 + 6) x 6 x 3 steps x 1 x 1 = 180
    node = helper.make_node("RNN", ["x", "w", "r"], ["y"], hidden_size=6)
    work, _ = _work(node, [vi("x", [3, 1, 4])], [vi("y", [None] * 4)],
                    [_w("w", (1, 6, 4)), _w("r", (1, 6, 6))])
    assert work.macs == 180


def test_einsum_macs_from_the_contraction():
    # bhqd,bhkd->bhqk with b=2, h=4, q=16, k=16, d=8: 2*4*16*16*8 = 16384 MACs
    node = helper.make_node("Einsum", ["q", "k"], ["s"], equation="bhqd,bhkd->bhqk")
    work, g = _work(node, [vi("q", [2, 4, 16, 8]), vi("k", [2, 4, 16, 8])],
                    [vi("s", [None] * 4)])
    assert g.shape("s") == (2, 4, 16, 16)
    assert work.macs == 16384


def test_einsum_with_ellipsis():
    # ...ij,jk->...ik on [3,5,4,6] x [6,7]: 3*5*4*6*7 = 2520 MACs
    node = helper.make_node("Einsum", ["a", "b"], ["c"], equation="...ij,jk->...ik")
    work, g = _work(node, [vi("a", [3, 5, 4, 6]), vi("b", [6, 7])], [vi("c", [None] * 4)])
    assert g.shape("c") == (3, 5, 4, 7)
    assert work.macs == 2520


def test_single_operand_einsum_is_vector_work():
    node = helper.make_node("Einsum", ["a"], ["c"], equation="ij->ji")
    work, _ = _work(node, [vi("a", [3, 5])], [vi("c", [None] * 2)])
    assert (work.macs, work.vector_ops) == (0, 15)


def test_topk_argmax_cumsum_gathernd_scatternd_load_and_count():
    x, k = vi("x", [2, 8]), numpy_helper.from_array(np.array([3], np.int64), "k")
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"]),
             helper.make_node("ArgMax", ["x"], ["a"], axis=1),
             helper.make_node("CumSum", ["x", "ax"], ["c"]),
             helper.make_node("GatherND", ["x", "idx"], ["g"]),
             helper.make_node("ScatterND", ["x", "idx", "upd"], ["s"])]
    inits = [k, numpy_helper.from_array(np.array(1, np.int64), "ax"),
             numpy_helper.from_array(np.array([[0], [1]], np.int64), "idx"),
             numpy_helper.from_array(np.ones((2, 8), np.float32), "upd")]
    outs = [vi(n, [None] * 2, TensorProto.INT64 if n in "ia" else TensorProto.FLOAT)
            for n in ("v", "i", "a", "c", "g", "s")]
    g = load_graph(make_model(nodes, [x], outs, inits))
    works = {n.op_type: op_work(n, g) for n in g.nodes}
    assert g.shape("v") == (2, 3) and g.shape("a") == (2, 1) and g.shape("g") == (2, 8)
    # one compare or add per input element for the reductions
    assert works["TopK"].vector_ops == works["ArgMax"].vector_ops == 16
    assert works["CumSum"].vector_ops == 16
    assert works["GatherND"].macs == works["ScatterND"].macs == 0
