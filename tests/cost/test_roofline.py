"""The roofline cost model on a toy chip whose numbers make every case checkable by hand."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim.cost import graph_costs
from npusim.errors import UnsupportedOpError
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi

# 1 instance, 1000 MHz, 1000 MACs/cycle int8 (1e12 MAC/s), 100 vector ops/cycle (1e11/s),
# DRAM 10 GB/s at efficiency 1, overhead 1 us.
TOY = """
name: toy
description: hand-checkable chip
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 1000, source: test}}
    vector_ops_per_cycle: {int8: {value: 100, estimated: test}}
    op_overhead_us: {value: 1, source: test}
    supported_ops: [Conv, Relu]
  - name: cpu
    kind: cpu
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 1, source: test}}
    vector_ops_per_cycle: {int8: {value: 1, source: test}}
    op_overhead_us: {value: 10, source: test}
    supported_ops: [Softmax]
memory:
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 10, source: test}
    alignment_bytes: {value: 64, source: test}
"""


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    return load_chip(path)


def _conv_graph():
    w = numpy_helper.from_array(np.ones((64, 64, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return load_graph(make_model(nodes, [vi("x", [1, 64, 32, 32])], [vi("y", [1, 64, 32, 32])],
                                 [w]))


def test_conv_is_compute_bound_relu_memory_bound(toy):
    conv, relu = graph_costs(_conv_graph(), toy, Precision.INT8)
    # conv: 64*32*32 outputs x 576 = 37,748,736 MACs / 1e12 = 0.0377487 ms
    assert conv.macs == 37748736
    assert conv.compute_ms == pytest.approx(0.037748736)
    # bytes: x 65536 + w 36864 in, y 65536 out, all int8: 167936 B / 10 GB/s = 0.0167936 ms
    assert (conv.bytes_loaded, conv.bytes_stored) == (65536 + 36864, 65536)
    assert conv.memory_ms == pytest.approx(0.0167936)
    assert conv.latency_ms == pytest.approx(0.037748736 + 0.001)
    assert conv.bound_by == "compute"
    # relu: 65536 ops / 1e11 = 0.00065536 ms; 131072 B / 1e10 = 0.0131072 ms
    assert relu.compute_ms == pytest.approx(0.00065536)
    assert relu.memory_ms == pytest.approx(0.0131072)
    assert relu.bound_by == "memory"
    assert relu.rests_on == ("compute_units[npu].vector_ops_per_cycle.int8",)
    assert conv.rests_on == ()


def test_fp_bias_is_int32_under_int8(toy):
    w = numpy_helper.from_array(np.ones((8, 8, 1, 1), np.float32), "w")
    b = numpy_helper.from_array(np.ones(8, np.float32), "b")
    g = load_graph(make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"])],
                              [vi("x", [1, 8, 4, 4])], [vi("y", [1, 8, 4, 4])], [w, b]))
    (conv,) = graph_costs(g, toy, Precision.INT8)
    assert conv.bytes_loaded == 128 + 64 + 8 * 4


def test_op_falls_back_to_the_next_unit_that_runs_it(toy):
    g = load_graph(make_model([helper.make_node("Softmax", ["x"], ["y"], name="sm")],
                              [vi("x", [1, 1000])], [vi("y", [1, 1000])]))
    (sm,) = graph_costs(g, toy, Precision.INT8)
    assert sm.unit == "cpu"
    assert sm.compute_ms == pytest.approx(5000 / 1e9 * 1e3)  # 5 ops x 1000 at 1e9/s


def test_op_no_unit_runs_is_named(toy):
    g = load_graph(make_model([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")],
                              [vi("x", [4])], [vi("y", [4])]))
    with pytest.raises(UnsupportedOpError, match="no unit of chip 'toy' runs Sigmoid node 'sig'"):
        graph_costs(g, toy, Precision.INT8)


def test_precision_no_unit_supports(toy):
    with pytest.raises(UnsupportedOpError, match="in fp16"):
        graph_costs(_conv_graph(), toy, Precision.FP16)


def test_depthwise_conv_is_memory_bound_on_orin_gpu():
    w = numpy_helper.from_array(np.ones((256, 1, 3, 3), np.float32), "w")
    g = load_graph(make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=256,
                                                pads=[1] * 4)],
                              [vi("x", [1, 256, 56, 56])], [vi("y", [1, 256, 56, 56])], [w]))
    (dw,) = graph_costs(g, load_chip("orin-agx-gpu"), Precision.FP16)
    assert dw.bound_by == "memory"
